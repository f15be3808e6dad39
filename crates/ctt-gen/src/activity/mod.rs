//! One day of activity in the account(s): who does what, when. Produces the
//! day's records in no particular order; `delivery` groups them into log files.
//!
//! A day is generated from its own random stream (derived from the seed and
//! the day's number), so days can be generated in any order, in parallel, and
//! a day's records do not depend on how many days are generated.

mod production;
mod services;
mod session;
mod staff;
mod students;

use chrono::{Datelike, Weekday};
use rand::{RngExt, SeedableRng};

use crate::calls::Scope;
use crate::cast::Cast;
use crate::course::CoursePlan;
use crate::ids::GenRng;
use crate::preset::Profile;
use crate::record::{Actor, Call, Place, Record, utc};

pub(crate) const DAY_SECS: i64 = 86_400;

/// A record and where it belongs: account and region index in the cast.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub at: i64,
    pub account: usize,
    pub region: usize,
    pub record: Record,
}

/// The day being generated: its clock, its random stream, the records so far.
pub(crate) struct Day<'a> {
    pub cast: &'a Cast,
    /// The course the students follow, and how far each gets.
    pub course: &'a CoursePlan,
    pub profile: &'a Profile,
    pub rng: GenRng,
    /// Days since 1970-01-01 (the day's number, used for rhythms and seeds).
    pub number: i64,
    /// Midnight UTC starting the day, in seconds since the epoch.
    pub start: i64,
    /// When the day's lab sessions start (seconds since the epoch), once `labs` ran.
    pub lab_starts: Vec<i64>,
    /// Instances students left running today: region, id, when they left.
    pub left_running: Vec<(usize, String, i64)>,
    pub events: Vec<Event>,
}

/// The random stream of one day, derived from the seed and the day's number.
pub(crate) fn day_rng(seed: u64, number: i64, salt: u64) -> GenRng {
    GenRng::seed_from_u64(mix(mix(seed ^ salt).wrapping_add(number as u64)))
}

/// Whether day `number` is one of every `every` days: the same days whatever the seed.
pub(crate) fn on_rhythm(number: i64, every: i64) -> bool {
    every > 0 && number.rem_euclid(every) == every / 2
}

/// SplitMix64's finaliser: spreads nearby inputs over the whole range.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Generate all the records of day `number` (days since 1970-01-01).
pub(crate) fn generate_day<'a>(
    cast: &'a Cast,
    course: &'a CoursePlan,
    profile: &'a Profile,
    seed: u64,
    number: i64,
) -> Day<'a> {
    let mut day = Day {
        cast,
        course,
        profile,
        rng: day_rng(seed, number, 0x6461_7973),
        number,
        start: number * DAY_SECS,
        lab_starts: Vec::new(),
        left_running: Vec::new(),
        events: Vec::new(),
    };
    services::background(&mut day);
    if let Some(load) = &profile.production {
        production::busy(&mut day, load);
    }
    if day.is_lab_day() {
        students::labs(&mut day);
    }
    students::homework(&mut day);
    students::course_work(&mut day);
    staff::teacher(&mut day);
    staff::sweep(&mut day);
    staff::sso_admins(&mut day);
    if day.on_rhythm(profile.rhythms.provisioning) {
        staff::provisioning(&mut day);
    }
    if day.on_rhythm(profile.rhythms.burst) {
        students::burst(&mut day);
    }
    if day.on_rhythm(profile.rhythms.root_session) {
        staff::root(&mut day);
    }
    if day.on_rhythm(profile.rhythms.missing_identity) {
        services::key_rotation(&mut day);
    }
    day
}

impl<'a> Day<'a> {
    /// Whether this day is one of every `every` days (by day number).
    pub(crate) fn on_rhythm(&self, every: i64) -> bool {
        on_rhythm(self.number, every)
    }

    pub(crate) fn weekday(&self) -> Weekday {
        utc(self.start).weekday()
    }

    pub(crate) fn is_weekend(&self) -> bool {
        matches!(self.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// Whether the university is in term (mid-September to December, February to May).
    pub(crate) fn in_term(&self) -> bool {
        if !self.profile.term_calendar {
            return true;
        }
        let date = utc(self.start);
        match date.month() {
            9 => date.day() >= 15,
            10 | 11 | 2..=5 => true,
            12 => date.day() <= 20,
            _ => false,
        }
    }

    /// Labs run on weekdays (Monday to Thursday in a term calendar) in term.
    pub(crate) fn is_lab_day(&self) -> bool {
        let weekday = self.weekday();
        if self.profile.term_calendar {
            self.in_term()
                && matches!(
                    weekday,
                    Weekday::Mon | Weekday::Tue | Weekday::Wed | Weekday::Thu
                )
        } else {
            !self.is_weekend()
        }
    }

    /// A region index for a person's session, by the profile's session shares.
    pub(crate) fn session_region(&mut self) -> usize {
        let mut x: f64 = self.rng.random();
        for (i, region) in self.profile.regions.iter().enumerate() {
            if x < region.session_share {
                return i;
            }
            x -= region.session_share;
        }
        0
    }

    /// A random duration with mean `mean_secs` (exponential), at least one second.
    pub(crate) fn gap(&mut self, mean_secs: f64) -> i64 {
        let u: f64 = self.rng.random();
        ((-mean_secs * (1.0 - u).ln()) as i64).max(1)
    }

    /// A random time of this day between `secs_of_day.start` and `secs_of_day.end` (seconds since midnight).
    pub(crate) fn random_time(&mut self, secs_of_day: std::ops::Range<i64>) -> i64 {
        self.start + self.rng.random_range(secs_of_day)
    }

    /// Records `call` by `actor` at `at` in region `region` (global calls go to
    /// `us-east-1`). Calls outside this day are dropped: a day owns its records.
    pub(crate) fn emit(&mut self, at: i64, actor: &Actor, region: usize, call: Call) {
        if at < self.start || at >= self.start + DAY_SECS {
            return;
        }
        let region = if call.global { 0 } else { region };
        let place = Place {
            at,
            region: self.cast.regions[region],
            account_id: self.cast.accounts[actor.account].id,
        };
        let record = Record::new(&mut self.rng, &place, actor, call);
        self.events.push(Event {
            at,
            account: actor.account,
            region,
            record,
        });
    }

    /// The scope (account, region, time) calls are built in.
    pub(crate) fn scope(&self, account: usize, region: usize, at: i64) -> Scope<'a> {
        let cast: &'a Cast = self.cast;
        Scope {
            account: &cast.accounts[account],
            region: cast.regions[region],
            at,
        }
    }
}
