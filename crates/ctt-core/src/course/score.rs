//! Scoring (SPEC §10): the original's greedy credit in lab order, made exact.
//!
//! Labs in file order, within a lab requirements in file order: a requirement
//! takes up to `count` of the student's matching events that lie in the lab's
//! window and were not taken before, earliest first (`eventTime`, then
//! `eventID`). Taken events are credited and unavailable to every later one.
//!
//! Because credit is earliest first, the events credited when only the events up
//! to a day D are known are exactly the credited events up to D: the [`timeline`]
//! scores each student once and counts.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::{Course, Hit, Hundredths, Window};
use crate::time::{format_event_time, from_seconds, to_seconds};

/// A student's standing in a course.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    #[serde(rename = "not started")]
    #[cfg_attr(feature = "utoipa", schema(rename = "not started"))]
    NotStarted,
    #[serde(rename = "in progress")]
    #[cfg_attr(feature = "utoipa", schema(rename = "in progress"))]
    InProgress,
    #[serde(rename = "completed")]
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not started",
            Status::InProgress => "in progress",
            Status::Completed => "completed",
        }
    }
}

/// An event credited to a requirement.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditedEvent {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "eventTime")]
    pub event_time: String,
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(skip)]
    pub time: i64,
}

/// One requirement of a lab, for one student.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequirementScore {
    /// As in the course file: `ec2:RunInstances` or `CreateKeyPair`.
    pub event: String,
    pub count: u32,
    pub credited: u32,
    pub missing: u32,
    /// The credited events, earliest first.
    pub events: Vec<CreditedEvent>,
}

/// One lab, for one student.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabScore {
    pub id: String,
    pub name: String,
    pub progress: Hundredths,
    pub completed: bool,
    /// The latest credited event's time, if any.
    pub last: Option<String>,
    /// Each requirement, its credited events (left out of a class's
    /// [summary](ClassProgress::summary)).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<RequirementScore>,
}

/// One student of a course.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StudentScore {
    pub student: String,
    pub status: Status,
    pub grade: Hundredths,
    pub completion: Hundredths,
    pub labs: Vec<LabScore>,
}

/// Per lab over the class.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabSummary {
    pub id: String,
    pub name: String,
    /// Mean progress over the class.
    pub average: Hundredths,
    pub completed: u32,
    pub in_progress: u32,
    pub not_started: u32,
}

/// How many students are in each status.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub completed: u32,
    pub in_progress: u32,
    pub not_started: u32,
}

/// A class against a course.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassProgress {
    pub course: String,
    pub from: String,
    pub to: String,
    pub pass: Hundredths,
    pub labs: Vec<LabSummary>,
    pub counts: Counts,
    /// The lab with most students at 0 < progress < pass (first in file order
    /// on a tie), if any student is part-way through one.
    pub stuck: Option<String>,
    /// Sorted by student.
    pub students: Vec<StudentScore>,
}

/// The class band on one day of the course.
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineDay {
    #[cfg_attr(feature = "utoipa", schema(value_type = String, format = Date))]
    pub day: NaiveDate,
    pub p25: Hundredths,
    pub p50: Hundredths,
    pub p75: Hundredths,
}

/// Scores one student. `hits` may hold anything (other users' events, events
/// that match nothing): only the student's matching events count.
pub fn score(course: &Course, window: &Window, student: &str, hits: &[Hit]) -> StudentScore {
    let own = hits.iter().filter(|h| &*h.user == student).collect();
    score_own(course, window, student, own)
}

