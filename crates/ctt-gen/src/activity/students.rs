//! Students (`alucloudNNN` IAM users): lab sessions on lab days, from the
//! campus network, everyone on the lab's topic; and homework sessions from
//! home in the afternoon and evening. Some leave their instances running.

use rand::RngExt;
use rand::seq::IndexedRandom;

use super::Day;
use super::session::{self, Session, Style};
use crate::calls::{self, Topic, Workspace, identity};
use crate::ids;
use crate::record::{Actor, event_time};

/// Lab start hours (UTC) a timetable may use.
const LAB_HOURS: [i64; 5] = [8, 10, 12, 15, 17];

/// How students work: an action every couple of minutes, many reads.
fn student_style(gap_secs: f64) -> Style {
    Style {
        gap_secs,
        write_share: 0.45,
        burst_max: 3,
        read_error: 0.02,
        write_error: 0.08,
    }
}

/// Where and how one student session happens.
struct Attendance {
    student: usize,
    region: usize,
    topic: Topic,
    from: i64,
    until: i64,
    ip: String,
    console: bool,
}

/// The lab sessions of a lab day.
pub(super) fn labs(day: &mut Day) {
    let profile = day.profile;
    let count = day
        .rng
        .random_range(profile.labs_per_day.0..=profile.labs_per_day.1) as usize;
    let hours: Vec<i64> = LAB_HOURS.sample(&mut day.rng, count).copied().collect();
    for hour in hours {
        let topic = *Topic::ALL.choose(&mut day.rng).unwrap_or(&Topic::Ec2);
        let region = day.session_region();
        let start = day.random_time(hour * 3600..hour * 3600 + 600);
        let length = day.rng.random_range(100..=150) * 60;
        let wanted = day
            .rng
            .random_range(profile.lab_attendance.0..=profile.lab_attendance.1)
            as usize;
        let students = day.cast.students.len();
        let attendees = rand::seq::index::sample(&mut day.rng, students, wanted.min(students));
        for student in attendees.iter() {
            let ip = day
                .cast
                .campus_ips
                .choose(&mut day.rng)
                .cloned()
                .unwrap_or_default();
            let from = start + day.rng.random_range(0..900);
            let until = start + length - day.rng.random_range(0..1200);
            let console = day.rng.random_ratio(4, 5);
            student_session(
                day,
                Attendance {
                    student,
                    region,
                    topic,
                    from,
                    until,
                    ip,
                    console,
                },
            );
        }
    }
}

/// Students working on their own, mostly in the afternoon and evening.
pub(super) fn homework(day: &mut Day) {
    let mut mean = day.profile.homework_sessions;
    if day.is_weekend() {
        mean *= 0.5;
    }
    if !day.in_term() {
        mean *= 0.25;
    }
    let count = (2.0 * mean * day.rng.random::<f64>()).round() as usize;
    for _ in 0..count {
        let student = day.rng.random_range(0..day.cast.students.len());
        let from = day.random_time(14 * 3600..23 * 3600);
        let until = from + day.rng.random_range(10..=60) * 60;
        let region = day.session_region();
        let topic = *Topic::ALL.choose(&mut day.rng).unwrap_or(&Topic::Storage);
        let ip = day.cast.students[student].home_ip.clone();
        let console = day.rng.random_ratio(7, 10);
        student_session(
            day,
            Attendance {
                student,
                region,
                topic,
                from,
                until,
                ip,
                console,
            },
        );
    }
}

fn student_session(day: &mut Day, attendance: Attendance) {
    let cast = day.cast;
    let account = &cast.accounts[0];
    let user = &cast.students[attendance.student];
    let from = attendance.from;
    let (identity, user_agent) = if attendance.console {
        let key = ids::access_key_id(&mut day.rng, "ASIA");
        let since = event_time(from);
        (
            account.iam_user_identity(user, &key, Some(&since)),
            session::console_agent(from),
        )
    } else {
        (
            account.iam_user_identity(user, &user.access_key, None),
            session::cli_agent(from),
        )
    };
    let actor = Actor {
        account: 0,
        identity: Some(identity),
        source_ip: attendance.ip,
        user_agent: user_agent.to_string(),
        console: attendance.console,
        service: false,
    };
    if attendance.console {
        sign_in(day, &actor, from);
    }
    let mut session = Session {
        arn: format!("arn:aws:iam::{}:user/{}", account.id, user.name),
        actor,
        region: attendance.region,
        topic: attendance.topic,
        ws: Workspace::new(&user.name),
        style: student_style(day.profile.action_gap_secs),
    };
    let last = session::work(day, &mut session, from, attendance.until);
    clean_up(day, &mut session, last);
}

/// `ConsoleLogin` (after a mistyped password now and then), with the login's own identity.
fn sign_in(day: &mut Day, actor: &Actor, at: i64) {
    let login = session::login_actor(actor, session::BROWSER_LINUX);
    let scope = day.scope(actor.account, 0, at);
    if day.rng.random_ratio(1, 30) {
        let failed_at = at - day.rng.random_range(20..90);
        day.emit(
            failed_at,
            &login,
            0,
            identity::console_login(&scope, false, false),
        );
    }
    day.emit(at, &login, 0, identity::console_login(&scope, false, true));
}

/// Most students terminate what they launched before leaving; the rest leave it running.
fn clean_up(day: &mut Day, session: &mut Session, last: i64) {
    if session.ws.instances.is_empty() || day.rng.random_ratio(2, 5) {
        return;
    }
    let mut at = last;
    while !session.ws.instances.is_empty() {
        at += day.rng.random_range(5..60);
        let call = calls::ec2::terminate_instances(&mut day.rng, &mut session.ws);
        day.emit(at, &session.actor, session.region, call);
    }
}
