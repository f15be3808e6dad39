//! Presets: named sizes of generated history (`small` for tests, `paper` for the
//! original thesis' four years, `scale` for a year of a busy production
//! account), and the [`Profile`] of numeric knobs each one stands for.

use std::fmt;
use std::str::FromStr;

/// A named size of generated history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// About 14 days, a few hundred files, 5,000–12,000 records; generates in well under a second.
    Small,
    /// Four years (1461 days), ~420,000 log files, ~2.5 million records of which
    /// ~730,000 pass the default filter: the volume of the original thesis;
    /// 350 students, and ~140,000 hourly digests.
    Paper,
    /// A year (365 days) of a busy production account beside a small class:
    /// ~110,000 records a day from thousands of principals (3,000 workload
    /// roles, 1,500 people through SSO, 120 deploy roles), ~40 million
    /// records of which ~27% pass the default filter (≥ 10 million stored
    /// events). For `bench/`, not tests: it takes minutes and gigabytes.
    Scale,
    /// The `scale` account's month with half of its records changing
    /// something, delivered in small files (10–20 records, ~15 on average):
    /// 30 days, ~3.3 million records of which ~half pass the default filter.
    /// The issue "Scale"'s write-heavy tree, where the writer's per-event and
    /// per-file costs weigh most. For `bench/`.
    WriteHeavy,
}

impl Preset {
    /// The preset's name as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Paper => "paper",
            Preset::Scale => "scale",
            Preset::WriteHeavy => "write-heavy",
        }
    }

    /// Number of days of history the preset covers.
    pub fn default_days(self) -> u32 {
        self.profile().days
    }

    pub(crate) fn profile(self) -> &'static Profile {
        match self {
            Preset::Small => &SMALL,
            Preset::Paper => &PAPER,
            Preset::Scale => &SCALE,
            Preset::WriteHeavy => &WRITE_HEAVY,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "small" => Ok(Preset::Small),
            "paper" => Ok(Preset::Paper),
            "scale" => Ok(Preset::Scale),
            "write-heavy" => Ok(Preset::WriteHeavy),
            other => anyhow::bail!(
                "unknown preset `{other}`: expected `small`, `paper`, `scale` or `write-heavy`"
            ),
        }
    }
}

/// Background (service) load of one region: how often a 5-minute window holds
/// service activity, and how many records such a window holds on average.
#[derive(Debug)]
pub(crate) struct RegionLoad {
    pub name: &'static str,
    /// Probability that a 5-minute window has background records.
    pub window_share: f64,
    /// Mean number of background records in a window that has some (at least 1).
    pub mean_records: f64,
    /// Share of lab and homework sessions run in this region.
    pub session_share: f64,
}

/// Events that happen on a fixed rhythm of days (day number since 1970 modulo
/// `every`), so that every seed gets them.
#[derive(Debug)]
pub(crate) struct Rhythms {
    /// A log file re-delivered with some of its records (same eventIDs) in a second file.
    pub redelivery: i64,
    /// A record without `userIdentity`.
    pub missing_identity: i64,
    /// A root console session.
    pub root_session: i64,
    /// An automation run under a role session carrying `sourceIdentity`.
    pub provisioning: i64,
    /// A student's script tagging in a loop, then refused launches: a burst
    /// of calls and one of errors (SPEC §13's spikes).
    pub burst: i64,
}

/// A busy production account's own activity (the `scale` preset), beside
/// the class: how many principals of each kind, how many calls a day.
#[derive(Debug)]
pub(crate) struct Production {
    /// Mean records a day (each day within ±10%).
    pub records_per_day: f64,
    /// Roles workloads run as (functions, tasks, instance profiles).
    pub workload_roles: u32,
    /// People signing in through SSO.
    pub people: u32,
    /// Roles of CI/CD pipelines.
    pub deployers: u32,
    /// Share of calls that change something, before each kind's own bias
    /// (workloads less, people more, pipelines mostly): about the share of
    /// records the default filter keeps.
    pub write_share: f64,
}

/// The numeric knobs behind a [`Preset`].
#[derive(Debug)]
pub(crate) struct Profile {
    pub days: u32,
    pub students: u32,
    pub regions: &'static [RegionLoad],
    /// Labs only in term time (mid-September to December, February to May) on
    /// Monday–Thursday; otherwise every weekday has labs.
    pub term_calendar: bool,
    /// Lab sessions on a lab day (inclusive range).
    pub labs_per_day: (u32, u32),
    /// Students attending one lab session (inclusive range).
    pub lab_attendance: (u32, u32),
    /// Mean seconds between a student's actions.
    pub action_gap_secs: f64,
    /// Mean number of students working outside labs per day (more on lab days).
    pub homework_sessions: f64,
    /// Records per log file at most (a busy window is split into several files).
    pub file_cap: (usize, usize),
    pub rhythms: Rhythms,
    /// A busy production account's activity, if any.
    pub production: Option<Production>,
}

