//! The course a generated class follows (SPEC §10): [`CoursePlan`] decides,
//! from the seed, how far each student gets through the labs and on which day
//! each lab is done, and [`course_toml`] writes the course file to grade them.
//!
//! Each student is dealt an engagement (deterministic per seed and student):
//!
//! * about 8% **never start**: they sign in once, look around and do nothing
//!   else in the account while the course runs (so the class lists them);
//! * about 37% **finish**: every lab's required calls, on a day inside its window;
//! * the rest **stop part way**: the first 1 to n−1 labs, and one in six of them
//!   is **stuck** on one required call that AWS refuses every time they try.
//!
//! On top of that, one required call in six is refused once before it goes
//! through, and the random lab and homework sessions of `activity` go on
//! around the scripted work, crediting some calls of later labs too.

use chrono::{Duration, NaiveDate};
use rand::{RngExt, SeedableRng};

use crate::GenConfig;
use crate::activity::mix;
use crate::ids::GenRng;

/// A lab: id, name, requirements (`service:EventName`, count).
type Lab = (&'static str, &'static str, &'static [(&'static str, u32)]);

/// The short course's labs, one after another over the preset's span.
const SHORT_LABS: &[Lab] = &[
    (
        "ec2",
        "EC2: launch, stop, clean up",
        &[("ec2:RunInstances", 2), ("ec2:TerminateInstances", 2)],
    ),
    (
        "s3",
        "S3 buckets",
        &[("s3:CreateBucket", 1), ("s3:PutBucketPolicy", 1)],
    ),
    (
        "rds",
        "RDS",
        &[("rds:CreateDBInstance", 1), ("rds:DeleteDBInstance", 1)],
    ),
    (
        "serverless",
        "Serverless functions",
        &[
            ("lambda:CreateFunction", 1),
            ("lambda:UpdateFunctionCode", 1),
        ],
    ),
    (
        "elb",
        "Load balancing",
        &[
            ("elasticloadbalancing:CreateLoadBalancer", 1),
            ("elasticloadbalancing:DeleteLoadBalancer", 1),
        ],
    ),
];

/// A lab of the academic-year course and its window, in days from the course's first.
struct YearLab {
    lab: Lab,
    days: (i64, i64),
}

/// The academic-year course: the labs and windows of
/// `examples/courses/cloud-computing.toml` (2017-09-11 to 2018-05-31), kept
/// equal to it by a test.
const YEAR_LABS: &[YearLab] = &[
    YearLab {
        lab: (
            "ec2-basics",
            "EC2: launch, stop, clean up",
            &[
                ("ec2:CreateKeyPair", 1),
                ("ec2:CreateSecurityGroup", 1),
                ("ec2:RunInstances", 2),
                ("ec2:StopInstances", 1),
                ("ec2:TerminateInstances", 2),
            ],
        ),
        days: (0, 27),
    },
    YearLab {
        lab: (
            "ebs",
            "EBS volumes",
            &[
                ("ec2:CreateVolume", 1),
                ("ec2:AttachVolume", 1),
                ("ec2:DetachVolume", 1),
            ],
        ),
        days: (21, 41),
    },
    YearLab {
        lab: (
            "s3",
            "S3 buckets and websites",
            &[
                ("s3:CreateBucket", 2),
                ("s3:PutBucketPolicy", 1),
                ("s3:PutBucketWebsite", 1),
                ("s3:DeleteBucket", 1),
            ],
        ),
        days: (35, 55),
    },
    YearLab {
        lab: (
            "elb",
            "Load balancing",
            &[
                ("elasticloadbalancing:CreateLoadBalancer", 1),
                ("elasticloadbalancing:RegisterInstancesWithLoadBalancer", 1),
                ("elasticloadbalancing:ConfigureHealthCheck", 1),
                ("elasticloadbalancing:DeleteLoadBalancer", 1),
            ],
        ),
        days: (56, 76),
    },
    YearLab {
        lab: (
            "autoscaling",
            "Auto Scaling",
            &[
                ("autoscaling:CreateLaunchConfiguration", 1),
                ("autoscaling:CreateAutoScalingGroup", 1),
                ("autoscaling:PutScalingPolicy", 1),
                ("monitoring:PutMetricAlarm", 1),
            ],
        ),
        days: (70, 97),
    },
    YearLab {
        lab: (
            "rds",
            "RDS",
            &[
                ("rds:CreateDBSecurityGroup", 1),
                ("rds:CreateDBInstance", 1),
                ("rds:CreateDBSnapshot", 1),
                ("rds:DeleteDBInstance", 1),
            ],
        ),
        days: (119, 139),
    },
    YearLab {
        lab: (
            "rds-ops",
            "RDS operations",
            &[("rds:ModifyDBInstance", 1), ("rds:StopDBInstance", 1)],
        ),
        days: (140, 160),
    },
    YearLab {
        lab: (
            "lambda",
            "Serverless functions",
            &[
                ("lambda:CreateFunction", 1),
                ("lambda:UpdateFunctionCode", 1),
                ("lambda:AddPermission", 1),
            ],
        ),
        days: (161, 181),
    },
    YearLab {
        lab: (
            "lambda-ops",
            "Serverless: configuration and clean-up",
            &[
                ("lambda:UpdateFunctionConfiguration", 1),
                ("lambda:DeleteFunction", 1),
            ],
        ),
        days: (175, 195),
    },
    YearLab {
        lab: (
            "s3-data",
            "S3: versioning and tags",
            &[("s3:PutBucketVersioning", 1), ("s3:PutBucketTagging", 1)],
        ),
        days: (196, 216),
    },
    YearLab {
        lab: (
            "tags",
            "Tagging and scaling groups",
            &[
                ("ec2:CreateTags", 2),
                ("autoscaling:UpdateAutoScalingGroup", 1),
            ],
        ),
        days: (210, 230),
    },
    YearLab {
        lab: (
            "ec2-ops",
            "EC2 operations",
            &[
                ("ec2:StartInstances", 1),
                ("ec2:StopInstances", 1),
                ("ec2:AuthorizeSecurityGroupIngress", 1),
            ],
        ),
        days: (231, 251),
    },
    YearLab {
        lab: (
            "project",
            "Final project",
            &[
                ("ec2:RunInstances", 2),
                ("s3:CreateBucket", 1),
                ("rds:CreateDBInstance", 1),
                ("lambda:CreateFunction", 1),
                ("ec2:TerminateInstances", 2),
            ],
        ),
        days: (238, 262),
    },
];

