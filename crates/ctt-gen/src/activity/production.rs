//! A busy production account (the `scale` preset, issue "Scale"): thousands
//! of principals calling around the clock — workload roles (functions' and
//! tasks' execution roles, instance profiles), people through SSO, CI/CD
//! deploy roles — most calls reads that the default filter drops, the rest
//! changes.
//!
//! Principals are numbered and derived from their number (name, principal
//! ID): nothing per principal is kept in the cast, however many there are.
//! Some are much busier than others (a principal's share falls with its
//! number, as in real accounts where a few roles make most calls).

use rand::RngExt;

use super::{Day, mix};
use crate::calls::{self, Topic, Workspace};
use crate::cast::Role;
use crate::ids;
use crate::preset::Production;
use crate::record::{Actor, event_time};

/// Teams a workload role belongs to (part of its name).
const TEAMS: [&str; 8] = [
    "checkout", "search", "payments", "catalog", "identity", "ingest", "reports", "mobile",
];

/// SDKs that workloads and pipelines call with.
const AGENTS: [&str; 4] = [
    "aws-sdk-java/2.25.11 Linux/5.10.219 OpenJDK_64-Bit_Server_VM/17.0.11",
    "Boto3/1.34.84 md/Botocore#1.34.84 ua/2.0 os/linux#5.10.219 md/arch#x86_64 lang/python#3.12.3",
    "aws-sdk-go-v2/1.26.1 os/linux lang/go#1.22.2 md/GOOS#linux md/GOARCH#amd64",
    "aws-cli/2.15.40 Python/3.11.8 Linux/6.1.84 exe/x86_64.amzn.2023",
];

/// Who makes a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    /// A workload role, by number.
    Workload(u32),
    /// A person signed in through SSO, by number.
    Person(u32),
    /// A deploy role of a pipeline, by number.
    Deployer(u32),
}

/// The day's calls of the busy account (the first of the cast).
pub(super) fn busy(day: &mut Day, load: &Production) {
    let spread = day.rng.random_range(0.9..1.1);
    let calls = (load.records_per_day * spread) as u64;
    // Resources the day's changes create, so later calls name some of them;
    // shared by principals (bounded, whatever their number).
    let mut workspaces: Vec<Workspace> = (0..64)
        .map(|n| Workspace::new(&format!("{}-{n:02}", TEAMS[n % TEAMS.len()])))
        .collect();
    for _ in 0..calls {
        let caller = pick_caller(day, load);
        call(day, load, caller, &mut workspaces);
    }
}

/// A caller: workloads most of the time, people in working hours, pipelines.
fn pick_caller(day: &mut Day, load: &Production) -> Caller {
    // u² skews toward the first numbers: a few principals make most calls.
    let skewed = |day: &mut Day, n: u32| {
        let u: f64 = day.rng.random();
        ((u * u * f64::from(n)) as u32).min(n.saturating_sub(1))
    };
    let x: f64 = day.rng.random();
    if x < 0.72 {
        Caller::Workload(skewed(day, load.workload_roles))
    } else if x < 0.93 {
        Caller::Person(skewed(day, load.people))
    } else {
        Caller::Deployer(skewed(day, load.deployers))
    }
}

fn call(day: &mut Day, load: &Production, caller: Caller, workspaces: &mut [Workspace]) {
    let cast = day.cast;
    let account = &cast.accounts[0];
    let (role, session, topic, write_share, from_hour, to_hour) = match caller {
        Caller::Workload(n) => (
            workload_role(n),
            // A function's or a task's session is named after it.
            workload_role(n).name,
            Topic::ALL[n as usize % Topic::ALL.len()],
            load.write_share * 0.8,
            0,
            24,
        ),
        Caller::Person(n) => (
            if n % 7 == 0 {
                Role {
                    name: "AWSReservedSSO_AdministratorAccess_7f3e21".to_owned(),
                    path: "aws-reserved/sso.amazonaws.com/",
                    principal_id: principal_id(0x5350, 0),
                }
            } else {
                Role {
                    name: "AWSReservedSSO_PowerUserAccess_29c0d4".to_owned(),
                    path: "aws-reserved/sso.amazonaws.com/",
                    principal_id: principal_id(0x5350, 1),
                }
            },
            format!("person{n:04}@example.com"),
            Topic::ALL[day.rng.random_range(0..Topic::ALL.len())],
            load.write_share * 1.2,
            7,
            20,
        ),
        Caller::Deployer(n) => (
            Role {
                name: format!("deploy-{}-{n:03}", TEAMS[n as usize % TEAMS.len()]),
                path: "ci/",
                principal_id: principal_id(0xD3, n),
            },
            format!("deploy-{}-{n:03}", TEAMS[n as usize % TEAMS.len()]),
            [Topic::Functions, Topic::Scaling, Topic::Ec2][n as usize % 3],
            (load.write_share * 2.5).min(0.9),
            6,
            22,
        ),
    };
    let at = day.random_time(from_hour * 3600..to_hour * 3600);
    let region = day.session_region();
    let key = ids::access_key_id(&mut day.rng, "ASIA");
    let created = event_time(at - day.rng.random_range(60..3600));
    let identity = account.assumed_role_identity(&role, &session, &key, &created, None);
    let person = matches!(caller, Caller::Person(_));
    let console = person && day.rng.random_ratio(1, 2);
    let actor = Actor {
        account: 0,
        identity: Some(identity),
        source_ip: if person {
            format!(
                "203.0.{}.{}",
                day.rng.random_range(0..256),
                day.rng.random_range(1..255)
            )
        } else {
            format!(
                "10.{}.{}.{}",
                day.rng.random_range(0..256),
                day.rng.random_range(0..256),
                day.rng.random_range(1..255)
            )
        },
        user_agent: if console {
            "AWS Internal".to_owned()
        } else {
            AGENTS[day.rng.random_range(0..AGENTS.len())].to_owned()
        },
        console,
        service: false,
    };
    let slot = (mix(u64::from(match caller {
        Caller::Workload(n) | Caller::Person(n) | Caller::Deployer(n) => n,
    })) % workspaces.len() as u64) as usize;
    let scope = day.scope(0, region, at);
    let change = day.rng.random_bool(write_share.clamp(0.0, 1.0));
    let made = if change {
        calls::write(&mut day.rng, &scope, &mut workspaces[slot], topic)
    } else {
        calls::read(&mut day.rng, &scope, &workspaces[slot], topic)
    };
    day.emit(at, &actor, region, made);
}

