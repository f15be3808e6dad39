//! The verification ceiling: list, fetch, decompress and SHA-256 every log and
//! digest file on all cores, checking nothing. `bench/verify.py` compares
//! `ctt verify` against it.
//!
//! `cargo run --release -p ctt-ingest --example hash_ceiling -- DIR` prints one JSON line.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use ctt_ingest::integrity::sha256_hex;
use ctt_ingest::read::{DEFAULT_MAX_FILE_BYTES, decompress};
use ctt_ingest::{FileKind, LocalSource, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let roots: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let started = Instant::now();
    let files: Vec<_> = LocalSource::list(&roots, None, None)?
        .into_iter()
        .filter(|f| matches!(f.kind, FileKind::Log | FileKind::Digest))
        .collect();
    let next = AtomicUsize::new(0);
    let (hashed, raw) = (AtomicU64::new(0), AtomicU64::new(0));
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(file) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let Ok(data) = LocalSource.fetch(file) else {
                        continue;
                    };
                    let Ok(text) = decompress(&data, DEFAULT_MAX_FILE_BYTES) else {
                        continue;
                    };
                    raw.fetch_add(text.len() as u64, Ordering::Relaxed);
                    if !sha256_hex(&text).is_empty() {
                        hashed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    println!(
        "{{\"files\":{},\"hashed\":{},\"raw_bytes\":{},\"seconds\":{:.3}}}",
        files.len(),
        hashed.load(Ordering::Relaxed),
        raw.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
