//! Every rule of SPEC §10, each with a hand-computed answer, and the scorer
//! against a naive reference over generated histories.

use chrono::{TimeZone, Utc};

use super::*;

const COURSE: &str = r#"
id = "cloud-2026"
name = "Cloud Computing 2025/26"
from = "2025-09-01"
to = "2026-07-31"
students = "^alucloud[0-9]{3}$"
pass = 80

[[lab]]
id = "ec2"
name = "EC2: launch, stop, clean up"
from = "2025-10-01"
to = "2025-10-15"
requires = [
  { event = "ec2:RunInstances", count = 2 },
  { event = "ec2:TerminateInstances", count = 2 },
  { event = "CreateKeyPair" },
]

[[lab]]
id = "lambda"
name = "Serverless"
requires = [
  { event = "lambda:CreateFunction" },
  { event = "ec2:RunInstances" },
]
"#;

fn course() -> Course {
    Course::parse(COURSE).unwrap_or_else(|e| panic!("{e}"))
}

fn at(day: u32, hour: u32) -> i64 {
    // Days counted from 2025-10-01.
    Utc.with_ymd_and_hms(2025, 10, 1, hour, 0, 0)
        .single()
        .map(|t| t.timestamp() + i64::from(day) * 86_400)
        .unwrap_or_default()
}

fn hit(user: &str, time: i64, id: &str, service: &str, name: &str) -> Hit {
    Hit {
        user: user.into(),
        time,
        event_id: id.into(),
        service: service.into(),
        event_name: name.into(),
        failed: false,
    }
}

fn failed(mut hit: Hit) -> Hit {
    hit.failed = true;
    hit
}

#[test]
fn a_course_file_is_read_as_written() {
    let c = course();
    assert_eq!(c.id, "cloud-2026");
    assert_eq!(c.pass, Hundredths(8000));
    assert!(!c.count_failed);
    assert_eq!(c.labs.len(), 2);
    assert_eq!(c.labs[0].requires[2].count, 1, "count defaults to 1");
    assert_eq!(c.labs[0].requires[2].service, None);
    assert_eq!(c.labs[0].requires[0].event(), "ec2:RunInstances");
    // A date-only `to` is the whole day.
    assert_eq!(c.window.to.to_rfc3339(), "2026-07-31T23:59:59+00:00");
    assert_eq!(
        c.labs[0].window.map(|w| w.to.to_rfc3339()),
        Some("2025-10-15T23:59:59+00:00".to_owned())
    );
    assert_eq!(c.labs[1].window, None, "else the course's");
    assert_eq!(c.total_required(), 7);
    assert!(c.students.includes("alucloud007"));
    assert!(!c.students.includes("alucloud07"));
}

