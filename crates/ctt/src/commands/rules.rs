//! `ctt rules list|check|test`: the detection rules (SPEC §12).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ctt_detect::{Rule, RuleSet, Selection};
use ctt_ingest::{LocalSource, Source};
use serde::Serialize;

use crate::cli::{RulesArgs, RulesCommand};
use crate::output;
use crate::settings::Settings;

/// The rules in force: the built-in ones (unless `[alerts] builtin = false`),
/// `[alerts] rules`, then `extra` (`--rules`), less `[alerts] disabled`.
pub fn rule_set(settings: &Settings, extra: &[PathBuf]) -> anyhow::Result<RuleSet> {
    let alerts = &settings.alerts;
    Ok(RuleSet::select(&Selection {
        builtin: alerts.builtin,
        allowed_regions: &alerts.allowed_regions,
        expensive_instance_types: &alerts.expensive_instance_types,
        paths: alerts
            .rules
            .iter()
            .chain(extra)
            .map(PathBuf::as_path)
            .collect(),
        disabled: &alerts.disabled,
    })?)
}

/// A rule as `ctt rules list` shows it.
#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    level: &'a str,
    title: &'a str,
    tags: &'a [String],
    origin: &'a str,
}

pub async fn run(settings: &Settings, args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        RulesCommand::List { rules, format } => {
            let set = rule_set(settings, &rules)?;
            let listed: Vec<Listed<'_>> = set
                .rules()
                .map(|(rule, origin)| Listed {
                    id: &rule.id,
                    level: rule.level.as_str(),
                    title: &rule.title,
                    tags: &rule.tags,
                    origin,
                })
                .collect();
            let rows = listed
                .iter()
                .map(|r| {
                    vec![
                        r.id.to_owned(),
                        r.level.to_owned(),
                        r.title.to_owned(),
                        r.origin.to_owned(),
                    ]
                })
                .collect();
            output::records(
                output::resolve(format),
                &["id", "level", "title", "origin"],
                rows,
                &listed,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Check { paths } => check(&paths),
        RulesCommand::Test {
            rule,
            sources,
            format,
        } => test(&rule, &sources, format),
    }
}

/// Each file loads, or is named with why it is refused.
fn check(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    files.sort();
    let mut refused = 0;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        match Rule::from_yaml(&text) {
            Ok(rule) => println!("ok       {}  {} ({})", file.display(), rule.title, rule.id),
            Err(e) => {
                refused += 1;
                println!("refused  {}: {e}", file.display());
            }
        }
    }
    eprintln!("{} rules, {refused} refused", files.len());
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn collect(path: &Path, into: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        for entry in
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?
        {
            collect(&entry?.path(), into)?;
        }
    } else if path.exists() {
        if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            into.push(path.to_owned());
        }
    } else {
        anyhow::bail!("cannot read {}: no such file or folder", path.display());
    }
    Ok(())
}

/// A record a rule fired on.
#[derive(Serialize)]
struct Hit {
    time: String,
    #[serde(rename = "eventID")]
    event_id: String,
    #[serde(rename = "eventName")]
    event_name: String,
    user: String,
    file: String,
}

/// Every record of `sources` the rule fires on (redacted first, as when
/// loading).
fn test(
    rule: &Path,
    sources: &[PathBuf],
    format: Option<crate::cli::OutputFormat>,
) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(rule).with_context(|| format!("cannot read {}", rule.display()))?;
    let rule = Rule::from_yaml(&text).with_context(|| format!("{}", rule.display()))?;
    let files = LocalSource::list(sources, None, None)?;
    let mut hits = Vec::new();
    let mut records = 0usize;
    for file in &files {
        let Ok(bytes) = LocalSource.fetch(file) else {
            continue;
        };
        let Ok(raw) = ctt_ingest::read::decompress(&bytes, u64::MAX) else {
            continue;
        };
        let Ok(parsed) = ctt_ingest::read::parse(&raw) else {
            continue;
        };
        for record in parsed.records {
            records += 1;
            let Ok(value) = serde_json::from_str::<serde_json::Value>(record.get()) else {
                continue;
            };
            let Ok(event) = ctt_core::normalise(value) else {
                continue;
            };
            if rule.matches(&event.record) {
                hits.push(Hit {
                    time: ctt_core::time::format_event_time(event.event_time),
                    event_id: event.event_id,
                    event_name: event.event_name,
                    user: event.user,
                    file: file.key.clone(),
                });
            }
        }
    }
    let rows = hits
        .iter()
        .map(|h| {
            vec![
                h.time.clone(),
                h.event_id.clone(),
                h.event_name.clone(),
                h.user.clone(),
                h.file.clone(),
            ]
        })
        .collect();
    output::records(
        output::resolve(format),
        &["time", "eventID", "eventName", "user", "file"],
        rows,
        &hits,
    )?;
    eprintln!(
        "{} fires on {} of {records} records",
        rule.title,
        hits.len()
    );
    Ok(ExitCode::SUCCESS)
}
