//! Generates a tree and reads it back to describe it.
//!
//! ```text
//! cargo run --release -p ctt-gen --example gen -- OUT [small|paper] [--seed N] [--end RFC3339] [--days N] [--org] [--no-check]
//! ```
//!
//! Prints the generation time and summary, then (unless `--no-check`) reads
//! every log file back and prints records, unique eventIDs, the records that
//! survive the default filter, the read-only and error shares, identity types
//! and the records-per-file distribution.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use ctt_gen::{GenConfig, Preset, generate_with_progress};
use flate2::read::GzDecoder;
use serde_json::Value;

/// The original system's default filter: names starting with these are not stored.
const DROPPED_PREFIXES: [&str; 7] = [
    "get", "describe", "list", "info", "decrypt", "checkmfa", "head",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, config, check) = parse_args(&args)?;
    let started = Instant::now();
    let summary = generate_with_progress(&out, &config, &|p| {
        if p.days_done % 100 == 0 {
            eprintln!(
                "  {} / {} days, {} files, {} records",
                p.days_done, p.days_total, p.files, p.records
            );
        }
    })?;
    let elapsed = started.elapsed();
    println!(
        "preset {} seed {} days {} organization {}",
        config.preset,
        config.seed,
        config.days(),
        config.organization
    );
    println!("generated in {:.2} s", elapsed.as_secs_f64());
    println!("{summary:#?}");
    if check {
        let started = Instant::now();
        let stats = read_back(&out)?;
        println!("read back in {:.2} s", started.elapsed().as_secs_f64());
        stats.print();
    }
    Ok(())
}

fn parse_args(args: &[String]) -> anyhow::Result<(PathBuf, GenConfig, bool)> {
    let Some(out) = args.first() else {
        bail!(
            "usage: gen OUT [small|paper] [--seed N] [--end RFC3339] [--days N] [--org] [--no-check]"
        );
    };
    let mut preset = Preset::Small;
    let mut seed = 42;
    let mut end: DateTime<Utc> = "2024-06-28T18:00:00Z".parse()?;
    let mut days = None;
    let mut organization = false;
    let mut check = true;
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let mut value = || rest.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--seed" => seed = value()?.parse()?,
            "--end" => end = value()?.parse()?,
            "--days" => days = Some(value()?.parse()?),
            "--org" => organization = true,
            "--no-check" => check = false,
            name => preset = name.parse()?,
        }
    }
    let config = GenConfig {
        days,
        organization,
        ..GenConfig::new(preset, seed, end)
    };
    Ok((PathBuf::from(out), config, check))
}

/// What reading the tree back found.
#[derive(Default)]
struct Stats {
    files: u64,
    digests: u64,
    records: u64,
    unique: u64,
    kept_by_default_filter: u64,
    read_only: u64,
    errors: u64,
    identity_types: BTreeMap<String, u64>,
    per_file: BTreeMap<usize, u64>,
    event_ids: HashSet<String>,
}

impl Stats {
    fn add_file(&mut self, records: &[Value]) {
        self.files += 1;
        let bucket = match records.len() {
            n @ 0..=10 => n,
            n if n <= 20 => 20,
            n if n <= 40 => 40,
            _ => 1000,
        };
        *self.per_file.entry(bucket).or_default() += 1;
        for record in records {
            self.add_record(record);
        }
    }

    fn add_record(&mut self, record: &Value) {
        self.records += 1;
        let id = record["eventID"].as_str().unwrap_or_default().to_string();
        if !self.event_ids.insert(id) {
            return;
        }
        self.unique += 1;
        let name = record["eventName"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if !name.is_empty() && !DROPPED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            self.kept_by_default_filter += 1;
        }
        if record["readOnly"].as_bool() == Some(true) {
            self.read_only += 1;
        }
        if record.get("errorCode").is_some() {
            self.errors += 1;
        }
        let kind = record["userIdentity"]["type"]
            .as_str()
            .unwrap_or("(none)")
            .to_string();
        *self.identity_types.entry(kind).or_default() += 1;
    }

    fn print(&self) {
        let share = |n: u64| 100.0 * n as f64 / self.unique.max(1) as f64;
        println!("log files            {}", self.files);
        println!("digest files         {}", self.digests);
        println!("records              {}", self.records);
        println!(
            "unique eventIDs      {} ({} duplicates)",
            self.unique,
            self.records - self.unique
        );
        println!(
            "kept by default filter {} ({:.1}%)",
            self.kept_by_default_filter,
            share(self.kept_by_default_filter)
        );
        println!("readOnly             {:.1}%", share(self.read_only));
        println!("with errorCode       {:.1}%", share(self.errors));
        println!(
            "records per file     {:.2} on average",
            self.records as f64 / self.files.max(1) as f64
        );
        for (bucket, count) in &self.per_file {
            println!("  <= {bucket:>4} records: {count} files");
        }
        for (kind, count) in &self.identity_types {
            println!("  identity {kind:<12} {count}");
        }
    }
}

fn read_back(root: &Path) -> anyhow::Result<Stats> {
    let mut paths = Vec::new();
    collect_files(root, &mut paths)?;
    paths.sort();
    let stats = Mutex::new(Stats::default());
    let chunks: Vec<&[PathBuf]> = paths.chunks(paths.len().div_ceil(2).max(1)).collect();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = chunks
            .iter()
            .map(|chunk| scope.spawn(|| read_files(chunk, &stats)))
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("reader panicked"))??;
        }
        Ok(())
    })?;
    stats
        .into_inner()
        .map_err(|_| anyhow::anyhow!("reader panicked"))
}

fn read_files(paths: &[PathBuf], stats: &Mutex<Stats>) -> anyhow::Result<()> {
    let mut text = String::new();
    for path in paths {
        text.clear();
        GzDecoder::new(
            fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
        .read_to_string(&mut text)
        .with_context(|| format!("cannot decompress {}", path.display()))?;
        let body: Value = serde_json::from_str(&text)
            .with_context(|| format!("cannot parse {}", path.display()))?;
        let mut stats = stats
            .lock()
            .map_err(|_| anyhow::anyhow!("reader panicked"))?;
        match body.get("Records").and_then(Value::as_array) {
            Some(records) => stats.add_file(records),
            None => stats.digests += 1,
        }
    }
    Ok(())
}

fn collect_files(folder: &Path, paths: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in
        fs::read_dir(folder).with_context(|| format!("cannot list {}", folder.display()))?
    {
        let path = entry
            .with_context(|| format!("cannot list {}", folder.display()))?
            .path();
        if path.is_dir() {
            collect_files(&path, paths)?;
        } else if path.to_string_lossy().ends_with(".json.gz") {
            paths.push(path);
        }
    }
    Ok(())
}