#[test]
fn mistakes_are_named_with_their_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("unknown key", "pass = 80", 8, "unknown field `colour`"),
        (
            "bad regex",
            "students = \"^alucloud[0-9{3}$\"",
            6,
            "not a valid regex",
        ),
        (
            "count of 0",
            "{ event = \"CreateKeyPair\" },",
            17,
            "`count` must be between 1",
        ),
        ("unknown time", "to = \"2025-10-15\"", 13, "`to`:"),
        (
            "duplicate lab",
            "id = \"lambda\"",
            21,
            "duplicate lab id `ec2`",
        ),
    ];
    for (what, line, number, message) in cases {
        let broken = match *what {
            "unknown key" => COURSE.replace(line, "pass = 80\ncolour = \"blue\""),
            "bad regex" => COURSE.replace("^alucloud[0-9]{3}$", "^alucloud[0-9{3}$"),
            "count of 0" => COURSE.replace(
                "{ event = \"CreateKeyPair\" },",
                "{ event = \"CreateKeyPair\", count = 0 },",
            ),
            "unknown time" => COURSE.replace("to = \"2025-10-15\"", "to = \"15/10/2025\""),
            "duplicate lab" => COURSE.replace("id = \"lambda\"", "id = \"ec2\""),
            _ => unreachable!(),
        };
        let error = Course::parse(&broken).expect_err(what);
        assert_eq!(error.line, Some(*number), "{what}: {error}");
        assert!(error.message.contains(message), "{what}: {error}");
        assert!(error.to_string().starts_with(&format!("line {number}: ")));
    }
    for (broken, message) in [
        (
            COURSE.replace("id = \"cloud-2026\"", "id = \"Cloud 2026\""),
            "a-z, 0-9",
        ),
        (
            COURSE.replace(
                "ec2:RunInstances\", count = 2 },\n  { event = \"ec2:T",
                "ec2 RunInstances\", count = 2 },\n  { event = \"ec2:T",
            ),
            "expected SERVICE:EventName",
        ),
        (
            COURSE.replace("from = \"2025-10-01\"", "from = \"2025-08-01\""),
            "inside the course",
        ),
        (COURSE.replace("pass = 80", "pass = 180"), "at most 100"),
        (
            COURSE.replace("students = \"^alucloud[0-9]{3}$\"", "students = []"),
            "lists nobody",
        ),
    ] {
        let error = Course::parse(&broken).expect_err(message);
        assert!(error.message.contains(message), "{error}");
        assert!(error.line.is_some(), "{error}");
    }
    let syntax = Course::parse("id = \"x\"\nname = ").expect_err("syntax");
    assert_eq!(syntax.line, Some(2), "{syntax}");
    let no_labs = Course::parse(COURSE.split("[[lab]]").next().unwrap_or_default());
    assert!(no_labs.is_err_and(|e| e.message.contains("[[lab]]")));
}

#[test]
fn times_may_be_toml_dates_and_students_a_list() {
    let source = COURSE
        .replace("from = \"2025-09-01\"", "from = 2025-09-01")
        .replace(
            "students = \"^alucloud[0-9]{3}$\"",
            "students = [\"bob\", \"alice\", \"bob\"]",
        );
    let c = Course::parse(&source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.window.from.to_rfc3339(), "2025-09-01T00:00:00+00:00");
    // A listed user with no events is in the class; duplicates once.
    assert_eq!(c.students.class(["carol"]), vec!["alice", "bob"]);
    assert_eq!(
        course()
            .students
            .class(["alucloud001", "x", "alucloud002"])
            .len(),
        2
    );
}

#[test]
fn version_suffixes_match_and_nothing_else_does() {
    let r = Requirement {
        service: Some("lambda".into()),
        name: "CreateFunction".into(),
        count: 1,
    };
    for name in [
        "CreateFunction",
        "CreateFunction20150331",
        "CreateFunction2015_03_31",
        "CreateFunction20150331v2",
    ] {
        assert!(r.matches("lambda", name), "{name}");
    }
    for name in [
        "CreateFunctionUrlConfig",
        "CreateFunction2015033",
        "CreateFunction20150331v",
        "CreateFunction20150331x",
        "createFunction",
    ] {
        assert!(!r.matches("lambda", name), "{name}");
    }
    assert!(!r.matches("ec2", "CreateFunction"), "service-qualified");
    let any = Requirement { service: None, ..r };
    assert!(
        any.matches("ec2", "CreateFunction20150331v2"),
        "any service"
    );
}