/// Days from the academic-year course's first day to `end`'s date, and its length.
const YEAR_BEFORE_END: i64 = 263;
const YEAR_DAYS: i64 = 263;

/// Presets of up to this many days get a course of 5 labs over their whole
/// span; longer ones the 13 labs of an academic year ending the day before `end`.
const SHORT_DAYS: u32 = 60;

/// Salt separating the course's random stream from the cast's and the days'.
const COURSE_SALT: u64 = 0x636f_7572_7365_0001;

/// One lab of the plan: what it requires, its window, the days work on it happens.
#[derive(Debug)]
pub(crate) struct LabPlan {
    pub id: &'static str,
    pub name: &'static str,
    /// `service:EventName` and how many times.
    pub requires: &'static [(&'static str, u32)],
    /// The lab's window as written in the course file (`None`: the course's).
    pub window: Option<(NaiveDate, NaiveDate)>,
    /// Day numbers (since 1970-01-01) students do the lab on, inclusive.
    work_days: (i64, i64),
}

/// How far one student gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Engagement {
    /// The labs (in course order) the student works on: the first `labs`.
    pub labs: usize,
    /// A lab and requirement (indexes) the student tries and AWS always refuses.
    pub stuck: Option<(usize, usize)>,
    /// The day number the student works on each of their labs.
    pub days: Vec<i64>,
    /// For one who never starts: the day they sign in once, look around and leave.
    pub visit: Option<i64>,
}

/// The course of a generation and each student's way through it.
#[derive(Debug)]
pub(crate) struct CoursePlan {
    pub labs: Vec<LabPlan>,
    /// The course's first and last dates.
    pub first: NaiveDate,
    pub last: NaiveDate,
    /// One per student of the cast, in cast order.
    pub students: Vec<Engagement>,
}

