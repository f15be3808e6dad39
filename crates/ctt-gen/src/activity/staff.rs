//! Staff: the teacher (IAM user with MFA) preparing labs and managing student
//! users; SSO administrators (AssumedRole sessions of IAM Identity Center
//! permission sets); a provisioning script whose role session carries
//! `sourceIdentity`; and the rare root console session.

use rand::RngExt;
use rand::seq::IndexedRandom;

use super::Day;
use super::session::{self, Session, Style};
use crate::calls::{self, Topic, Workspace, identity};
use crate::cast::{Role, SSO_PEOPLE};
use crate::ids;
use crate::record::{Actor, event_time};

fn staff_style(write_share: f64, write_error: f64) -> Style {
    Style {
        gap_secs: 90.0,
        write_share,
        burst_max: 4,
        read_error: 0.01,
        write_error,
    }
}

/// The teacher prepares each lab day (and sometimes works on other term days).
pub(super) fn teacher(day: &mut Day) {
    let works =
        day.is_lab_day() || (!day.is_weekend() && day.in_term() && day.rng.random_ratio(3, 10));
    if !works {
        return;
    }
    let from = day.random_time(6 * 3600..8 * 3600);
    let until = from + day.rng.random_range(30..=60) * 60;
    let actor = teacher_signs_in(day, from);
    let account = &day.cast.accounts[0];
    let user = &day.cast.teacher;
    let mut session = Session {
        arn: format!("arn:aws:iam::{}:user/{}", account.id, user.name),
        actor,
        region: 0,
        topic: *Topic::ALL.choose(&mut day.rng).unwrap_or(&Topic::Ec2),
        ws: Workspace::new("teacher"),
        style: staff_style(0.2, 0.0),
    };
    session::work(day, &mut session, from + 10, until);
    manage_students(day, &session.actor, from, until);
}

/// The teacher's console session from `from` (MFA), after its sign-in records.
fn teacher_signs_in(day: &mut Day, from: i64) -> Actor {
    let cast = day.cast;
    let account = &cast.accounts[0];
    let key = ids::access_key_id(&mut day.rng, "ASIA");
    let mut identity = account.iam_user_identity(&cast.teacher, &key, Some(&event_time(from)));
    identity["sessionContext"]["attributes"]["mfaAuthenticated"] = serde_json::json!("true");
    let actor = Actor {
        account: 0,
        identity: Some(identity),
        source_ip: cast.campus_ips.first().cloned().unwrap_or_default(),
        user_agent: session::console_agent(from).to_string(),
        console: true,
        service: false,
    };
    let scope = day.scope(0, 0, from);
    let login = session::login_actor(&actor, session::BROWSER_LINUX);
    day.emit(from, &login, 0, identity::console_login(&scope, true, true));
    day.emit(from + 8, &login, 0, identity::check_mfa());
    actor
}

/// On lab days, the teacher's evening check: about half the instances
/// students left running that day are terminated by the teacher (one
/// `TerminateInstances` per region, several ids each); the rest stay
/// running — overnight, or for weeks.
pub(super) fn sweep(day: &mut Day) {
    if !day.is_lab_day() || day.left_running.is_empty() {
        return;
    }
    let at = day.random_time(21 * 3600..22 * 3600);
    let mut by_region: std::collections::BTreeMap<usize, Vec<String>> = Default::default();
    for (region, id, since) in std::mem::take(&mut day.left_running) {
        if since < at && day.rng.random_ratio(1, 2) {
            by_region.entry(region).or_default().push(id);
        }
    }
    if by_region.is_empty() {
        return;
    }
    let actor = teacher_signs_in(day, at);
    let mut t = at + 30;
    for (region, instances) in by_region {
        t += day.rng.random_range(20..120);
        let call = calls::ec2::terminate_many(&mut day.rng, &instances);
        day.emit(t, &actor, region, call);
    }
}

/// IAM reads and changes on student users, spread over the teacher's session.
fn manage_students(day: &mut Day, actor: &Actor, from: i64, until: i64) {
    let reads = day.rng.random_range(2..=8);
    let writes = day.rng.random_range(0..=4);
    for n in 0..reads + writes {
        let at = day.rng.random_range(from..until.max(from + 1));
        let student = &day.cast.students[day.rng.random_range(0..day.cast.students.len())].name;
        let call = if n < reads {
            identity::iam_read(&mut day.rng, student)
        } else {
            let scope = day.scope(0, 0, at);
            identity::iam_write(&mut day.rng, &scope, student)
        };
        day.emit(at, actor, 0, call);
    }
}

/// SSO administrators of each account; read-only users' changes are refused.
pub(super) fn sso_admins(day: &mut Day) {
    for account in 0..day.cast.accounts.len() {
        for (person, admin, chance) in [(0, true, 0.45), (1, false, 0.25), (2, true, 0.15)] {
            let chance = if day.is_weekend() {
                chance / 4.0
            } else {
                chance
            };
            if day.rng.random_bool(chance) {
                sso_session(day, account, SSO_PEOPLE[person], admin);
            }
        }
    }
}