#[test]
fn credit_is_greedy_in_lab_order_earliest_first_each_event_once() {
    let c = course();
    let w = c.window;
    let s = "alucloud001";
    let hits = vec![
        // Three RunInstances in the EC2 lab's window: the two earliest go to the
        // EC2 lab, the third to the lambda lab's RunInstances.
        hit(s, at(2, 10), "r3", "ec2", "RunInstances"),
        hit(s, at(1, 10), "r1", "ec2", "RunInstances"),
        hit(s, at(1, 10), "r2", "ec2", "RunInstances"), // same second: by eventID
        hit(s, at(3, 10), "t1", "ec2", "TerminateInstances"),
        failed(hit(s, at(3, 11), "t2", "ec2", "TerminateInstances")),
        hit(s, at(30, 10), "t3", "ec2", "TerminateInstances"), // after the lab
        hit(s, at(4, 10), "k1", "ec2", "CreateKeyPair"),
        hit(s, at(40, 10), "f1", "lambda", "CreateFunction20150331"),
        hit("alucloud002", at(1, 9), "x1", "ec2", "RunInstances"),
    ];
    let scored = score(&c, &w, s, &hits);
    let ec2 = &scored.labs[0];
    let ids = |r: &RequirementScore| {
        r.events
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&ec2.requirements[0]), ["r1", "r2"]);
    assert_eq!(
        ids(&ec2.requirements[1]),
        ["t1"],
        "failed and late ones do not count"
    );
    assert_eq!(ec2.requirements[1].missing, 1);
    assert_eq!(ids(&ec2.requirements[2]), ["k1"]);
    // 4 of 5: 80.00 ≥ pass 80.
    assert_eq!(ec2.progress, Hundredths(8000));
    assert!(ec2.completed);
    assert_eq!(ec2.last.as_deref(), Some("2025-10-05T10:00:00Z"));
    let lambda = &scored.labs[1];
    assert_eq!(ids(&lambda.requirements[0]), ["f1"]);
    assert_eq!(ids(&lambda.requirements[1]), ["r3"], "the one left over");
    assert_eq!(lambda.progress, Hundredths(10_000));
    assert_eq!(scored.status, Status::Completed);
    // 6 of 7 = 85.714… → 85.71; grade = 10 × (0.8 + 1.0) / 2 = 9.00.
    assert_eq!(scored.completion, Hundredths(8571));
    assert_eq!(scored.grade, Hundredths(900));

    // count_failed: the failed TerminateInstances counts too.
    let mut lenient = c.clone();
    lenient.count_failed = true;
    let scored = score(&lenient, &w, s, &hits);
    assert_eq!(ids(&scored.labs[0].requirements[1]), ["t1", "t2"]);
}

#[test]
fn progress_rounds_half_up_and_grades_only_completed_labs() {
    assert_eq!(Hundredths::percent(2, 3), Hundredths(6667));
    assert_eq!(Hundredths::percent(1, 3), Hundredths(3333));
    assert_eq!(Hundredths::percent(1, 8), Hundredths(1250));
    // 1/16 = 6.25 exactly; 1/32 = 3.125 → 3.13 (half-up).
    assert_eq!(Hundredths::percent(1, 32), Hundredths(313));
    assert_eq!(Hundredths(313).to_string(), "3.13");
    assert_eq!(Hundredths(10_000).to_string(), "100.00");
    assert_eq!(
        serde_json::to_string(&Hundredths(6667)).ok().as_deref(),
        Some("66.67")
    );

    let c = course();
    let s = "alucloud001";
    // EC2 lab 3 of 5 = 60 (in progress, below pass); lambda lab 1 of 2 = 50.
    let hits = vec![
        hit(s, at(1, 10), "r1", "ec2", "RunInstances"),
        hit(s, at(1, 11), "r2", "ec2", "RunInstances"),
        hit(s, at(1, 12), "k1", "ec2", "CreateKeyPair"),
        hit(s, at(20, 12), "f1", "lambda", "CreateFunction"),
    ];
    let scored = score(&c, &c.window, s, &hits);
    assert_eq!(scored.labs[0].progress, Hundredths(6000));
    assert!(!scored.labs[0].completed);
    assert_eq!(scored.labs[1].progress, Hundredths(5000));
    assert_eq!(scored.status, Status::InProgress);
    assert_eq!(scored.grade, Hundredths(0), "no lab completed");
    assert_eq!(scored.completion, Hundredths(5714), "4 of 7");
    let nobody = score(&c, &c.window, "alucloud009", &hits);
    assert_eq!(nobody.status, Status::NotStarted);
    assert!(nobody.labs.iter().all(|l| l.last.is_none()));
}

