//! What the DynamoDB design costs, measured on an emulator: for the benchmark
//! (`bench/dynamo.py`), prints one JSON object per line.
//!
//! ```text
//! cargo run --release -p ctt-aws --example dynamo_costs -- TREE --end 2018-05-31 \
//!     [--user alucloud021] [--handler-files 40] [--endpoint URL]
//! ```
//!
//! 1. Loads the log tree `TREE` (`ctt gen`) into a fresh table, all but a few
//!    log files spread over the history (`"kind": "load"`).
//! 2. Times the ingest Lambda's handler on those held-back files: its cold start
//!    (SDK configuration, opening the store, the S3 client) and each file
//!    announced by an S3 notification, with the requests it made; and, for the
//!    same files, the CPU part alone — read, decompress, parse, normalise and
//!    filter (`process_file`), no I/O (`"kind": "ingest_handler"`).
//! 3. Runs the original's benchmark queries — `/scan` for 7 days and 6 months,
//!    one user for a month and 3 years, EC2 for a month and 2 years — as a first
//!    page and as an exact count, the count twice: from the hourly counters (what
//!    the store does) and from the index alone (what it did before them). It
//!    reports the requests made, the items DynamoDB read (`ScannedCount`; hourly
//!    counters apart) and returned, and the read units they imply
//!    (`"kind": "query"`), next to what the original's design reads for the same
//!    question: its code (grycap/cloudtrail-tracker, `Querys.py`) answered a
//!    user with one `Query` of a user+time index over the whole range, and
//!    `/scan` or a service with that `Query` for *every* user (the service as a
//!    filter), reading every event of the range; and next to a `Scan` of the
//!    whole table.
//!
//! Without `--endpoint`, moto is started on a free port (`ctt_aws::emulator`).
//! moto copies the whole table in every `TransactWriteItems`, so loads slow down
//! as the table grows: a few weeks of history is what it loads in minutes.
//! Times measured against moto are moto's (a single-threaded Python server),
//! not DynamoDB's; the items read and the requests made are the design's.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use ctt_aws::emulator::{Moto, sdk_config_for, unique_name};
use ctt_aws::lambda::ingest::IngestHandler;
use ctt_aws::s3::{self, S3Source};
use ctt_aws::{DynamoOptions, DynamoStore};
use ctt_core::{EventQuery, Scope};
use ctt_ingest::pipeline::{Silent, process_file};
use ctt_ingest::{FileKind, IngestOptions, LocalSource, SourceFile, ingest};
use ctt_store::EventStore;
use serde_json::json;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Size of one entry of our event indexes (the projected attributes), KB.
const INDEX_ENTRY_KB: f64 = 0.6;
/// Size of one of the original's items (the flattened record), KB.
const ORIGINAL_ITEM_KB: f64 = 1.5;
/// Size of one hourly counter item (`pk`, `sk`, `events`), KB.
const COUNTER_ITEM_KB: f64 = 0.04;

struct Args {
    tree: PathBuf,
    end: NaiveDate,
    user: Option<String>,
    handler_files: usize,
    endpoint: Option<String>,
}

const USAGE: &str =
    "usage: dynamo_costs TREE --end YYYY-MM-DD [--user NAME] [--handler-files N] [--endpoint URL]";

fn args() -> Result<Args, Error> {
    let mut tree = None;
    let mut end = None;
    let mut user = None;
    let mut handler_files = 40;
    let mut endpoint = None;
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        let mut value = || {
            raw.next()
                .ok_or_else(|| format!("{arg} needs a value; {USAGE}"))
        };
        match arg.as_str() {
            "--end" => end = Some(NaiveDate::parse_from_str(&value()?, "%Y-%m-%d")?),
            "--user" => user = Some(value()?),
            "--handler-files" => handler_files = value()?.parse()?,
            "--endpoint" => endpoint = Some(value()?),
            other if other.starts_with("--") => {
                return Err(format!("unknown {other}; {USAGE}").into());
            }
            other => tree = Some(PathBuf::from(other)),
        }
    }
    Ok(Args {
        tree: tree.ok_or(USAGE)?,
        end: end.ok_or("--end YYYY-MM-DD is required (the last day of the history)")?,
        user,
        handler_files,
        endpoint,
    })
}

/// CPU seconds this process has used (user + system, all threads).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command (which may hold spaces) start after its `)`.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    (ticks(11) + ticks(12)) / 100.0
}