/// [`score`] of the student's own events.
fn score_own(course: &Course, window: &Window, student: &str, mut own: Vec<&Hit>) -> StudentScore {
    own.retain(|h| course.count_failed || !h.failed);
    own.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
    own.dedup_by(|a, b| a.event_id == b.event_id);
    let mut taken = vec![false; own.len()];
    // Each requirement's matching events, in credit order: found once per
    // event through the names it could stand for (itself, or without its
    // version suffix), so scoring is linear in the student's events.
    let candidates = candidates_by_requirement(course, &own);

    let mut labs = Vec::with_capacity(course.labs.len());
    let (mut credited_all, mut grade_sum) = (0u64, 0u64);
    let mut flat = 0;
    for lab in &course.labs {
        let lab_window = course.lab_window(lab, window);
        let (from, to) = (to_seconds(lab_window.from), to_seconds(lab_window.to));
        let mut requirements = Vec::with_capacity(lab.requires.len());
        let (mut credited_lab, mut required_lab, mut last) = (0u64, 0u64, None::<i64>);
        for requirement in &lab.requires {
            let mut events = Vec::new();
            for &i in &candidates[flat] {
                if events.len() as u32 == requirement.count {
                    break;
                }
                let hit = own[i];
                if taken[i] || hit.time < from || hit.time > to {
                    continue;
                }
                taken[i] = true;
                last = last.max(Some(hit.time));
                events.push(CreditedEvent {
                    event_id: hit.event_id.clone(),
                    event_time: format_event_time(from_seconds(hit.time)),
                    event_name: hit.event_name.to_string(),
                    time: hit.time,
                });
            }
            flat += 1;
            let credited = events.len() as u32;
            credited_lab += u64::from(credited);
            required_lab += u64::from(requirement.count);
            requirements.push(RequirementScore {
                event: requirement.event(),
                count: requirement.count,
                credited,
                missing: requirement.count - credited,
                events,
            });
        }
        let progress = Hundredths::percent(credited_lab, required_lab);
        let completed = progress >= course.pass;
        credited_all += credited_lab;
        if completed {
            grade_sum += u64::from(progress.0);
        }
        labs.push(LabScore {
            id: lab.id.clone(),
            name: lab.name.clone(),
            progress,
            completed,
            last: last.map(|t| format_event_time(from_seconds(t))),
            requirements,
        });
    }
    let status = if credited_all == 0 {
        Status::NotStarted
    } else if labs.iter().all(|l| l.completed) {
        Status::Completed
    } else {
        Status::InProgress
    };
    StudentScore {
        student: student.to_owned(),
        status,
        // 10 × mean(progress / 100) = Σ progress / (10 × labs), in hundredths.
        grade: Hundredths::ratio(grade_sum, 10 * labs.len() as u64),
        completion: Hundredths::percent(credited_all, course.total_required()),
        labs,
    }
}

impl ClassProgress {
    /// The class without each student's requirements and credited events
    /// (one student's page has them): what `/courses/{id}/progress` answers,
    /// a tenth of the bytes for a class of hundreds.
    pub fn summary(mut self) -> Self {
        for student in &mut self.students {
            for lab in &mut student.labs {
                lab.requirements = Vec::new();
            }
        }
        self
    }
}

/// Scores a class: every user of `class`, with the candidate events `hits`.
pub fn class_progress(
    course: &Course,
    window: &Window,
    class: &[String],
    hits: &[Hit],
) -> ClassProgress {
    let by_user = group_by_user(hits);
    let mut students: Vec<StudentScore> = class
        .iter()
        .map(|student| {
            let own = by_user.get(student.as_str()).cloned().unwrap_or_default();
            score_own(course, window, student, own)
        })
        .collect();
    students.sort_by(|a, b| a.student.cmp(&b.student));

    let mut counts = Counts::default();
    for s in &students {
        match s.status {
            Status::Completed => counts.completed += 1,
            Status::InProgress => counts.in_progress += 1,
            Status::NotStarted => counts.not_started += 1,
        }
    }
    let labs: Vec<LabSummary> = course
        .labs
        .iter()
        .enumerate()
        .map(|(i, lab)| {
            let progress = students.iter().map(|s| s.labs[i].progress);
            let total: u64 = progress.clone().map(|p| u64::from(p.0)).sum();
            let mut summary = LabSummary {
                id: lab.id.clone(),
                name: lab.name.clone(),
                average: Hundredths::ratio(total, students.len() as u64),
                completed: 0,
                in_progress: 0,
                not_started: 0,
            };
            for p in progress {
                if p >= course.pass {
                    summary.completed += 1;
                } else if p.0 > 0 {
                    summary.in_progress += 1;
                } else {
                    summary.not_started += 1;
                }
            }
            summary
        })
        .collect();
    let mut stuck: Option<&LabSummary> = None;
    for lab in &labs {
        if lab.in_progress > stuck.map_or(0, |s| s.in_progress) {
            stuck = Some(lab);
        }
    }
    ClassProgress {
        course: course.id.clone(),
        from: format_event_time(window.from),
        to: format_event_time(window.to),
        pass: course.pass,
        stuck: stuck.map(|s| s.id.clone()),
        labs,
        counts,
        students,
    }
}