#[test]
fn the_class_counts_averages_and_the_stuck_lab() {
    let c = course();
    let hits = vec![
        // a: EC2 lab 2/5 = 40 (in progress); lambda 1/2 = 50 (in progress).
        hit("a", at(1, 1), "a1", "ec2", "RunInstances"),
        hit("a", at(1, 2), "a2", "ec2", "CreateKeyPair"),
        hit("a", at(20, 1), "a3", "lambda", "CreateFunction"),
        // b: lambda 1/2 = 50 (in progress).
        hit("b", at(20, 1), "b1", "lambda", "CreateFunction"),
    ];
    let class = vec!["c".to_owned(), "b".to_owned(), "a".to_owned()];
    let progress = class_progress(&c, &c.window, &class, &hits);
    let students: Vec<&str> = progress
        .students
        .iter()
        .map(|s| s.student.as_str())
        .collect();
    assert_eq!(students, ["a", "b", "c"], "sorted by student");
    assert_eq!(
        progress.counts,
        Counts {
            completed: 0,
            in_progress: 2,
            not_started: 1
        }
    );
    assert_eq!(progress.labs[0].in_progress, 1);
    assert_eq!(progress.labs[1].in_progress, 2);
    assert_eq!(progress.stuck.as_deref(), Some("lambda"));
    // EC2: (40 + 0 + 0) / 3 = 13.33; lambda: (50 + 50 + 0) / 3 = 33.33.
    assert_eq!(progress.labs[0].average, Hundredths(1333));
    assert_eq!(progress.labs[1].average, Hundredths(3333));
    // A tie goes to the first lab in file order.
    let tie = class_progress(&c, &c.window, &class, &hits[..3]);
    assert_eq!(tie.stuck.as_deref(), Some("ec2"));
    let idle = class_progress(&c, &c.window, &class, &[]);
    assert_eq!(idle.stuck, None, "nobody part-way");

    assert_eq!(
        progress_csv(&progress),
        "student,status,grade,completion,ec2,lambda\n\
         a,in progress,0.00,42.86,40.00,50.00\n\
         b,in progress,0.00,14.29,0.00,50.00\n\
         c,not started,0.00,0.00,0.00,0.00\n"
    );
    let hostile = class_progress(&c, &c.window, &["=cmd|x".to_owned()], &[]);
    assert!(
        progress_csv(&hostile).contains("\n'=cmd|x,"),
        "a formula is neutralised"
    );
}

#[test]
fn the_timeline_band_counts_events_up_to_each_day() {
    let mut c = course();
    c.window = Window {
        from: Utc
            .with_ymd_and_hms(2025, 10, 1, 0, 0, 0)
            .single()
            .unwrap_or_default(),
        to: Utc
            .with_ymd_and_hms(2025, 10, 4, 23, 59, 59)
            .single()
            .unwrap_or_default(),
    };
    c.labs[0].window = None;
    let hits = vec![
        hit("a", at(0, 10), "a1", "ec2", "RunInstances"),
        hit("a", at(2, 23) + 3599, "a2", "ec2", "RunInstances"), // 23:59:59 of day 3
        hit("b", at(1, 0), "b1", "ec2", "CreateKeyPair"),
        hit("b", at(1, 1), "b2", "lambda", "CreateFunction"),
        hit("b", at(1, 2), "b3", "ec2", "RunInstances"),
        hit("b", at(1, 3), "b4", "ec2", "RunInstances"),
        hit("b", at(1, 4), "b5", "ec2", "RunInstances"),
    ];
    let class: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
    let days = timeline(&c, &c.window, &class, &hits);
    assert_eq!(days.len(), 4);
    // Day 1: a 1/7 = 14.29, others 0 → sorted [0, 0, 0, 14.29]:
    // P25 rank ⌈1⌉ = 0, P50 rank 2 = 0, P75 rank 3 = 0.
    assert_eq!(days[0].day.to_string(), "2025-10-01");
    assert_eq!(
        (days[0].p25, days[0].p50, days[0].p75),
        (Hundredths(0), Hundredths(0), Hundredths(0))
    );
    // Day 2: b has 5/7 = 71.43 → [0, 0, 14.29, 71.43]: P75 = 14.29.
    assert_eq!(days[1].p75, Hundredths(1429));
    // Day 3: a 2/7 = 28.57 (its 23:59:59 event counts) → [0, 0, 28.57, 71.43].
    assert_eq!(days[2].p75, Hundredths(2857));
    assert_eq!(days[2].p50, Hundredths(0));
    let values = [1, 2, 3, 4, 5].map(Hundredths);
    assert_eq!(percentile(&values, 25), Hundredths(2), "rank ⌈1.25⌉ = 2");
    assert_eq!(percentile(&values, 50), Hundredths(3));
    assert_eq!(percentile(&values, 75), Hundredths(4), "rank ⌈3.75⌉ = 4");
    assert_eq!(percentile(&[], 50), Hundredths(0));
}

