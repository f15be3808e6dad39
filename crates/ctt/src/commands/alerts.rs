//! `ctt alerts`: the rules' hits (SPEC §12), oldest first.

use std::process::ExitCode;

use anyhow::bail;
use ctt_core::time::{Bound, format_event_time, parse_bound};
use ctt_store::alerts::level_rank;
use ctt_store::{Alert, AlertQuery};

use crate::cli::{AlertsArgs, OutputFormat};
use crate::output;
use crate::settings::Settings;

/// Alerts read per request.
const PAGE: usize = 1_000;

pub async fn run(settings: &Settings, args: AlertsArgs) -> anyhow::Result<ExitCode> {
    let bound = |raw: &Option<String>, which: Bound, flag: &str| -> anyhow::Result<_> {
        raw.as_deref()
            .map(|r| parse_bound(r, which))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
    };
    let from = bound(&args.from, Bound::From, "from")?;
    let to = bound(&args.to, Bound::To, "to")?;
    if let Some(level) = &args.level
        && level_rank(level).is_none()
    {
        bail!("--level {level}: expected informational, low, medium, high or critical");
    }
    let store = super::open_event_store(settings).await?;
    let mut query = AlertQuery {
        from,
        to,
        rule: args.rule.clone(),
        min_level: args.level.clone(),
        user: args.user.clone(),
        after: None,
        limit: PAGE,
    };
    let mut alerts: Vec<Alert> = Vec::new();
    loop {
        let wanted = args.limit.map_or(PAGE, |l| (l - alerts.len()).min(PAGE));
        query.limit = wanted;
        let page = store.alerts(&query).await?;
        let full = page.len() == wanted;
        alerts.extend(page);
        match alerts.last() {
            Some(last) if full && args.limit.is_none_or(|l| alerts.len() < l) => {
                query.after = Some((
                    last.event_time.timestamp(),
                    last.event_id.clone(),
                    last.rule_id.clone(),
                ));
            }
            _ => break,
        }
    }
    let format = output::resolve(args.format);
    let rows = alerts
        .iter()
        .map(|a| {
            vec![
                format_event_time(a.event_time),
                a.rule_id.clone(),
                a.level.clone(),
                a.user.clone(),
                a.service.clone(),
                a.event_name.clone(),
                a.event_id.clone(),
                a.title.clone(),
            ]
        })
        .collect();
    let header = [
        "time",
        "rule",
        "level",
        "user",
        "service",
        "eventName",
        "eventID",
        "title",
    ];
    if format == OutputFormat::Table && alerts.is_empty() {
        eprintln!("no alerts");
    }
    output::records(format, &header, rows, &alerts)?;
    Ok(ExitCode::SUCCESS)
}