/// The most days a timeline covers (ten years).
pub const TIMELINE_MAX_DAYS: usize = 3_660;

/// For each day of `window`, the P25, P50 and P75 over the class of each
/// student's course completion counting only events up to that day's end.
pub fn timeline(
    course: &Course,
    window: &Window,
    class: &[String],
    hits: &[Hit],
) -> Vec<TimelineDay> {
    let total = course.total_required();
    let by_user = group_by_user(hits);
    // Each student's credited event times, sorted: completion by day D is the
    // number of them up to D.
    let credited: Vec<Vec<i64>> = class
        .iter()
        .map(|student| {
            let own = by_user.get(student.as_str()).cloned().unwrap_or_default();
            let scored = score_own(course, window, student, own);
            let mut times: Vec<i64> = scored
                .labs
                .iter()
                .flat_map(|l| &l.requirements)
                .flat_map(|r| &r.events)
                .map(|e| e.time)
                .collect();
            times.sort_unstable();
            times
        })
        .collect();
    window
        .days()
        .into_iter()
        .take(TIMELINE_MAX_DAYS)
        .map(|day| {
            let end = day
                .and_hms_opt(23, 59, 59)
                .map_or(i64::MAX, |t| t.and_utc().timestamp());
            let mut values: Vec<Hundredths> = credited
                .iter()
                .map(|times| {
                    let done = times.partition_point(|&t| t <= end) as u64;
                    Hundredths::percent(done, total)
                })
                .collect();
            values.sort_unstable();
            TimelineDay {
                day,
                p25: percentile(&values, 25),
                p50: percentile(&values, 50),
                p75: percentile(&values, 75),
            }
        })
        .collect()
}

/// The nearest-rank percentile of sorted values: the value at rank ⌈p/100 × N⌉
/// (0 for no values).
pub fn percentile(sorted: &[Hundredths], p: u32) -> Hundredths {
    let n = sorted.len();
    if n == 0 {
        return Hundredths(0);
    }
    let rank = (p as usize * n).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// The class export (SPEC §10): one row per student, sorted by student, with
/// the header `student,status,grade,completion,` then each lab's id in file
/// order, each cell that lab's progress. Cells that a spreadsheet would read as
/// a formula are neutralised ([`crate::csv_cell`]).
pub fn progress_csv(progress: &ClassProgress) -> String {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut header = vec!["student", "status", "grade", "completion"];
    header.extend(progress.labs.iter().map(|l| l.id.as_str()));
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(&header);
    for student in &progress.students {
        let mut row = vec![
            crate::csv_cell(&student.student).into_owned(),
            student.status.as_str().to_owned(),
            student.grade.to_string(),
            student.completion.to_string(),
        ];
        row.extend(student.labs.iter().map(|l| l.progress.to_string()));
        let _ = writer.write_record(&row);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// For each requirement of the course (labs in order, flattened), the indices
/// of the events of `own` (sorted) that match it, in order.
fn candidates_by_requirement(course: &Course, own: &[&Hit]) -> Vec<Vec<usize>> {
    let requirements: Vec<&super::Requirement> =
        course.labs.iter().flat_map(|l| &l.requires).collect();
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in requirements.iter().enumerate() {
        by_name.entry(r.name.as_str()).or_default().push(i);
    }
    let mut candidates = vec![Vec::new(); requirements.len()];
    for (i, hit) in own.iter().enumerate() {
        let name = &*hit.event_name;
        for key in std::iter::once(name).chain(super::unversioned(name)) {
            for &r in by_name.get(key).map_or(&[][..], Vec::as_slice) {
                if requirements[r].matches(&hit.service, name) {
                    candidates[r].push(i);
                }
            }
        }
    }
    candidates
}

fn group_by_user(hits: &[Hit]) -> HashMap<&str, Vec<&Hit>> {
    let mut by_user: HashMap<&str, Vec<&Hit>> = HashMap::new();
    for hit in hits {
        by_user.entry(&*hit.user).or_default().push(hit);
    }
    by_user
}
