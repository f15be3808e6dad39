//! Courses and labs (SPEC §10): a course file, read and checked, and the exact
//! scoring of a class against it.
//!
//! - [`Course::parse`] reads the TOML of a course file and checks everything a
//!   teacher can get wrong (an unknown key, a bad regex, a duplicate lab id, a
//!   count of 0, an unknown time…), naming the line.
//! - [`score`] credits one student's events to the requirements of the labs;
//!   [`class_progress`] and [`timeline`] summarise a class. They are pure: the
//!   stores only fetch the candidate events ([`Course::candidates`]), every
//!   rule lives here.
//!
//! Percentages and grades are kept as integer hundredths ([`Hundredths`]) so that
//! every rounding is exact and every front end prints the same digits.

mod parse;
mod score;

pub use parse::CourseError;
pub use score::{
    ClassProgress, Counts, CreditedEvent, LabScore, LabSummary, RequirementScore, Status,
    StudentScore, TIMELINE_MAX_DAYS, TimelineDay, class_progress, percentile, progress_csv, score,
    timeline,
};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::time::to_seconds;

/// A percentage or grade to two decimals, as an integer count of hundredths
/// (`6667` is 66.67). Serialised as a JSON number (`66.67`).
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(value_type = f64))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hundredths(pub u32);

impl Hundredths {
    /// `100 × part / whole`, rounded half-up to two decimals (0 when `whole` is 0).
    pub fn percent(part: u64, whole: u64) -> Self {
        Self::ratio(10_000 * part, whole)
    }

    /// `numerator / denominator` hundredths, rounded half-up.
    pub(crate) fn ratio(numerator: u64, denominator: u64) -> Self {
        if denominator == 0 {
            return Hundredths(0);
        }
        let rounded = (2 * numerator + denominator) / (2 * denominator);
        Hundredths(u32::try_from(rounded).unwrap_or(u32::MAX))
    }

    pub fn as_f64(self) -> f64 {
        f64::from(self.0) / 100.0
    }
}

impl std::fmt::Display for Hundredths {
    /// Always two decimals: `66.67`, `100.00`, `0.00`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Hundredths {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

/// Who the class is: a regex on the resolved user, or a list of users.
#[derive(Debug, Clone)]
pub enum Students {
    Pattern(regex::Regex),
    List(Vec<String>),
}

impl PartialEq for Students {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Students::Pattern(a), Students::Pattern(b)) => a.as_str() == b.as_str(),
            (Students::List(a), Students::List(b)) => a == b,
            _ => false,
        }
    }
}

impl Students {
    /// The class among the users the store has seen (SPEC §10): with a list,
    /// exactly its users, seen or not; with a regex, the seen users it matches.
    /// Sorted, without duplicates.
    pub fn class<'a>(&self, seen: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut class: Vec<String> = match self {
            Students::List(users) => users.clone(),
            Students::Pattern(pattern) => seen
                .into_iter()
                .filter(|user| pattern.is_match(user))
                .map(str::to_owned)
                .collect(),
        };
        class.sort();
        class.dedup();
        class
    }

    /// Whether `user` belongs to the class (a regex match, or listed).
    pub fn includes(&self, user: &str) -> bool {
        match self {
            Students::Pattern(pattern) => pattern.is_match(user),
            Students::List(users) => users.iter().any(|u| u == user),
        }
    }
}

/// A course, checked (SPEC §10).
#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    pub id: String,
    pub name: String,
    pub window: Window,
    pub students: Students,
    /// The progress from which a lab counts as completed.
    pub pass: Hundredths,
    /// Whether calls with an `errorCode` count (the original's way).
    pub count_failed: bool,
    pub labs: Vec<Lab>,
}

/// A lab of a course.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lab {
    pub id: String,
    pub name: String,
    /// The lab's own window, if it has one (else the course's).
    pub window: Option<Window>,
    pub requires: Vec<Requirement>,
}

/// `SERVICE:NAME` (or `NAME`, any service) needed `count` times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub service: Option<String>,
    pub name: String,
    pub count: u32,
}

/// An inclusive range of instants, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, seconds: i64) -> bool {
        to_seconds(self.from) <= seconds && seconds <= to_seconds(self.to)
    }

    /// The part of `self` inside `outer` (empty windows have `from > to`).
    pub fn clip(&self, outer: &Window) -> Window {
        Window {
            from: self.from.max(outer.from),
            to: self.to.min(outer.to),
        }
    }

    /// Each UTC day the window touches, first to last.
    pub fn days(&self) -> Vec<NaiveDate> {
        let (first, last) = (self.from.date_naive(), self.to.date_naive());
        first
            .iter_days()
            .take_while(|day| *day <= last)
            .collect::<Vec<_>>()
    }
}