static SMALL: Profile = Profile {
    days: 14,
    students: 60,
    regions: &[
        RegionLoad {
            name: "us-east-1",
            window_share: 0.03,
            mean_records: 2.5,
            session_share: 0.8,
        },
        RegionLoad {
            name: "eu-west-1",
            window_share: 0.012,
            mean_records: 2.0,
            session_share: 0.2,
        },
        RegionLoad {
            name: "eu-central-1",
            window_share: 0.006,
            mean_records: 1.5,
            session_share: 0.0,
        },
    ],
    term_calendar: false,
    labs_per_day: (1, 1),
    lab_attendance: (6, 10),
    action_gap_secs: 210.0,
    homework_sessions: 1.0,
    file_cap: (30, 40),
    rhythms: Rhythms {
        redelivery: 4,
        missing_identity: 5,
        root_session: 5,
        provisioning: 3,
        burst: 6,
    },
    production: None,
};

/// The rhythms of the presets that span years (`paper`, `scale`).
const YEARLY_RHYTHMS: Rhythms = Rhythms {
    redelivery: 40,
    missing_identity: 30,
    root_session: 20,
    provisioning: 7,
    burst: 30,
};

static PAPER: Profile = Profile {
    days: 1461,
    students: 350,
    regions: &[
        RegionLoad {
            name: "us-east-1",
            window_share: 0.62,
            mean_records: 2.6,
            session_share: 0.75,
        },
        RegionLoad {
            name: "eu-west-1",
            window_share: 0.12,
            mean_records: 2.0,
            session_share: 0.2,
        },
        RegionLoad {
            name: "us-west-2",
            window_share: 0.06,
            mean_records: 1.6,
            session_share: 0.05,
        },
        RegionLoad {
            name: "eu-central-1",
            window_share: 0.04,
            mean_records: 1.5,
            session_share: 0.0,
        },
    ],
    term_calendar: true,
    labs_per_day: (1, 2),
    lab_attendance: (15, 35),
    action_gap_secs: 140.0,
    homework_sessions: 4.0,
    file_cap: (25, 40),
    rhythms: YEARLY_RHYTHMS,
    production: None,
};

/// The regions of the production account's presets (`scale`, `write-heavy`).
const PRODUCTION_REGIONS: &[RegionLoad] = &[
    RegionLoad {
        name: "us-east-1",
        window_share: 0.9,
        mean_records: 4.0,
        session_share: 0.6,
    },
    RegionLoad {
        name: "eu-west-1",
        window_share: 0.6,
        mean_records: 3.0,
        session_share: 0.25,
    },
    RegionLoad {
        name: "us-west-2",
        window_share: 0.3,
        mean_records: 2.0,
        session_share: 0.1,
    },
    RegionLoad {
        name: "ap-southeast-2",
        window_share: 0.1,
        mean_records: 1.5,
        session_share: 0.05,
    },
];

static SCALE: Profile = SCALE_PROFILE;

const SCALE_PROFILE: Profile = Profile {
    days: 365,
    students: 20,
    regions: PRODUCTION_REGIONS,
    term_calendar: false,
    labs_per_day: (1, 1),
    lab_attendance: (5, 10),
    action_gap_secs: 200.0,
    homework_sessions: 1.0,
    file_cap: (150, 300),
    rhythms: YEARLY_RHYTHMS,
    production: Some(SCALE_PRODUCTION),
};

const SCALE_PRODUCTION: Production = Production {
    records_per_day: 110_000.0,
    workload_roles: 3_000,
    people: 1_500,
    deployers: 120,
    write_share: 0.27,
};

/// `scale`'s account for a month, with more of its calls changing something
/// (about half of the records kept) and smaller files.
static WRITE_HEAVY: Profile = Profile {
    days: 30,
    file_cap: (10, 20),
    production: Some(Production {
        write_share: 0.52,
        ..SCALE_PRODUCTION
    }),
    ..SCALE_PROFILE
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_parses_and_displays() {
        for preset in [
            Preset::Small,
            Preset::Paper,
            Preset::Scale,
            Preset::WriteHeavy,
        ] {
            assert_eq!(preset.to_string().parse::<Preset>().ok(), Some(preset));
        }
        assert_eq!(" Paper ".parse::<Preset>().ok(), Some(Preset::Paper));
        assert!("large".parse::<Preset>().is_err());
    }

    #[test]
    fn region_session_shares_sum_to_one() {
        for preset in [
            Preset::Small,
            Preset::Paper,
            Preset::Scale,
            Preset::WriteHeavy,
        ] {
            let total: f64 = preset
                .profile()
                .regions
                .iter()
                .map(|r| r.session_share)
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{preset}: {total}");
        }
    }
}