impl CoursePlan {
    /// The course of `config`'s history, and its `students` students' engagements.
    pub(crate) fn new(config: &GenConfig, students: usize) -> CoursePlan {
        // The course depends on the preset and `end`, not on `days`: a day's
        // records stay the same however many days are generated.
        let end = config.end.date_naive();
        let preset_days = config.preset.default_days();
        let (first, last) = if preset_days <= SHORT_DAYS {
            (end - Duration::days(i64::from(preset_days.max(1)) - 1), end)
        } else {
            let first = end - Duration::days(YEAR_BEFORE_END);
            (first, first + Duration::days(YEAR_DAYS - 1))
        };
        // Work happens on whole days: not the course's first (the history's
        // first day is partial) nor `end`'s (cut at `end`).
        let earliest = day_number(first) + 1;
        let latest = day_number(last).min(day_number(end) - 1);
        let labs: Vec<LabPlan> = if preset_days <= SHORT_DAYS {
            let n = SHORT_LABS.len() as i64;
            let length = (latest - earliest + 1).max(1);
            SHORT_LABS
                .iter()
                .enumerate()
                .map(|(i, lab)| {
                    // One after another through the course.
                    let from = earliest + length * i as i64 / n;
                    let to = (earliest + length * (i as i64 + 1) / n - 1).max(from);
                    LabPlan::new(lab, None, (from, to))
                })
                .collect()
        } else {
            YEAR_LABS
                .iter()
                .map(|year| {
                    let from = first + Duration::days(year.days.0);
                    let to = first + Duration::days(year.days.1);
                    let work = (day_number(from).max(earliest), day_number(to).min(latest));
                    LabPlan::new(&year.lab, Some((from, to)), work)
                })
                .collect()
        };
        let students = (0..students)
            .map(|student| engagement(config.seed, student, &labs))
            .collect();
        CoursePlan {
            labs,
            first,
            last,
            students,
        }
    }

    /// Whether `student` is one who never starts, on a day of the course: they
    /// then take no part in the random lab and homework sessions.
    pub(crate) fn keeps_away(&self, student: usize, day: i64) -> bool {
        self.students.get(student).is_some_and(|e| e.labs == 0)
            && (day_number(self.first)..=day_number(self.last)).contains(&day)
    }
}

impl LabPlan {
    fn new(lab: &Lab, window: Option<(NaiveDate, NaiveDate)>, work_days: (i64, i64)) -> LabPlan {
        let (id, name, requires) = *lab;
        LabPlan {
            id,
            name,
            requires,
            window,
            work_days,
        }
    }
}

/// Days since 1970-01-01.
fn day_number(date: NaiveDate) -> i64 {
    date.signed_duration_since(NaiveDate::default()).num_days()
}

/// Deals `student` their engagement, from the seed alone.
fn engagement(seed: u64, student: usize, labs: &[LabPlan]) -> Engagement {
    let mut rng = GenRng::seed_from_u64(mix(seed ^ COURSE_SALT).wrapping_add(student as u64));
    let n = labs.len();
    let roll = rng.random_range(0..100);
    let done = match roll {
        0..8 => 0,
        8..45 => n,
        _ => rng.random_range(1..n.max(2)).min(n),
    };
    let stuck = (done > 0 && done < n && rng.random_ratio(1, 6)).then(|| {
        let lab = rng.random_range(0..done);
        (lab, rng.random_range(0..labs[lab].requires.len()))
    });
    let days = labs[..done]
        .iter()
        .map(|lab| rng.random_range(lab.work_days.0..=lab.work_days.1.max(lab.work_days.0)))
        .collect();
    let visit = match (done, labs.first(), labs.last()) {
        (0, Some(first), Some(last)) => {
            Some(rng.random_range(first.work_days.0..=last.work_days.1.max(first.work_days.0)))
        }
        _ => None,
    };
    Engagement {
        labs: done,
        stuck,
        days,
        visit,
    }
}

