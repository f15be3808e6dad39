//! `ctt resources`: who created what, who deleted it, what is still running
//! and what it costs, estimated (SPEC §11).

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use chrono::Utc;
use ctt_core::time::{Bound, parse_bound};
use ctt_server::api::resources::ResourceView;
use ctt_store::resources::CSV_HEADER;
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
    let prices = settings.resources.prices();
    let filter = ResourceFilter {
        user: args.user.clone(),
        state,
        kind: args.kind.clone(),
        at,
    };
    let resources: Vec<_> = store
        .resources(&ctt_store::ResourceQuery::all(filter))
        .await?
        .into_iter()
        .map(|r| r.priced(&prices))
        .collect();
    let rows = resources.iter().map(|r| r.csv_row().to_vec()).collect();
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
    // JSON as the API answers it (`/resources`).
    let views: Vec<ResourceView> = resources.iter().map(ResourceView::from).collect();
    output::records(format, &CSV_HEADER, rows, &views)?;
    Ok(ExitCode::SUCCESS)
}
