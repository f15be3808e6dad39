//! The ingest ceiling: list, fetch, decompress and parse every record of every
//! file into a `serde_json::Value` on all cores, storing nothing. `bench/ingest.py` compares `ctt ingest` against it.
//!
//! `cargo run --release -p ctt-ingest --example ceiling -- DIR` prints one JSON line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use ctt_ingest::read::{DEFAULT_MAX_FILE_BYTES, decompress, parse};
use ctt_ingest::{FileKind, LocalSource, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let started = Instant::now();
    let files: Vec<_> = LocalSource::list(&roots, None, None)?
        .into_iter()
        .filter(|f| f.kind == FileKind::Log)
        .collect();
    let next = AtomicUsize::new(0);
    let (records, bytes, raw) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Ok(data) = LocalSource.fetch(file) else {
                        continue;
                    };
                    bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                    let Ok(text) = decompress(&data, DEFAULT_MAX_FILE_BYTES) else {
                        continue;
                    };
                    raw.fetch_add(text.len() as u64, Ordering::Relaxed);
                    let Ok(parsed) = parse(&text) else { continue };
                    // Parse every record whole, as a reader that keeps everything must.
                    for record in parsed.records {
                        if serde_json::from_str::<serde_json::Value>(record.get()).is_ok() {
                            records.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    println!(
        "{{\"files\":{},\"records\":{},\"bytes\":{},\"raw_bytes\":{},\"seconds\":{:.3}}}",
        files.len(),
        records.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        raw.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
