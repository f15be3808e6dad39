//! A person's working session: a stream of console or CLI calls about one
//! topic, reads in bursts (a console page fires several `Describe*` at once),
//! writes in between, a few of them refused.

use rand::RngExt;

use super::Day;
use crate::calls::{self, Topic, Workspace};
use crate::record::{Actor, utc};
use chrono::Datelike;

/// How a person works: pace, share of changes, how often AWS says no.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    /// Mean seconds between actions.
    pub gap_secs: f64,
    /// Probability that an action changes something (otherwise a burst of reads).
    pub write_share: f64,
    /// Largest burst of reads one action fires.
    pub burst_max: u32,
    /// Probability that a read is refused.
    pub read_error: f64,
    /// Probability that a write is refused.
    pub write_error: f64,
}

/// One session: who, where, about what, with which resources so far.
pub(crate) struct Session {
    pub actor: Actor,
    pub region: usize,
    pub topic: Topic,
    pub ws: Workspace,
    /// ARN of the caller, quoted in refusal messages.
    pub arn: String,
    pub style: Style,
}

/// Emits the session's calls between `from` and `until`; returns the time of the last one.
pub(crate) fn work(day: &mut Day, session: &mut Session, from: i64, until: i64) -> i64 {
    let mut at = from;
    let mut last = from;
    loop {
        at += day.gap(session.style.gap_secs);
        if at >= until {
            return last;
        }
        if day.rng.random_bool(session.style.write_share) {
            write(day, session, at);
            last = at;
        } else {
            last = read_burst(day, session, at);
        }
    }
}

/// One change; refused now and then (a refused creation creates nothing:
/// the workspace stays as it was).
pub(crate) fn write(day: &mut Day, session: &mut Session, at: i64) {
    let scope = day.scope(session.actor.account, session.region, at);
    let mut ws = session.ws.clone();
    let mut call = calls::write(&mut day.rng, &scope, &mut ws, session.topic);
    if day.rng.random_bool(session.style.write_error) {
        call = calls::refuse(&mut day.rng, &scope, &session.arn, call);
    } else {
        session.ws = ws;
    }
    day.emit(at, &session.actor, session.region, call);
}

/// A burst of reads within a few seconds; returns the time of the last one.
pub(super) fn read_burst(day: &mut Day, session: &mut Session, mut at: i64) -> i64 {
    let burst = day.rng.random_range(1..=session.style.burst_max);
    for _ in 0..burst {
        let scope = day.scope(session.actor.account, session.region, at);
        let mut call = calls::read(&mut day.rng, &scope, &session.ws, session.topic);
        if day.rng.random_bool(session.style.read_error) {
            call = calls::refuse(&mut day.rng, &scope, &session.arn, call);
        }
        day.emit(at, &session.actor, session.region, call);
        at += day.rng.random_range(0..3);
    }
    at
}

/// Browsers people sign in with.
pub(crate) const BROWSER_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
pub(crate) const BROWSER_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0";

/// The actor of sign-in records (`ConsoleLogin`, `CheckMfa`): the same person,
/// seen by the browser, before the console session and its credentials exist.
pub(crate) fn login_actor(actor: &Actor, browser: &str) -> Actor {
    let identity = actor.identity.as_ref().map(|identity| {
        let mut identity = identity.clone();
        if let Some(fields) = identity.as_object_mut() {
            fields.remove("accessKeyId");
            fields.remove("sessionContext");
        }
        identity
    });
    Actor {
        identity,
        user_agent: browser.to_string(),
        console: false,
        ..actor.clone()
    }
}

/// The user agent of console calls in a given year.
pub(crate) fn console_agent(at: i64) -> &'static str {
    match utc(at).year() {
        ..=2018 => "signin.amazonaws.com",
        2019..=2020 => "console.amazonaws.com",
        _ => "AWS Internal",
    }
}

/// The user agent of the AWS CLI in a given year.
pub(crate) fn cli_agent(at: i64) -> &'static str {
    match utc(at).year() {
        ..=2018 => "aws-cli/1.11.13 Python/2.7.12 Linux/4.4.0-78-generic botocore/1.4.70",
        2019..=2020 => "aws-cli/1.16.300 Python/3.6.9 Linux/4.15.0-72-generic botocore/1.13.36",
        2021..=2022 => {
            "aws-cli/2.4.5 Python/3.8.8 Linux/5.4.0-91-generic exe/x86_64.ubuntu.20 prompt/off"
        }
        _ => "aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-26-generic exe/x86_64.ubuntu.22 prompt/off",
    }
}

/// The user agent of boto3 scripts in a given year.
pub(crate) fn sdk_agent(at: i64) -> &'static str {
    match utc(at).year() {
        ..=2018 => "Boto3/1.4.4 Python/3.5.2 Linux/4.4.0-78-generic Botocore/1.5.58",
        2019..=2020 => "Boto3/1.10.34 Python/3.7.5 Linux/4.15.0-72-generic Botocore/1.13.34",
        2021..=2022 => "Boto3/1.20.24 Python/3.9.7 Linux/5.11.0-43-generic Botocore/1.23.24",
        _ => {
            "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
        }
    }
}
