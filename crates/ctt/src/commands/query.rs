//! `ctt scan | users [USER] | services [SERVICE] | parameters`: the API's
//! questions from the command line. Flags are read by the same parser as the
//! API's query string, so both accept and reject the same values.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use ctt_core::query::{MAX_LIMIT, QueryError, RequestParams, RouteKind};
use ctt_core::{EventQuery, GroupBy, ParamFilter, Scope};
use ctt_store::{CatalogEntry, EventStore};

use crate::cli::{EventArgs, ListArgs, OutputFormat, ScopedArgs};
use crate::output::{self, EventWriter};
use crate::settings::Settings;

/// Turns the flags into the API's query and checks them the API's way.
fn event_query(args: &EventArgs, scope: Scope) -> anyhow::Result<EventQuery> {
    let mut pairs = Vec::new();
    let mut push = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_owned(), v.clone()));
        }
    };
    push("from", &args.from);
    push("to", &args.to);
    push("eventName", &args.event_name);
    if args.begin_with {
        pairs.push(("begin_with".to_owned(), "true".to_owned()));
    }
    let parsed = RequestParams::parse(&pairs, scope, RouteKind::Events, chrono::Utc::now())
        .map_err(cli_error)?;
    let mut query = parsed.query;
    for raw in &args.params {
        let (name, value) = raw
            .split_once('=')
            .filter(|(name, _)| !name.is_empty())
            .ok_or_else(|| anyhow!("invalid --param `{raw}`: expected NAME=VALUE"))?;
        query.params.push(ParamFilter {
            name: name.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(query)
}

fn cli_error(error: QueryError) -> anyhow::Error {
    let flag = match error.parameter.as_str() {
        "eventName" => "event-name".to_owned(),
        other => other.replace('_', "-"),
    };
    anyhow!("invalid --{flag}: {}", error.detail)
}

async fn print_events(
    store: &dyn EventStore,
    query: &EventQuery,
    args: &EventArgs,
) -> anyhow::Result<ExitCode> {
    if args.count {
        println!("{}", store.count(query).await?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut writer = EventWriter::new(output::resolve(args.format))?;
    let mut remaining = args.limit.map(u64::from);
    let mut cursor = None;
    loop {
        let page_size = remaining.map_or(MAX_LIMIT, |r| r.min(u64::from(MAX_LIMIT)) as u32);
        if page_size == 0 {
            break;
        }
        let page = store.events(query, page_size, cursor.as_ref()).await?;
        for event in &page.events {
            writer.write(event).context("cannot write output")?;
        }
        if let Some(r) = &mut remaining {
            *r -= page.events.len() as u64;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    writer.finish().context("cannot write output")?;
    Ok(ExitCode::SUCCESS)
}

pub async fn scan(settings: &Settings, args: EventArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_event_store(settings).await?;
    let query = event_query(&args, Scope::All)?;
    print_events(store.as_ref(), &query, &args).await
}

pub async fn users(settings: &Settings, args: ScopedArgs) -> anyhow::Result<ExitCode> {
    scoped(settings, args, Scope::User, GroupBy::User, "user").await
}

pub async fn services(settings: &Settings, args: ScopedArgs) -> anyhow::Result<ExitCode> {
    scoped(settings, args, Scope::Service, GroupBy::Service, "service").await
}

async fn scoped(
    settings: &Settings,
    args: ScopedArgs,
    scope: fn(String) -> Scope,
    group_by: GroupBy,
    what: &str,
) -> anyhow::Result<ExitCode> {
    let store = super::open_event_store(settings).await?;
    let filters = &args.filters;
    if let Some(name) = args.name.clone() {
        let query = event_query(filters, scope(name))?;
        return print_events(store.as_ref(), &query, filters).await;
    }
    let narrowed = filters.from.is_some()
        || filters.to.is_some()
        || filters.event_name.is_some()
        || !filters.params.is_empty();
    let entries: Vec<(String, u64, String, String)> = if narrowed {
        let query = event_query(filters, Scope::All)?;
        let groups = store.stats(&query, group_by, u32::MAX).await?;
        let mut groups: Vec<_> = groups
            .into_iter()
            .map(|g| (g.key, g.count, String::new(), String::new()))
            .collect();
        groups.sort();
        groups
    } else {
        let catalog: Vec<CatalogEntry> = match group_by {
            GroupBy::User => store.users().await?,
            _ => store.services().await?,
        };
        catalog
            .into_iter()
            .map(|c| {
                let t = ctt_core::time::format_event_time;
                (c.name, c.events, t(c.first_seen), t(c.last_seen))
            })
            .collect()
    };
    if filters.count {
        println!("{}", entries.len());
        return Ok(ExitCode::SUCCESS);
    }
    let format = output::resolve(filters.format);
    let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(name, count, first, last)| {
            let mut row = vec![name.clone(), count.to_string()];
            if !narrowed {
                row.extend([first.clone(), last.clone()]);
            }
            row
        })
        .collect();
    let header: &[&str] = if narrowed {
        &[what, "events"]
    } else {
        &[what, "events", "first seen (UTC)", "last seen (UTC)"]
    };
    output::records(format, header, rows, &names)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn parameters(settings: &Settings, args: ListArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_event_store(settings).await?;
    let names = store.parameters().await?;
    let format = args.format.unwrap_or(output::resolve(None));
    let rows = names.iter().map(|n| vec![n.clone()]).collect();
    output::records(format, &["parameter"], rows, &names)?;
    if format == OutputFormat::Table {
        println!(
            "{} parameters; any can be used as --param NAME=VALUE",
            names.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