fn sso_session(day: &mut Day, account: usize, person: &str, admin: bool) {
    let cast = day.cast;
    let roles = &cast.accounts[account].roles;
    let role: &Role = if admin {
        &roles.sso_admin
    } else {
        &roles.sso_read_only
    };
    let from = day.random_time(7 * 3600..19 * 3600);
    let until = from + day.rng.random_range(10..=45) * 60;
    let key = ids::access_key_id(&mut day.rng, "ASIA");
    let identity =
        cast.accounts[account].assumed_role_identity(role, person, &key, &event_time(from), None);
    let ip = if day.rng.random_ratio(1, 2) {
        cast.campus_ips.last().cloned()
    } else {
        None
    };
    let actor = Actor {
        account,
        identity: Some(identity),
        source_ip: ip.unwrap_or_else(|| {
            format!(
                "88.{}.{}.{}",
                day.rng.random_range(0..256),
                day.rng.random_range(0..256),
                day.rng.random_range(1..255)
            )
        }),
        user_agent: session::console_agent(from).to_string(),
        console: true,
        service: false,
    };
    let mut session = Session {
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{person}",
            cast.accounts[account].id, role.name
        ),
        actor,
        region: day.session_region(),
        topic: *Topic::ALL.choose(&mut day.rng).unwrap_or(&Topic::Storage),
        ws: Workspace::new("admin"),
        style: if admin {
            staff_style(0.3, 0.02)
        } else {
            staff_style(0.05, 1.0)
        },
    };
    session::work(day, &mut session, from, until);
}

/// A provisioning script: an SSO administrator assumes `LabProvisioner` with a
/// source identity, and every call of that role session carries it.
pub(super) fn provisioning(day: &mut Day) {
    let cast = day.cast;
    let account = &cast.accounts[0];
    let person = SSO_PEOPLE[0];
    let at = day.random_time(5 * 3600..7 * 3600);
    let admin_key = ids::access_key_id(&mut day.rng, "ASIA");
    let agent = session::cli_agent(at).to_string();
    let ip = cast.campus_ips.last().cloned().unwrap_or_default();
    let admin = Actor {
        account: 0,
        identity: Some(account.assumed_role_identity(
            &account.roles.sso_admin,
            person,
            &admin_key,
            &event_time(at - 600),
            None,
        )),
        source_ip: ip.clone(),
        user_agent: agent,
        console: false,
        service: false,
    };
    let session_name = format!(
        "provision-{}",
        event_time(at)
            .get(..10)
            .unwrap_or_default()
            .replace('-', "")
    );
    let scope = day.scope(0, 0, at);
    let (call, key) = identity::assume_role(
        &mut day.rng,
        &scope,
        &account.roles.provisioner,
        &session_name,
        Some(person),
    );
    day.emit(at, &admin, 0, call.global());
    let role_identity = account.assumed_role_identity(
        &account.roles.provisioner,
        &session_name,
        &key,
        &event_time(at),
        Some(person),
    );
    let mut session = Session {
        arn: format!(
            "arn:aws:sts::{}:assumed-role/LabProvisioner/{session_name}",
            account.id
        ),
        actor: Actor {
            account: 0,
            identity: Some(role_identity),
            source_ip: ip,
            user_agent: session::sdk_agent(at).to_string(),
            console: false,
            service: false,
        },
        region: 0,
        topic: if day.rng.random_ratio(1, 2) {
            Topic::Ec2
        } else {
            Topic::Storage
        },
        ws: Workspace::new("lab-template"),
        style: Style {
            gap_secs: 4.0,
            write_share: 0.5,
            burst_max: 2,
            read_error: 0.0,
            write_error: 0.0,
        },
    };
    let until = at + day.rng.random_range(30..120);
    session::work(day, &mut session, at + 1, until);
}

/// A root console session: sign-in (root identity without alias), MFA, a few
/// account-level reads and sometimes a password policy change.
pub(super) fn root(day: &mut Day) {
    let cast = day.cast;
    let account = &cast.accounts[0];
    let from = day.random_time(9 * 3600..20 * 3600);
    let key = ids::access_key_id(&mut day.rng, "ASIA");
    let ip = cast.teacher.home_ip.clone();
    let actor = |identity| Actor {
        account: 0,
        identity: Some(identity),
        source_ip: ip.clone(),
        user_agent: session::console_agent(from).to_string(),
        console: true,
        service: false,
    };
    let login = session::login_actor(
        &actor(account.root_identity("", false)),
        session::BROWSER_WINDOWS,
    );
    let scope = day.scope(0, 0, from);
    day.emit(from, &login, 0, identity::console_login(&scope, true, true));
    day.emit(from + 12, &login, 0, identity::check_mfa());
    let named = actor(account.root_identity(&key, true));
    let anonymous = actor(account.root_identity(&key, false));
    let mut at = from + 20;
    for _ in 0..day.rng.random_range(3..=10) {
        at += day.rng.random_range(5..120);
        let who = if day.rng.random_ratio(1, 2) {
            &named
        } else {
            &anonymous
        };
        let call = match day.rng.random_range(0..4) {
            0 => identity::iam_read(&mut day.rng, "teacher"),
            1 => crate::record::Call::read(
                "ce.amazonaws.com",
                "GetCostAndUsage",
                serde_json::json!({"granularity": "MONTHLY", "metrics": ["UnblendedCost"]}),
            ),
            2 => calls::storage::list_buckets(&day.scope(0, 0, at)),
            _ => identity::update_password_policy(&mut day.rng),
        };
        day.emit(at, who, 0, call);
    }
}
