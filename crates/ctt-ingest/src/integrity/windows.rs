//! A long history verified window by window (`ctt ingest --verify`): a few
//! days at a time, each listed again with a day more on each side (the day
//! before holds the previous links, the day after the signatures and the
//! digest of the last hour), then restricted to its own days
//! ([`Report::within`](super::Report::within)) and added to the totals
//! ([`Report::absorb`](super::Report::absorb)). What verification holds
//! follows the window, not the history.

use chrono::{Days, NaiveDate};

use crate::source::{FileKind, SourceFile, key_date};

/// Days verified together: a week of a busy account is some ten thousand
/// files.
pub const WINDOW_DAYS: u64 = 7;

/// The days a listing spans, by the dates in its keys (CloudTrail's
/// `…/YYYY/MM/DD/` folders), gathered part by part as a load lists them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Span {
    days: Option<(NaiveDate, NaiveDate)>,
    /// A log or digest file whose key has no date.
    undated: bool,
}

impl Span {
    /// Takes in the days of `files`' logs and digests (other files are not
    /// verified).
    pub fn add(&mut self, files: &[SourceFile]) {
        for file in files {
            if !matches!(file.kind, FileKind::Log | FileKind::Digest) {
                continue;
            }
            match key_date(&file.key) {
                Some(day) => {
                    self.days = Some(match self.days {
                        None => (day, day),
                        Some((first, last)) => (first.min(day), last.max(day)),
                    });
                }
                None => self.undated = true,
            }
        }
    }

    /// The days of a listing given in parts, each let go of once its days
    /// are counted; the first part that could not be listed is the error.
    pub fn of_parts<E>(
        parts: impl IntoIterator<Item = Result<Vec<SourceFile>, E>>,
    ) -> Result<Span, E> {
        let mut span = Span::default();
        for part in parts {
            span.add(&part?);
        }
        Ok(span)
    }

    /// The windows to verify, `days` days each (the last may be shorter),
    /// from the first day to the last. A listing with a log or digest outside
    /// CloudTrail's dated folders is one window, unbounded (`None`, `None`):
    /// a digest finds its logs by file name wherever they are, so such a
    /// listing cannot be cut by date. None for a listing without either.
    pub fn windows(&self, days: u64) -> Vec<(Option<NaiveDate>, Option<NaiveDate>)> {
        if self.undated {
            return vec![(None, None)];
        }
        let Some((first, last)) = self.days else {
            return Vec::new();
        };
        let step = days.max(1);
        let mut windows = Vec::new();
        let mut start = first;
        while start <= last {
            let end = start
                .checked_add_days(Days::new(step - 1))
                .map_or(last, |end| end.min(last));
            windows.push((Some(start), Some(end)));
            match end.checked_add_days(Days::new(1)) {
                Some(next) => start = next,
                None => break,
            }
        }
        windows
    }
}

/// The days to list for the window `from..=to`: a day more on each side.
pub fn listed_days(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    (
        from.map(|d| d.checked_sub_days(Days::new(1)).unwrap_or(d)),
        to.map(|d| d.checked_add_days(Days::new(1)).unwrap_or(d)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(key: &str, kind: FileKind) -> SourceFile {
        SourceFile {
            key: key.to_owned(),
            size: 1,
            version: "1".to_owned(),
            kind,
        }
    }

    fn day(text: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
    }

    #[test]
    fn a_dated_listing_is_verified_a_week_at_a_time_from_its_first_day_to_its_last() {
        let mut span = Span::default();
        span.add(&[
            file(
                "AWSLogs/1/CloudTrail/eu-west-1/2018/03/09/1_CloudTrail_eu-west-1_20180309T0000Z_a.json.gz",
                FileKind::Log,
            ),
            file("notes/readme.txt", FileKind::Other),
        ]);
        span.add(&[file(
            "AWSLogs/1/CloudTrail-Digest/eu-west-1/2018/03/24/1_CloudTrail-Digest_eu-west-1_t_eu-west-1_20180324T0015Z.json.gz",
            FileKind::Digest,
        )]);
        assert_eq!(
            span.windows(7),
            [
                (day("2018-03-09"), day("2018-03-15")),
                (day("2018-03-16"), day("2018-03-22")),
                (day("2018-03-23"), day("2018-03-24")),
            ]
        );
        assert_eq!(
            listed_days(day("2018-03-16"), day("2018-03-22")),
            (day("2018-03-15"), day("2018-03-23"))
        );
    }

    #[test]
    fn a_log_outside_the_dated_folders_makes_the_listing_one_window() {
        let mut span = Span::default();
        assert!(span.windows(7).is_empty(), "nothing to verify");
        span.add(&[file(
            "AWSLogs/1/CloudTrail/eu-west-1/2018/03/09/a.json.gz",
            FileKind::Log,
        )]);
        span.add(&[file("copies/b.json.gz", FileKind::Log)]);
        assert_eq!(span.windows(7), [(None, None)]);
    }
}