#[test]
fn candidates_name_each_requirement_once() {
    let c = course();
    let candidates = c.candidates(c.window, Some("alucloud001"));
    assert_eq!(
        candidates.names,
        vec![
            (None, "CreateKeyPair".to_owned()),
            (Some("ec2".to_owned()), "RunInstances".to_owned()),
            (Some("ec2".to_owned()), "TerminateInstances".to_owned()),
            (Some("lambda".to_owned()), "CreateFunction".to_owned()),
        ]
    );
    assert_eq!(candidates.user.as_deref(), Some("alucloud001"));
}

/// The scorer against a literal reading of SPEC §10, over generated histories.
mod reference {
    use proptest::prelude::*;

    use super::super::*;

    /// SPEC §10 read literally: for each lab, each requirement, repeatedly take
    /// the earliest untaken matching event in the window until `count`.
    fn naive(course: &Course, student: &str, hits: &[Hit]) -> (Vec<Vec<Vec<String>>>, u32, u32) {
        let mut taken: Vec<String> = Vec::new();
        let mut credited = Vec::new();
        let mut grade_sum = 0.0f64;
        let (mut got, mut need) = (0u32, 0u32);
        for lab in &course.labs {
            let window = course.lab_window(lab, &course.window);
            let mut lab_credit = Vec::new();
            let (mut lab_got, mut lab_need) = (0u32, 0u32);
            for r in &lab.requires {
                let mut ids = Vec::new();
                for _ in 0..r.count {
                    let best = hits
                        .iter()
                        .filter(|h| &*h.user == student)
                        .filter(|h| course.count_failed || !h.failed)
                        .filter(|h| window.contains(h.time))
                        .filter(|h| r.matches(&h.service, &h.event_name))
                        .filter(|h| !taken.contains(&h.event_id))
                        .min_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
                    if let Some(h) = best {
                        taken.push(h.event_id.clone());
                        ids.push(h.event_id.clone());
                    }
                }
                lab_got += ids.len() as u32;
                lab_need += r.count;
                lab_credit.push(ids);
            }
            let progress = (f64::from(lab_got) * 100.0 / f64::from(lab_need) * 100.0).round();
            if progress >= f64::from(course.pass.0) {
                grade_sum += progress;
            }
            got += lab_got;
            need += lab_need;
            credited.push(lab_credit);
        }
        let completion = (f64::from(got) * 10_000.0 / f64::from(need)).round() as u32;
        let grade = (grade_sum / (10.0 * course.labs.len() as f64)).round() as u32;
        (credited, completion, grade)
    }

