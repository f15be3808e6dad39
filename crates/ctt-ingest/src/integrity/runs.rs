//! A history's verdicts in key order, in bounded memory: `ctt verify`
//! checks a source window by window ([`super::windows`]), and each window's
//! verdicts (sorted by key, as [`Report`](super::Report) keeps them) are
//! written to a temporary file, a *run*. The runs are then merged as the
//! output is written: what is held is one verdict per run, not one per file.
//!
//! A file verdicted by two windows takes the later window's verdict, as
//! [`Report::absorb`](super::Report::absorb) does: a log delivered late is
//! `not-covered` in its own days and found by the backfill digest that
//! lists it, days later.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Lines, Write};

use super::{Checked, Kind};

/// The runs written so far, in a temporary folder removed with them.
pub struct SortedRuns {
    dir: tempfile::TempDir,
    runs: Vec<std::path::PathBuf>,
}

impl SortedRuns {
    /// Runs in a new temporary folder (`TMPDIR`, else `/tmp`).
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            dir: tempfile::Builder::new().prefix("ctt-verify-").tempdir()?,
            runs: Vec::new(),
        })
    }

    /// Writes one window's verdicts, sorted by key then kind, as a run (one
    /// JSON verdict a line). An empty window writes nothing.
    pub fn push(&mut self, files: &[Checked]) -> io::Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        debug_assert!(files.is_sorted_by(|a, b| order(a) <= order(b)));
        let path = self.dir.path().join(format!("run-{:06}", self.runs.len()));
        let mut out = BufWriter::new(File::create(&path)?);
        for file in files {
            serde_json::to_writer(&mut out, file)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        self.runs.push(path);
        Ok(())
    }

    /// Every verdict of every run, by key then kind, each file once.
    pub fn merge(self) -> io::Result<Merged> {
        let mut merged = Merged {
            readers: Vec::with_capacity(self.runs.len()),
            heads: Vec::with_capacity(self.runs.len()),
            heap: BinaryHeap::new(),
            _dir: self.dir,
        };
        for (run, path) in self.runs.iter().enumerate() {
            merged
                .readers
                .push(BufReader::new(File::open(path)?).lines());
            merged.heads.push(None);
            merged.advance(run)?;
        }
        Ok(merged)
    }
}

fn order(file: &Checked) -> (&str, Kind) {
    (file.key.as_str(), file.kind)
}

/// The merge of [`SortedRuns`]: an iterator of verdicts in key order.
pub struct Merged {
    readers: Vec<Lines<BufReader<File>>>,
    /// Each run's next verdict.
    heads: Vec<Option<Checked>>,
    /// (key, kind, run) of each run's next verdict, least first.
    heap: BinaryHeap<Reverse<(String, Kind, usize)>>,
    _dir: tempfile::TempDir,
}

impl Merged {
    /// Takes run `run`'s next verdict into `heads` (and the heap).
    fn advance(&mut self, run: usize) -> io::Result<()> {
        let next = match self.readers[run].next() {
            Some(line) => Some(serde_json::from_str::<Checked>(&line?)?),
            None => None,
        };
        if let Some(file) = &next {
            self.heap.push(Reverse((file.key.clone(), file.kind, run)));
        }
        self.heads[run] = next;
        Ok(())
    }

    /// Run `run`'s head, and the run moved on.
    fn take(&mut self, run: usize) -> io::Result<Checked> {
        let head = self.heads[run]
            .take()
            .ok_or_else(|| io::Error::other("a verification run ended early"))?;
        self.advance(run)?;
        Ok(head)
    }

    fn next_verdict(&mut self) -> io::Result<Option<Checked>> {
        let Some(Reverse((key, kind, run))) = self.heap.pop() else {
            return Ok(None);
        };
        let mut latest = (run, self.take(run)?);
        // The same file from other runs: the latest run's verdict stands.
        while self
            .heap
            .peek()
            .is_some_and(|Reverse((k, d, _))| *k == key && *d == kind)
        {
            let Some(Reverse((_, _, other))) = self.heap.pop() else {
                break;
            };
            let verdict = self.take(other)?;
            if other > latest.0 {
                latest = (other, verdict);
            }
        }
        Ok(Some(latest.1))
    }
}

impl Iterator for Merged {
    type Item = io::Result<Checked>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_verdict().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::Status;

    fn verdict(kind: Kind, key: &str, status: Status) -> Checked {
        Checked {
            kind,
            key: key.to_owned(),
            status,
            faults: if status == Status::Valid {
                Vec::new()
            } else {
                vec![status]
            },
            detail: (status != Status::Valid).then(|| format!("why {key}")),
            listed_by: None,
        }
    }

    /// SPEC §14: the CSV is sorted by key. Windows verdict overlapping keys
    /// in any order; the merge gives each file once, in key order, with the
    /// later window's verdict, and holds nothing but a verdict per run.
    #[test]
    fn runs_merge_in_key_order_each_file_once_with_the_later_windows_verdict() {
        let mut runs = SortedRuns::new().expect("runs");
        runs.push(&[
            verdict(Kind::Log, "a/1", Status::Valid),
            verdict(Kind::Log, "c/late", Status::NotCovered),
            verdict(Kind::Digest, "c/late", Status::Valid),
            verdict(Kind::Log, "e/5", Status::Modified),
        ])
        .expect("push");
        runs.push(&[]).expect("an empty window");
        runs.push(&[
            verdict(Kind::Log, "b/2", Status::Missing),
            verdict(Kind::Log, "c/late", Status::Valid),
            verdict(Kind::Log, "d/4", Status::Valid),
        ])
        .expect("push");
        let merged: Vec<Checked> = runs
            .merge()
            .expect("merge")
            .collect::<io::Result<_>>()
            .expect("read");
        let seen: Vec<(&str, Kind, Status)> = merged
            .iter()
            .map(|c| (c.key.as_str(), c.kind, c.status))
            .collect();
        assert_eq!(
            seen,
            [
                ("a/1", Kind::Log, Status::Valid),
                ("b/2", Kind::Log, Status::Missing),
                ("c/late", Kind::Log, Status::Valid),
                ("c/late", Kind::Digest, Status::Valid),
                ("d/4", Kind::Log, Status::Valid),
                ("e/5", Kind::Log, Status::Modified),
            ]
        );
        assert_eq!(merged[1].detail.as_deref(), Some("why b/2"));
        assert_eq!(merged[5].faults, [Status::Modified]);
    }
}
