//! `ctt resources`: who created what, who deleted it, what is still running
//! and what it costs, estimated (SPEC §11).

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use chrono::Utc;
use ctt_core::time::{Bound, format_event_time, parse_bound};
use ctt_store::{ResourceFilter, StateFilter};

use crate::cli::{OutputFormat, ResourcesArgs};
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: ResourcesArgs) -> anyhow::Result<ExitCode> {
    let catalogue = settings.resources.catalogue()?;
    let format = output::resolve(args.format);
    if args.types {
        let rows = catalogue
            .types()
            .iter()
            .map(|t| vec![t.kind.clone(), t.name.clone(), t.source.clone()])
            .collect();
        output::records(format, &["type", "name", "source"], rows, catalogue.types())?;
        return Ok(ExitCode::SUCCESS);
    }
    let state = args
        .state
        .as_deref()
        .map(|s| {
            StateFilter::parse(s)
                .ok_or_else(|| anyhow!("--state {s}: expected open, running, stopped or deleted"))
        })
        .transpose()?;
    if let Some(kind) = &args.kind
        && catalogue.get(kind).is_none()
    {
        bail!("--type {kind}: not a resource type (`ctt resources --types` lists them)");
    }
    let at = match &args.at {
        Some(raw) => parse_bound(raw, Bound::To).map_err(|e| anyhow!("--at: {e}"))?,
        None => Utc::now(),
    };
    let store = super::open_event_store(settings).await?;
    let touches = store.resource_touches(args.user.as_deref()).await?;
    let prices = settings.resources.prices();
    let filter = ResourceFilter {
        user: args.user.clone(),
        state,
        kind: args.kind.clone(),
        at,
    };
    let resources = ctt_store::resources::select(touches, &filter, &prices);
    let time = |t: Option<chrono::DateTime<Utc>>| t.map(format_event_time).unwrap_or_default();
    let rows = resources
        .iter()
        .map(|r| {
            vec![
                r.kind.clone(),
                r.id.clone(),
                r.region.clone(),
                r.account.clone(),
                r.life.owner.clone().unwrap_or_default(),
                r.life.state.as_str().to_owned(),
                time(r.life.created),
                time(r.life.deleted),
                r.life.deleted_by.clone().unwrap_or_default(),
                format!("{:.2}", r.running_hours),
                r.estimated_cost
                    .map(|c| format!("{c:.2}"))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "type",
        "id",
        "region",
        "account",
        "owner",
        "state",
        "created",
        "deleted",
        "deleted_by",
        "running_hours",
        "estimated_cost",
    ];
    if format == OutputFormat::Table {
        if resources.is_empty() {
            eprintln!("no resources");
        } else {
            eprintln!(
                "estimated_cost: running hours × {} on-demand list prices of {} in {} ({}): an estimate, never a bill",
                prices.region, prices.date, prices.currency, prices.source
            );
        }
    }
    output::records(format, &header, rows, &resources)?;
    Ok(ExitCode::SUCCESS)
}