/// Min, median, mean and max of `values`, in milliseconds.
fn summary(values: &mut [f64]) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    json!({"min": values.first(), "median": values.get(values.len() / 2),
           "mean": mean, "max": values.last()})
}

/// Read units for `items` entries of `kb` each, read eventually consistent
/// (8 KB a unit) by `requests` requests (each at least half a unit).
fn read_units(items: u64, kb: f64, requests: u64) -> f64 {
    (items as f64 * kb / 8.0).max(requests as f64 * 0.5)
}

/// Read units for `items` hourly counters read strongly consistent (4 KB a
/// unit) by `requests` queries (each at least one unit).
fn counter_read_units(items: u64, requests: u64) -> f64 {
    (items as f64 * COUNTER_ITEM_KB / 4.0).max(requests as f64)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = args()?;
    let moto;
    let endpoint = match &args.endpoint {
        Some(url) => url.clone(),
        None => {
            moto = Moto::start()?;
            moto.endpoint().to_owned()
        }
    };
    let sdk = sdk_config_for(&endpoint).await;
    let table = unique_name("ctt-bench");
    DynamoStore::create_table(&sdk, &table, None).await?;
    let store = DynamoStore::open(&sdk, &table, None, DynamoOptions::default()).await?;

    // 1. The history, but for the files the handler will load.
    let files = LocalSource::list(std::slice::from_ref(&args.tree), None, None)?;
    let logs: Vec<&SourceFile> = files.iter().filter(|f| f.kind == FileKind::Log).collect();
    let step = (logs.len() / args.handler_files.max(1)).max(1);
    let held_back: Vec<SourceFile> = logs
        .iter()
        .step_by(step)
        .take(args.handler_files)
        .map(|f| (*f).clone())
        .collect();
    let held: HashSet<&str> = held_back.iter().map(|f| f.key.as_str()).collect();
    let history: Vec<SourceFile> = files
        .iter()
        .filter(|f| !held.contains(f.key.as_str()))
        .cloned()
        .collect();
    let started = Instant::now();
    let report = ingest(
        Arc::new(store.clone()),
        Arc::new(LocalSource),
        history,
        &IngestOptions::default(),
        &Silent,
    )
    .await?;
    let load = store.usage();
    println!(
        "{}",
        json!({"kind": "load", "files": report.files_loaded, "records": report.records_read,
               "events": report.records_stored, "seconds": started.elapsed().as_secs_f64(),
               "operations": load.operations})
    );

    // 2. The ingest handler: cold start, then the held-back files, each
    //    announced by an S3 notification.
    let started = Instant::now();
    let handler_sdk = sdk_config_for(&endpoint).await;
    let handler_store =
        DynamoStore::open(&handler_sdk, &table, None, DynamoOptions::default()).await?;
    let s3_client = s3::client(&handler_sdk, None);
    let source = S3Source::new(s3_client.clone(), tokio::runtime::Handle::current(), 4);
    let handler = IngestHandler::new(
        Arc::new(handler_store.clone()),
        source,
        IngestOptions {
            workers: 1,
            ..IngestOptions::default()
        },
    );
    let init_ms = started.elapsed().as_secs_f64() * 1000.0;
    let bucket = unique_name("ctt-bench").to_ascii_lowercase();
    s3_client.create_bucket().bucket(&bucket).send().await?;
    let mut keys = Vec::new();
    for (n, file) in held_back.iter().enumerate() {
        let key = format!(
            "bench/{n}/{}",
            file.key.rsplit('/').next().unwrap_or_default()
        );
        s3_client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(std::fs::read(&file.key)?.into())
            .send()
            .await?;
        keys.push((key, file.size));
    }
    handler_store.reset_usage();
    let (mut wall, mut requests) = (Vec::new(), Vec::new());
    let (stored_before, cpu_before) = (store.status().await?.events, cpu_seconds());
    for (key, size) in &keys {
        let event = json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
            "awsRegion": "us-east-1", "eventTime": "2018-06-01T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "bench",
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": key, "size": size}}}]});
        let before = handler_store.usage().operations.values().sum::<u64>();
        let started = Instant::now();
        handler.handle(event).await?;
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        requests.push((handler_store.usage().operations.values().sum::<u64>() - before) as f64);
    }
    let handler_cpu_ms = (cpu_seconds() - cpu_before) * 1000.0 / keys.len().max(1) as f64;
    let stored = store.status().await?.events - stored_before;
    // The CPU part alone, on the same files.
    let indexed = store.indexed_parameters().to_vec();
    let options = IngestOptions::default();
    let mut cpu = Vec::new();
    let mut records = 0;
    for file in &held_back {
        let started = Instant::now();
        let loaded = process_file(&LocalSource, file, &options, &indexed, &mut HashSet::new());
        cpu.push(started.elapsed().as_secs_f64() * 1000.0);
        records += loaded.entry.counts.records;
    }
    let handler_usage = handler_store.usage();
    println!(
        "{}",
        json!({"kind": "ingest_handler", "init_ms": init_ms, "files": keys.len(),
               "records_per_file": records as f64 / keys.len().max(1) as f64,
               "events_stored_per_file": stored as f64 / keys.len().max(1) as f64,
               "file_ms": summary(&mut wall), "process_cpu_ms_per_file": handler_cpu_ms,
               "parse_ms": summary(&mut cpu), "requests_per_file": summary(&mut requests),
               "operations": handler_usage.operations})
    );

    // 3. The original's benchmark queries.
    let status = store.status().await?;
    let users = store.users().await?;
    let user = args.user.clone().unwrap_or_else(|| {
        // The busiest student, else the busiest user.
        let busiest = |students: bool| {
            users
                .iter()
                .filter(|u| !students || u.name.starts_with("alucloud"))
                .max_by_key(|u| u.events)
                .map(|u| u.name.clone())
        };
        busiest(true).or_else(|| busiest(false)).unwrap_or_default()
    });
    let end = Utc.from_utc_datetime(
        &args
            .end
            .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default()),
    );
    let queries = [
        ("/scan, 7 days", Scope::All, 7),
        ("/scan, 6 months", Scope::All, 182),
        ("one user, 1 month", Scope::User(user.clone()), 30),
        ("one user, 3 years", Scope::User(user.clone()), 1095),
        ("ec2, 1 month", Scope::Service("ec2".into()), 30),
        ("ec2, 2 years", Scope::Service("ec2".into()), 730),
    ];
    for (name, scope, days) in queries {
        let mut query = EventQuery::between(end - Duration::days(days), end);
        // The original's design: every event of the range (of the user),
        // by one Query per user (or one for the user).
        let everything = store.count(&query).await?;
        let (original_items, original_requests) = match &scope {
            Scope::User(_) => {
                let mut own = query.clone();
                own.scope = scope.clone();
                (store.count(&own).await?, 1)
            }
            _ => (everything, users.len() as u64),
        };
        query.scope = scope;
        for mode in ["first page", "count", "count, index only"] {
            store.reset_usage();
            let started = Instant::now();
            let answer = match mode {
                "count" => store.count(&query).await?,
                "count, index only" => store.count_from_index(&query).await?,
                _ => store
                    .events(&query, ctt_core::query::DEFAULT_LIMIT, None)
                    .await?
                    .events
                    .len() as u64,
            };
            let seconds = started.elapsed().as_secs_f64();
            let usage = store.usage();
            let operations: u64 = usage.operations.values().sum();
            let index_entries = usage.items_scanned - usage.counter_items;
            let index_requests = operations.saturating_sub(usage.counter_queries);
            let units = if index_requests > 0 {
                read_units(index_entries, INDEX_ENTRY_KB, index_requests)
            } else {
                0.0
            } + if usage.counter_queries > 0 {
                counter_read_units(usage.counter_items, usage.counter_queries)
            } else {
                0.0
            };
            println!(
                "{}",
                json!({"kind": "query", "query": name, "mode": mode, "user": user, "answer": answer,
                       "emulator_seconds": seconds, "operations": usage.operations,
                       "requests": operations, "items_scanned": usage.items_scanned,
                       "items_returned": usage.items_returned,
                       "counter_items": usage.counter_items, "counter_queries": usage.counter_queries,
                       "read_units": units,
                       "emulator_read_units": usage.read_units,
                       "original_requests": original_requests, "original_items": original_items,
                       "original_read_units": read_units(original_items, ORIGINAL_ITEM_KB, original_requests),
                       "table_scan_items": status.events,
                       "table_scan_read_units": read_units(status.events, ORIGINAL_ITEM_KB, status.events.div_ceil(700).max(1))})
            );
        }
    }
    println!(
        "{}",
        json!({"kind": "assumptions", "index_entry_kb": INDEX_ENTRY_KB,
               "original_item_kb": ORIGINAL_ITEM_KB, "counter_item_kb": COUNTER_ITEM_KB, "users": users.len(), "events": status.events})
    );
    Ok(())
}