    const NAMES: [(&str, &str); 7] = [
        ("ec2", "RunInstances"),
        ("ec2", "TerminateInstances"),
        ("ec2", "CreateKeyPair"),
        ("lambda", "CreateFunction20150331"),
        ("s3", "CreateBucket"),
        ("lambda", "UpdateFunctionCode20150331v2"),
        ("cloudfront", "CreateDistribution2020_05_31"),
    ];

    fn history() -> impl Strategy<Value = Vec<Hit>> {
        prop::collection::vec(
            (
                0..3usize,
                0..40i64,
                0..NAMES.len(),
                any::<bool>(),
                0..1000u32,
            ),
            0..40,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (user, day, name, failed, id))| Hit {
                    user: format!("alucloud00{user}").into(),
                    // Many events share a second: the eventID decides.
                    time: super::at(0, 0) + day * 43_200,
                    event_id: format!("{id:04}-{i}"),
                    service: NAMES[name].0.into(),
                    event_name: NAMES[name].1.into(),
                    failed: failed && id % 3 == 0,
                })
                .collect()
        })
    }

    fn course_strategy() -> impl Strategy<Value = Course> {
        let requirement = (0..NAMES.len(), any::<bool>(), 1..4u32).prop_map(|(n, any, count)| {
            let (service, name) = NAMES[n];
            Requirement {
                service: (!any).then(|| service.to_owned()),
                name: unversioned(name)
                    .first()
                    .copied()
                    .unwrap_or(name)
                    .to_owned(),
                count,
            }
        });
        let lab = (
            prop::collection::vec(requirement, 1..4),
            prop::option::of((0..20i64, 0..20i64)),
        );
        (prop::collection::vec(lab, 1..4), 1..=100u32, any::<bool>()).prop_map(
            |(labs, pass, count_failed)| {
                let mut course = super::course();
                course.pass = Hundredths(pass * 100);
                course.count_failed = count_failed;
                course.labs = labs
                    .into_iter()
                    .enumerate()
                    .map(|(i, (requires, window))| Lab {
                        id: format!("lab{i}"),
                        name: format!("Lab {i}"),
                        window: window.map(|(start, length)| Window {
                            from: from_seconds(super::at(0, 0) + start * 86_400),
                            to: from_seconds(super::at(0, 0) + (start + length) * 86_400),
                        }),
                        requires,
                    })
                    .collect();
                course
            },
        )
    }

    use crate::time::from_seconds;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn the_scorer_agrees_with_a_literal_reading(course in course_strategy(), hits in history()) {
            for user in ["alucloud000", "alucloud001", "alucloud002"] {
                let scored = score(&course, &course.window, user, &hits);
                let (credited, completion, grade) = naive(&course, user, &hits);
                let ours: Vec<Vec<Vec<String>>> = scored
                    .labs
                    .iter()
                    .map(|l| l.requirements.iter().map(|r| r.events.iter().map(|e| e.event_id.clone()).collect()).collect())
                    .collect();
                prop_assert_eq!(ours, credited);
                prop_assert_eq!(scored.completion.0, completion);
                prop_assert_eq!(scored.grade.0, grade);
            }
            // The timeline's last day equals each student's completion.
            let class: Vec<String> = (0..3).map(|u| format!("alucloud00{u}")).collect();
            let mut finals: Vec<Hundredths> = class.iter().map(|u| score(&course, &course.window, u, &hits).completion).collect();
            finals.sort_unstable();
            let mut window = course.window;
            window.to = from_seconds(super::at(45, 0));
            let mut c = course.clone();
            c.window = window;
            c.labs.iter_mut().for_each(|l| l.window = l.window.map(|w| w.clip(&window)));
            let days = timeline(&c, &window, &class, &hits);
            let last = days.last().map(|d| d.p75);
            let mut again: Vec<Hundredths> = class.iter().map(|u| score(&c, &window, u, &hits).completion).collect();
            again.sort_unstable();
            prop_assert_eq!(last, Some(percentile(&again, 75)));
        }
    }
}
