//! Identity calls: console sign-in, IAM (users, access keys, policies) and STS
//! (`AssumeRole`, `GetCallerIdentity`). All are recorded in `us-east-1`.
//!
//! `AssumeRole` and `CreateAccessKey` responses carry `secretAccessKey` and
//! `sessionToken` values on purpose: ingestion must redact them.

use rand::RngExt;
use serde_json::{Value, json};

use super::Scope;
use crate::cast::{Account, Role};
use crate::ids::{self, GenRng};
use crate::record::{Call, event_time, utc};

const IAM: &str = "iam.amazonaws.com";
const STS: &str = "sts.amazonaws.com";
const SIGNIN: &str = "signin.amazonaws.com";

/// `ConsoleLogin`, successful or not.
pub(crate) fn console_login(scope: &Scope, mfa: bool, success: bool) -> Call {
    let outcome = if success { "Success" } else { "Failure" };
    let mut call = Call::write(
        SIGNIN,
        "ConsoleLogin",
        Value::Null,
        json!({"ConsoleLogin": outcome}),
    );
    call.event_type = "AwsConsoleSignIn";
    call.additional = Some(json!({
        "LoginTo": format!("https://console.aws.amazon.com/console/home?region={}&state=hashArgs%23&isauthcode=true", scope.region),
        "MobileVersion": "No",
        "MFAUsed": if mfa { "Yes" } else { "No" },
    }));
    if !success {
        call.error = Some(("Failed authentication", "Failed authentication".to_string()));
    }
    call.global()
}

/// `CheckMfa`, the second step of a console sign-in with MFA.
pub(crate) fn check_mfa() -> Call {
    let mut call = Call::write(
        SIGNIN,
        "CheckMfa",
        Value::Null,
        json!({"CheckMfa": "Success"}),
    );
    call.event_type = "AwsConsoleSignIn";
    call.additional = Some(json!({"MfaType": "Virtual MFA"}));
    call.global()
}

pub(crate) fn get_caller_identity() -> Call {
    Call::read(STS, "GetCallerIdentity", Value::Null)
}

/// An IAM read about the account or one of `users`.
pub(crate) fn iam_read(rng: &mut GenRng, user: &str) -> Call {
    let call = match rng.random_range(0..9) {
        0 | 1 => Call::read(IAM, "ListUsers", json!({})),
        2 => Call::read(IAM, "GetUser", json!({"userName": user})),
        3 => Call::read(IAM, "ListAccessKeys", json!({"userName": user})),
        4 => Call::read(IAM, "GetAccountSummary", Value::Null),
        5 => Call::read(IAM, "ListRoles", json!({})),
        6 => Call::read(IAM, "ListAttachedUserPolicies", json!({"userName": user})),
        7 => Call::read(IAM, "GetLoginProfile", json!({"userName": user})),
        _ => Call::read(IAM, "ListGroups", json!({})),
    };
    call.global()
}

/// An IAM change made by the teacher to a student's user.
pub(crate) fn iam_write(rng: &mut GenRng, scope: &Scope, student: &str) -> Call {
    let call = match rng.random_range(0..6) {
        0 => create_access_key(rng, scope, student),
        1 => {
            let arn = format!("arn:aws:iam::{}:user/{student}", scope.account.id);
            Call::write(
                IAM,
                "CreateUser",
                json!({"userName": student}),
                json!({"user": {"path": "/", "userName": student, "userId": ids::principal_id(rng, "AIDA"), "arn": arn, "createDate": event_time(scope.at)}}),
            )
        }
        2 => Call::write(
            IAM,
            "CreateLoginProfile",
            json!({"userName": student, "passwordResetRequired": true}),
            json!({"loginProfile": {"userName": student, "createDate": event_time(scope.at), "passwordResetRequired": true}}),
        ),
        3 => Call::write(
            IAM,
            "AttachUserPolicy",
            json!({"userName": student, "policyArn": "arn:aws:iam::aws:policy/PowerUserAccess"}),
            Value::Null,
        ),
        4 => Call::write(
            IAM,
            "AddUserToGroup",
            json!({"groupName": "students", "userName": student}),
            Value::Null,
        ),
        _ => Call::write(
            IAM,
            "DeleteAccessKey",
            json!({"userName": student, "accessKeyId": ids::access_key_id(rng, "AKIA")}),
            Value::Null,
        ),
    };
    call.global()
}

/// `CreateAccessKey` for `user`; the response holds the new secret.
pub(crate) fn create_access_key(rng: &mut GenRng, scope: &Scope, user: &str) -> Call {
    let response = json!({"accessKey": {
        "userName": user,
        "accessKeyId": ids::access_key_id(rng, "AKIA"),
        "status": "Active",
        "secretAccessKey": ids::base64(rng, 40),
        "createDate": utc(scope.at).format("%b %-d, %Y %-I:%M:%S %p").to_string(),
    }});
    Call::write(IAM, "CreateAccessKey", json!({"userName": user}), response).global()
}

/// `UpdateAccountPasswordPolicy`, a root-only kind of change.
pub(crate) fn update_password_policy(rng: &mut GenRng) -> Call {
    let request = json!({
        "minimumPasswordLength": *[8, 12, 14].get(rng.random_range(0..3usize)).unwrap_or(&12),
        "requireSymbols": true,
        "requireNumbers": true,
        "requireUppercaseCharacters": true,
        "requireLowercaseCharacters": true,
        "allowUsersToChangePassword": true,
    });
    Call::write(IAM, "UpdateAccountPasswordPolicy", request, Value::Null).global()
}

/// `AssumeRole` of `role` as session `session`; returns the call and the
/// temporary access key id the session will use.
pub(crate) fn assume_role(
    rng: &mut GenRng,
    scope: &Scope,
    role: &Role,
    session: &str,
    source_identity: Option<&str>,
) -> (Call, String) {
    let account: &Account = scope.account;
    let role_arn = account.role_arn(role);
    let duration = if rng.random_ratio(1, 2) { 3600 } else { 900 };
    let mut request =
        json!({"roleArn": role_arn, "roleSessionName": session, "durationSeconds": duration});
    if let Some(source) = source_identity {
        request["sourceIdentity"] = json!(source);
    }
    let access_key = ids::access_key_id(rng, "ASIA");
    let expiration = utc(scope.at + duration)
        .format("%b %-d, %Y, %-I:%M:%S %p")
        .to_string();
    let mut response = json!({
        "credentials": {
            "accessKeyId": access_key,
            "sessionToken": format!("IQoJb3JpZ2luX2VjE{}", ids::base64(rng, 300)),
            "secretAccessKey": ids::base64(rng, 40),
            "expiration": expiration,
        },
        "assumedRoleUser": {
            "assumedRoleId": format!("{}:{}", role.principal_id, session),
            "arn": format!("arn:aws:sts::{}:assumed-role/{}/{}", account.id, role.name, session),
        },
    });
    if let Some(source) = source_identity {
        response["sourceIdentity"] = json!(source);
    }
    let mut call = Call::read(STS, "AssumeRole", request);
    call.response = response;
    call.resources =
        Some(json!([{"accountId": account.id, "type": "AWS::IAM::Role", "ARN": role_arn}]));
    (call, access_key)
}
