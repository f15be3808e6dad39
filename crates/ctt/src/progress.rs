//! Progress of a load: a bar on a terminal, periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ctt_ingest::{IngestReport, Observer};
use ctt_store::LedgerEntry;
use indicatif::{ProgressBar, ProgressStyle};

/// How often plain log lines are written when there is no terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

pub struct LoadProgress {
    bar: Option<ProgressBar>,
    planned_files: Mutex<u64>,
    last_log: Mutex<Instant>,
}

impl LoadProgress {
    pub fn new(allow_bar: bool) -> Self {
        let bar = (allow_bar && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} \
                 {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            planned_files: Mutex::new(0),
            last_log: Mutex::new(Instant::now()),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for LoadProgress {
    fn planned(&self, files: u64, bytes: u64) {
        if let Ok(mut planned) = self.planned_files.lock() {
            *planned = files;
        }
        match &self.bar {
            Some(bar) => bar.set_length(bytes),
            None => tracing::info!(files, bytes, "loading"),
        }
    }

    fn committed(&self, files: &[LedgerEntry], report: &IngestReport) {
        let planned = self.planned_files.lock().map(|p| *p).unwrap_or_default();
        let done = report.files_loaded + report.files_failed;
        let message = format!(
            "files {done}/{planned}, {} events stored, {} failed",
            report.records_stored, report.files_failed
        );
        match &self.bar {
            Some(bar) => {
                bar.inc(files.iter().map(|f| f.size).sum());
                bar.set_message(message);
            }
            None => {
                if let Ok(mut last) = self.last_log.lock()
                    && last.elapsed() >= LOG_EVERY
                {
                    *last = Instant::now();
                    eprintln!("ctt ingest: {message}");
                }
            }
        }
    }
}