/// Workload role `n`: `svc-TEAM-NNNN`, a service role.
fn workload_role(n: u32) -> Role {
    Role {
        name: format!("svc-{}-{n:04}", TEAMS[n as usize % TEAMS.len()]),
        path: "service-role/",
        principal_id: principal_id(0x5743, n),
    }
}

/// A role's principal ID (`AROA` and 17 characters), from its kind and number.
fn principal_id(kind: u64, n: u32) -> String {
    let h = mix((kind << 32) | u64::from(n));
    format!("AROA{:016X}{}", h, h % 10)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::activity::{DAY_SECS, day_rng};
    use crate::cast::Cast;
    use crate::course::CoursePlan;
    use crate::{GenConfig, Preset};

    /// `calls` records of `preset`'s production account, for day `number`,
    /// each as JSON.
    fn busy_day(preset: Preset, seed: u64, number: i64, calls: f64) -> Vec<serde_json::Value> {
        let end = chrono::DateTime::from_timestamp((number + 1) * DAY_SECS, 0).expect("end");
        let config = GenConfig::new(preset, seed, end);
        let profile = preset.profile();
        let cast = Cast::new(seed, profile, false);
        let course = CoursePlan::new(&config, cast.students.len());
        let mut day = Day {
            cast: &cast,
            course: &course,
            profile,
            rng: day_rng(seed, number, 1),
            number,
            start: number * DAY_SECS,
            lab_starts: Vec::new(),
            left_running: Vec::new(),
            events: Vec::new(),
        };
        let load = profile
            .production
            .as_ref()
            .expect("the preset has production");
        let load = Production {
            records_per_day: calls,
            ..*load
        };
        busy(&mut day, &load);
        day.events
            .iter()
            .map(|e| serde_json::to_value(&e.record).expect("record"))
            .collect()
    }

    /// Issue "Scale": the preset is a busy account — thousands of principals
    /// (workload roles, people, pipelines), about 30% of records kept by the
    /// default filter, so that a year of it stores at least 10 million
    /// events; every record normalises; the same seed, the same records.
    #[test]
    fn a_busy_day_has_thousands_of_principals_and_keeps_about_a_third() {
        let records = busy_day(Preset::Scale, 7, 19_000, 8_000.0);
        assert!(
            (7_000..=9_000).contains(&records.len()),
            "{}",
            records.len()
        );
        let filter = ctt_core::Filter::default();
        let kept = records.iter().filter(|r| filter.keeps_record(r)).count();
        let share = kept as f64 / records.len() as f64;
        assert!((0.24..=0.36).contains(&share), "kept {share}");
        let users: BTreeSet<String> = records
            .iter()
            .map(|r| ctt_core::normalise(r.clone()).expect("normalises").user)
            .collect();
        let workloads = users.iter().filter(|u| u.starts_with("svc-")).count();
        let people = users.iter().filter(|u| u.starts_with("person")).count();
        let pipelines = users.iter().filter(|u| u.starts_with("deploy-")).count();
        assert!(workloads >= 1_000, "{workloads} workload roles");
        assert!(people >= 500, "{people} people");
        assert!(pipelines >= 50, "{pipelines} pipelines");
        // A year of the preset stores at least 10 million events.
        let profile = Preset::Scale.profile();
        let per_day = profile
            .production
            .as_ref()
            .expect("production")
            .records_per_day;
        let stored = per_day * f64::from(profile.days) * share;
        assert!(stored >= 10_000_000.0, "{stored} stored a year");
        // Deterministic: the same seed and day, the same records.
        assert_eq!(busy_day(Preset::Scale, 7, 19_000, 8_000.0), records);
        assert_ne!(busy_day(Preset::Scale, 8, 19_000, 8_000.0), records);
    }

    /// Issue "Scale"'s write-heavy tree: about half of the records kept, in
    /// files of 10–20 records (`bench/scale.py --preset write-heavy`).
    #[test]
    fn the_write_heavy_preset_keeps_about_half_in_small_files() {
        let records = busy_day(Preset::WriteHeavy, 7, 19_000, 8_000.0);
        let filter = ctt_core::Filter::default();
        let kept = records.iter().filter(|r| filter.keeps_record(r)).count();
        let share = kept as f64 / records.len() as f64;
        assert!((0.44..=0.56).contains(&share), "kept {share}");
        let profile = Preset::WriteHeavy.profile();
        assert_eq!(profile.file_cap, (10, 20));
        assert_eq!(profile.days, 30);
    }
}