impl Requirement {
    /// `ec2:RunInstances` or `CreateKeyPair`, as in the course file.
    pub fn event(&self) -> String {
        match &self.service {
            Some(service) => format!("{service}:{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether an event of `service` named `event_name` meets the requirement:
    /// the same service (when named) and the same name, or the name followed by
    /// an API version suffix (`CreateFunction20150331`, `…2015_03_31v2`).
    pub fn matches(&self, service: &str, event_name: &str) -> bool {
        if self.service.as_deref().is_some_and(|s| s != service) {
            return false;
        }
        match event_name.strip_prefix(self.name.as_str()) {
            Some(rest) => rest.is_empty() || is_version_suffix(rest),
            None => false,
        }
    }
}

/// `YYYYMMDD` or `YYYY_MM_DD`, optionally followed by `v` and digits.
pub fn is_version_suffix(text: &str) -> bool {
    let bytes = text.as_bytes();
    let date_len = if bytes.len() >= 10 && bytes[4] == b'_' && bytes[7] == b'_' {
        let digits = [0, 1, 2, 3, 5, 6, 8, 9];
        if !digits.iter().all(|&i| bytes[i].is_ascii_digit()) {
            return false;
        }
        10
    } else if bytes.len() >= 8 && bytes[..8].iter().all(u8::is_ascii_digit) {
        8
    } else {
        return false;
    };
    match &bytes[date_len..] {
        [] => true,
        [b'v', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// `name` without an API version suffix (`CreateFunction20150331v2` →
/// `CreateFunction`): every prefix whose rest [`is_version_suffix`].
pub(crate) fn unversioned(name: &str) -> Vec<&str> {
    let bytes = name.as_bytes();
    let digits = bytes
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return Vec::new();
    }
    // A suffix ends the name, or ends before a `v` and the final digits.
    let mut ends = vec![bytes.len()];
    if digits < bytes.len() && bytes[bytes.len() - digits - 1] == b'v' {
        ends.push(bytes.len() - digits - 1);
    }
    let mut found = Vec::new();
    for end in ends {
        for date in [8, 10] {
            let Some(start) = end.checked_sub(date) else {
                continue;
            };
            if name.is_char_boundary(start) && is_version_suffix(&name[start..]) {
                found.push(&name[..start]);
            }
        }
    }
    found
}

/// What a store must fetch to score a course: events whose `eventName` starts
/// with one of `names` (with their `service`, when the requirement names one),
/// between two instants. Stores may return more; [`score`] keeps what matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidates {
    pub window: Window,
    /// `(service, name prefix)`, deduplicated, sorted.
    pub names: Vec<(Option<String>, String)>,
    /// Only this user's events (a student page, role `self`).
    pub user: Option<String>,
}

/// One stored event as scoring sees it. A class reads a hundred thousand of
/// them, whose users, services and names are a few hundred values: shared
/// (`Arc<str>`), not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub user: std::sync::Arc<str>,
    /// Seconds since the Unix epoch.
    pub time: i64,
    pub event_id: String,
    pub service: std::sync::Arc<str>,
    pub event_name: std::sync::Arc<str>,
    /// The event carries an `errorCode`.
    pub failed: bool,
}

impl Course {
    /// A lab's effective window: its own, else the course's, always inside
    /// `course` (the course window, or the one a request asks for).
    pub fn lab_window(&self, lab: &Lab, course: &Window) -> Window {
        lab.window.unwrap_or(*course).clip(course)
    }

    /// The candidate events of this course in `window` (the course window, or
    /// the one a request asks for), of every user or of one.
    pub fn candidates(&self, window: Window, user: Option<&str>) -> Candidates {
        let mut names: Vec<(Option<String>, String)> = self
            .labs
            .iter()
            .flat_map(|lab| &lab.requires)
            .map(|r| (r.service.clone(), r.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        // A requirement of any service already fetches what one of a service would.
        let any: Vec<String> = names
            .iter()
            .filter(|(s, _)| s.is_none())
            .map(|(_, n)| n.clone())
            .collect();
        names.retain(|(s, n)| s.is_none() || !any.contains(n));
        Candidates {
            window,
            names,
            user: user.map(str::to_owned),
        }
    }

    /// The sum of every requirement's count.
    pub fn total_required(&self) -> u64 {
        self.labs
            .iter()
            .flat_map(|lab| &lab.requires)
            .map(|r| u64::from(r.count))
            .sum()
    }
}

/// The page of the AWS API reference documenting `name` of `service` (the
/// services courses use most), else a search of the AWS documentation for it.
pub fn api_reference(service: Option<&str>, name: &str) -> String {
    let guide = match service {
        Some("ec2") => Some("AWSEC2/latest/APIReference"),
        Some("s3") => Some("AmazonS3/latest/API"),
        Some("rds") => Some("AmazonRDS/latest/APIReference"),
        Some("dynamodb") => Some("amazondynamodb/latest/APIReference"),
        Some("lambda") => Some("lambda/latest/api"),
        Some("iam") => Some("IAM/latest/APIReference"),
        Some("sts") => Some("STS/latest/APIReference"),
        Some("apigateway") => Some("apigateway/latest/api"),
        Some("cloudformation") => Some("AWSCloudFormation/latest/APIReference"),
        Some("elasticloadbalancing") => Some("elasticloadbalancing/latest/APIReference"),
        Some("autoscaling") => Some("autoscaling/ec2/APIReference"),
        Some("monitoring") => Some("AmazonCloudWatch/latest/APIReference"),
        Some("sns") => Some("sns/latest/api"),
        Some("sqs") => Some("AWSSimpleQueueService/latest/APIReference"),
        Some("ecs") => Some("AmazonECS/latest/APIReference"),
        Some("kms") => Some("kms/latest/APIReference"),
        _ => None,
    };
    // Requirement names are ASCII letters, digits and `_` (checked when read).
    match guide {
        Some(guide) => format!("https://docs.aws.amazon.com/{guide}/API_{name}.html"),
        None => format!("https://docs.aws.amazon.com/search/doc-search.html?searchQuery={name}"),
    }
}

#[cfg(test)]
mod tests;
