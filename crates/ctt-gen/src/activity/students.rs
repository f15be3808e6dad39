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

impl Attendance {
    /// A moment of EC2 work from home in the first region (not a lab).
    fn at_home(day: &Day, student: usize, from: i64, console: bool) -> Self {
        Attendance {
            student,
            region: 0,
            topic: Topic::Ec2,
            from,
            until: from,
            ip: day.cast.students[student].home_ip.clone(),
            console,
        }
    }
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
        day.lab_starts.push(start);
        let length = day.rng.random_range(100..=150) * 60;
        let wanted = day
            .rng
            .random_range(profile.lab_attendance.0..=profile.lab_attendance.1)
            as usize;
        let students = day.cast.students.len();
        let attendees = rand::seq::index::sample(&mut day.rng, students, wanted.min(students));
        for student in attendees.iter() {
            if day.course.keeps_away(student, day.number) {
                continue;
            }
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

/// A student's script gone wrong, on a rhythm of days: 120 `CreateTags` in a
/// loop within 20 minutes, then — the permissions revoked — 40 refused
/// `RunInstances` in the next hour. A student's week holds a few calls an
/// hour, so both are spikes (SPEC §13).
pub(super) fn burst(day: &mut Day) {
    let student = day.rng.random_range(0..day.cast.students.len());
    let from = day.random_time(15 * 3600..18 * 3600);
    let attendance = Attendance::at_home(day, student, from, false);
    let mut session = start_session(day, &attendance);
    let scope = day.scope(session.actor.account, session.region, from);
    let run = calls::ec2::run_instances(&mut day.rng, &scope, &mut session.ws, "");
    day.emit(from, &session.actor, session.region, run);
    let mut at = from + 30;
    for _ in 0..120 {
        at += day.rng.random_range(5..10);
        let call = calls::ec2::create_tags(&mut day.rng, &session.ws);
        day.emit(at, &session.actor, session.region, call);
    }
    at = (at / 3600 + 1) * 3600 + day.rng.random_range(60..300);
    for _ in 0..40 {
        at += day.rng.random_range(20..60);
        let scope = day.scope(session.actor.account, session.region, at);
        let mut ws = session.ws.clone();
        let call = calls::ec2::run_instances(&mut day.rng, &scope, &mut ws, "");
        let refused = calls::refuse(&mut day.rng, &scope, &session.arn, call);
        day.emit(at, &session.actor, session.region, refused);
    }
    clean_up(day, &mut session, at);
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
        if day.course.keeps_away(student, day.number) {
            continue;
        }
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
    let mut session = start_session(day, &attendance);
    let last = session::work(day, &mut session, attendance.from, attendance.until);
    clean_up(day, &mut session, last);
}

/// The student's identity for the session (console or CLI credentials), signed
/// in through the console when that is how they work.
fn start_session(day: &mut Day, attendance: &Attendance) -> Session {
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
        source_ip: attendance.ip.clone(),
        user_agent: user_agent.to_string(),
        console: attendance.console,
        service: false,
    };
    if attendance.console {
        sign_in(day, &actor, from);
    }
    Session {
        arn: format!("arn:aws:iam::{}:user/{}", account.id, user.name),
        actor,
        region: attendance.region,
        topic: attendance.topic,
        ws: Workspace::new(&user.name),
        style: student_style(day.profile.action_gap_secs),
    }
}

/// The scripted course work of the day (see `course`): each student whose
/// plan puts one of their labs on this day sits down and does it.
pub(super) fn course_work(day: &mut Day) {
    let course = day.course;
    for (student, engagement) in course.students.iter().enumerate() {
        if engagement.visit == Some(day.number) {
            look_around(day, student);
        }
        for (lab, &on) in engagement.days.iter().enumerate() {
            if on == day.number {
                let stuck = engagement.stuck.filter(|(l, _)| *l == lab).map(|(_, r)| r);
                lab_session(day, student, lab, stuck);
            }
        }
    }
}

/// A student who never starts the labs signs in once and looks around.
fn look_around(day: &mut Day, student: usize) {
    let from = day.random_time(15 * 3600..20 * 3600);
    let attendance = Attendance::at_home(day, student, from, true);
    let mut session = start_session(day, &attendance);
    let mut at = from;
    for _ in 0..day.rng.random_range(1..=4) {
        let next = at + day.rng.random_range(10..120);
        at = session::read_burst(day, &mut session, next);
    }
}

/// Most tries at a required call that the student's other steps may take
/// (a `TerminateInstances` needs a `RunInstances` first…).
const STEPS_PER_REQUIREMENT: usize = 1_000;
/// Draws without the wanted call after which the student starts over.
const RESTART_AFTER: usize = 100;

/// One student doing one lab (in a lab session of the day, or at home):
/// every required call, as many times as required,
/// with the steps the service needs before it, reads around them, one call in
/// six refused once before it goes through; requirement `stuck` refused always.
fn lab_session(day: &mut Day, student: usize, lab: usize, stuck: Option<usize>) {
    let requires = day.course.labs[lab].requires;
    // In one of the day's lab sessions, from the campus; or at home in the afternoon.
    let (from, ip) = match day.lab_starts.choose(&mut day.rng).copied() {
        Some(start) => (
            start + day.rng.random_range(0..1200),
            day.cast
                .campus_ips
                .choose(&mut day.rng)
                .cloned()
                .unwrap_or_default(),
        ),
        None => (
            day.random_time(14 * 3600..19 * 3600),
            day.cast.students[student].home_ip.clone(),
        ),
    };
    let attendance = Attendance {
        student,
        region: day.session_region(),
        topic: Topic::Ec2,
        from,
        until: from,
        ip,
        console: day.rng.random_ratio(3, 4),
    };
    let mut session = start_session(day, &attendance);
    let mut at = from;
    for (index, (event, count)) in requires.iter().enumerate() {
        let (service, name) = event.split_once(':').unwrap_or(("ec2", event));
        session.topic = calls::topic_of(service);
        for _ in 0..*count {
            let Some((call, then, ws)) = step_to(day, &mut session, at, name) else {
                break;
            };
            at = then;
            let scope = day.scope(session.actor.account, session.region, at);
            if stuck == Some(index) {
                for _ in 0..day.rng.random_range(2..=4) {
                    let refused = calls::refuse(&mut day.rng, &scope, &session.arn, call.clone());
                    day.emit(at, &session.actor, session.region, refused);
                    at += day.rng.random_range(30..300);
                }
                break;
            }
            if day.rng.random_ratio(1, 6) {
                let refused = calls::refuse(&mut day.rng, &scope, &session.arn, call.clone());
                day.emit(at, &session.actor, session.region, refused);
                at += day.rng.random_range(20..180);
            }
            session.ws = ws;
            day.emit(at, &session.actor, session.region, call);
        }
    }
    clean_up(day, &mut session, at);
}

/// Works towards a call named `name` (version suffixes aside), which is
/// returned unemitted with its time and the workspace as it would leave it
/// (the caller keeps it if the call goes through). The topic's other changes are drawn on the
/// way and one in four is made (and emitted, with a read before it), so the
/// steps a call needs first (a `RunInstances` before a `TerminateInstances`)
/// happen, without a lab drowning in unrelated changes.
fn step_to(
    day: &mut Day,
    session: &mut Session,
    mut at: i64,
    name: &str,
) -> Option<(crate::record::Call, i64, Workspace)> {
    for draw in 1..=STEPS_PER_REQUIREMENT {
        if draw % RESTART_AFTER == 0 {
            // Some calls need a fresh start (no launch configuration once a
            // group exists): the student starts over with new resources.
            session.ws = Workspace::new(&session.ws.owner);
        }
        // A look at the console or a `describe` (a burst of at most 9 s) before each change.
        let reads_at = at + day.rng.random_range(15..90);
        let change_at = reads_at + day.rng.random_range(15..50);
        let mut ws = session.ws.clone();
        let scope = day.scope(session.actor.account, session.region, change_at);
        let call = calls::write(&mut day.rng, &scope, &mut ws, session.topic);
        let wanted = calls::unversioned(call.name) == name;
        if !wanted && !day.rng.random_ratio(1, 4) {
            continue;
        }
        session::read_burst(day, session, reads_at);
        at = change_at;
        if wanted {
            return Some((call, at, ws));
        }
        session.ws = ws;
        day.emit(at, &session.actor, session.region, call);
    }
    None
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

/// Most students delete what they made before leaving: instances, NAT
/// gateways, databases, load balancers and scaling groups; most unattached
/// volumes; half their buckets and functions (which cost nothing idle).
/// Two in five leave everything as it is; the instances they leave running
/// are on the teacher's list for the evening's sweep
/// ([`super::staff::sweep`]).
fn clean_up(day: &mut Day, session: &mut Session, last: i64) {
    use crate::calls::{database, ec2, functions, scaling, storage};

    let ws = &session.ws;
    let made = [
        ws.instances.len(),
        ws.nat_gateways.len(),
        ws.volumes.len(),
        ws.databases.len(),
        ws.load_balancers.len(),
        ws.scaling_groups.len(),
        ws.buckets.len(),
        ws.functions.len(),
    ];
    if made.iter().all(|n| *n == 0) {
        return;
    }
    if day.rng.random_ratio(2, 5) {
        for id in session.ws.instances.drain(..) {
            day.left_running.push((session.region, id, last));
        }
        return;
    }
    let mut deletes = Vec::new();
    let scope = day.scope(session.actor.account, session.region, last);
    let ws = &mut session.ws;
    let rng = &mut day.rng;
    while !ws.instances.is_empty() {
        deletes.push(ec2::terminate_instances(rng, ws));
    }
    while !ws.nat_gateways.is_empty() {
        deletes.push(ec2::delete_nat_gateway(rng, ws));
    }
    while let Some(call) = scaling::delete_auto_scaling_group(ws) {
        deletes.push(call);
    }
    while !ws.load_balancers.is_empty() {
        deletes.push(scaling::delete_load_balancer(rng, ws));
    }
    while !ws.databases.is_empty() {
        deletes.push(database::delete_db_instance(rng, ws));
    }
    while !ws.volumes.is_empty() && rng.random_ratio(3, 4) {
        deletes.push(ec2::delete_volume(rng, ws));
    }
    while !ws.buckets.is_empty() && rng.random_ratio(1, 2) {
        deletes.push(storage::delete_bucket(rng, &scope, ws));
    }
    while !ws.functions.is_empty() && rng.random_ratio(1, 2) {
        deletes.push(functions::delete_function(rng, ws));
    }
    let mut at = last;
    for call in deletes {
        at += day.rng.random_range(5..60);
        day.emit(at, &session.actor, session.region, call);
    }
}