/// The course file (SPEC §10 TOML) for the class of `config`'s history.
pub fn course_toml(config: &GenConfig) -> String {
    let plan = CoursePlan::new(config, 0);
    let mut toml = format!(
        "# The course the class of `ctt gen --preset {} --seed {}` follows (SPEC §10).\n\
         id = \"gen-course\"\n\
         name = \"Cloud Computing (generated class)\"\n\
         from = \"{}\"\n\
         to = \"{}\"\n\
         students = \"^alucloud[0-9]{{3}}$\"\n\
         pass = 80\n",
        config.preset, config.seed, plan.first, plan.last
    );
    for lab in &plan.labs {
        toml.push_str(&format!(
            "\n[[lab]]\nid = \"{}\"\nname = \"{}\"\n",
            lab.id, lab.name
        ));
        if let Some((from, to)) = lab.window {
            toml.push_str(&format!("from = \"{from}\"\nto = \"{to}\"\n"));
        }
        let requires: Vec<String> = lab
            .requires
            .iter()
            .map(|(event, count)| format!("{{ event = \"{event}\", count = {count} }}"))
            .collect();
        toml.push_str(&format!("requires = [{}]\n", requires.join(", ")));
    }
    toml
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::Preset;

    #[test]
    fn the_course_reads_and_fits_the_window() {
        let end = Utc
            .with_ymd_and_hms(2018, 6, 15, 12, 0, 0)
            .single()
            .unwrap_or_default();
        for (preset, labs, to) in [
            (Preset::Small, 5, "2018-06-15"),
            (Preset::Paper, 13, "2018-06-14"),
        ] {
            let config = GenConfig::new(preset, 1, end);
            let source = course_toml(&config);
            let course = ctt_core::course::Course::parse(&source)
                .unwrap_or_else(|e| panic!("{preset}: {e}\n{source}"));
            assert_eq!(course.labs.len(), labs, "{preset}");
            assert_eq!(
                course.window.to.to_rfc3339(),
                format!("{to}T23:59:59+00:00")
            );
            assert!(course.students.includes("alucloud042"));
            assert_eq!(course_toml(&config), source, "deterministic");
        }
    }

    /// The paper class follows the example course: same labs, calls and windows.
    #[test]
    fn the_paper_course_is_the_example_course() {
        let example = ctt_core::course::Course::parse(include_str!(
            "../../../examples/courses/cloud-computing.toml"
        ))
        .expect("the example parses");
        let end = Utc
            .with_ymd_and_hms(2018, 6, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let generated =
            ctt_core::course::Course::parse(&course_toml(&GenConfig::new(Preset::Paper, 1, end)))
                .expect("the generated course parses");
        assert_eq!(generated.window, example.window);
        assert_eq!(generated.labs, example.labs);
    }

    #[test]
    fn version_suffixes_are_dropped_from_names() {
        use crate::calls::unversioned;
        assert_eq!(
            unversioned("UpdateFunctionCode20150331v2"),
            "UpdateFunctionCode"
        );
        assert_eq!(unversioned("CreateFunction20150331"), "CreateFunction");
        assert_eq!(unversioned("RunInstances"), "RunInstances");
        assert_eq!(unversioned("PutBucketVersioning"), "PutBucketVersioning");
    }

    /// Issue 14: some finish, some stop part way, some never start, some are
    /// stuck on a refused call; each lab on a day inside its window; the same
    /// for a seed, another for another seed.
    #[test]
    fn students_are_dealt_every_engagement_within_the_windows() {
        let end = Utc
            .with_ymd_and_hms(2018, 6, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let config = GenConfig::new(Preset::Paper, 1, end);
        let plan = CoursePlan::new(&config, 350);
        let n = plan.labs.len();
        let count = |f: &dyn Fn(&Engagement) -> bool| plan.students.iter().filter(|e| f(e)).count();
        let never = count(&|e| e.labs == 0);
        let finish = count(&|e| e.labs == n);
        let stuck = count(&|e| e.stuck.is_some());
        assert!((10..=50).contains(&never), "never: {never}");
        assert!((90..=170).contains(&finish), "finish: {finish}");
        assert!(
            350 - never - finish >= 120,
            "part way: {}",
            350 - never - finish
        );
        assert!((5..=60).contains(&stuck), "stuck: {stuck}");
        for e in &plan.students {
            assert_eq!(e.days.len(), e.labs);
            assert_eq!(e.visit.is_some(), e.labs == 0);
            if let Some((lab, requirement)) = e.stuck {
                assert!(e.labs < n && lab < e.labs && requirement < plan.labs[lab].requires.len());
            }
            for (lab, day) in plan.labs.iter().zip(&e.days) {
                let (from, to) = lab.window.expect("13 labs have windows");
                assert!((day_number(from)..=day_number(to)).contains(day));
                assert!(*day < day_number(end.date_naive()), "`end`'s day is cut");
            }
        }
        let again = CoursePlan::new(&config, 350);
        assert_eq!(again.students, plan.students);
        let other = CoursePlan::new(&GenConfig::new(Preset::Paper, 2, end), 350);
        assert_ne!(other.students, plan.students);
        // The short course: labs one after another over the preset's two weeks.
        let small = CoursePlan::new(&GenConfig::new(Preset::Small, 1, end), 60);
        let days: Vec<i64> = small.students.iter().flat_map(|e| e.days.clone()).collect();
        assert!(
            days.iter()
                .all(|d| (day_number(small.first)..day_number(small.last)).contains(d))
        );
        for e in &small.students {
            assert!(
                e.days.windows(2).all(|w| w[0] <= w[1]),
                "labs in order: {e:?}"
            );
        }
    }
}
