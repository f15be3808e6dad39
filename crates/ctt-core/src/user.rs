//! User resolution: one `user` per event, from `userIdentity` (SPEC §3's table).

use serde_json::Value;

use crate::record::{IdentityType, str_field, string_field};

/// The user of a record without any usable identity.
pub const NO_USER: &str = "no_user";

/// Who made a call, as SPEC §3 resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub user: String,
    /// `userIdentity.type` as written.
    pub identity_type: Option<String>,
    /// The role behind an `AssumedRole` session (`sessionIssuer.userName`).
    pub role: Option<String>,
}

/// Resolves the user of a record from its `userIdentity` (absent → `no_user`).
pub fn resolve(user_identity: Option<&Value>) -> ResolvedUser {
    let Some(identity) = user_identity.filter(|v| v.is_object()) else {
        return ResolvedUser {
            user: NO_USER.to_owned(),
            identity_type: None,
            role: None,
        };
    };
    let identity_type = string_field(identity, "type");
    let session_context = identity.get("sessionContext");
    let role = session_context
        .and_then(|c| c.get("sessionIssuer"))
        .and_then(|issuer| string_field(issuer, "userName"));
    let source_identity = session_context.and_then(|c| string_field(c, "sourceIdentity"));

    let kind = identity_type.as_deref().map(IdentityType::parse);
    let user = source_identity.or_else(|| match kind {
        Some(IdentityType::IamUser) => string_field(identity, "userName"),
        Some(IdentityType::Root) => {
            Some(string_field(identity, "userName").unwrap_or_else(|| "root".to_owned()))
        }
        Some(IdentityType::AssumedRole | IdentityType::FederatedUser) => {
            str_field(identity, "arn").and_then(|arn| last_segment(&arn))
        }
        Some(IdentityType::AwsService) => string_field(identity, "invokedBy"),
        Some(IdentityType::AwsAccount) => string_field(identity, "accountId"),
        _ => string_field(identity, "userName"),
    });
    ResolvedUser {
        user: user.unwrap_or_else(|| NO_USER.to_owned()),
        identity_type,
        role,
    }
}

fn last_segment(arn: &str) -> Option<String> {
    arn.rsplit('/')
        .next()
        .filter(|s| !s.is_empty() && *s != arn)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user_of(identity: Value) -> String {
        resolve(Some(&identity)).user
    }

    #[test]
    fn resolves_each_identity_type_per_spec_3() {
        let cases = [
            (
                json!({"type": "IAMUser", "userName": "alucloud230"}),
                "alucloud230",
            ),
            (
                json!({"type": "Root", "userName": "grycap-aws"}),
                "grycap-aws",
            ),
            (
                json!({"type": "Root", "arn": "arn:aws:iam::1:root"}),
                "root",
            ),
            (
                json!({"type": "AssumedRole",
                       "arn": "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_1/maria@uni.edu",
                       "sessionContext": {"sessionIssuer": {"userName": "AWSReservedSSO_Admin_1"}}}),
                "maria@uni.edu",
            ),
            (
                json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/bob"}),
                "bob",
            ),
            (
                json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
                "lambda.amazonaws.com",
            ),
            (
                json!({"type": "AWSAccount", "accountId": "123456789012"}),
                "123456789012",
            ),
            (
                json!({"type": "IdentityCenterUser", "userName": "ana"}),
                "ana",
            ),
            (
                json!({"type": "SAMLUser", "userName": "saml-ana"}),
                "saml-ana",
            ),
            (
                json!({"type": "WebIdentityUser", "userName": "web-ana"}),
                "web-ana",
            ),
            (json!({"type": "SomethingNew", "userName": "x"}), "x"),
            (json!({"type": "Unknown"}), NO_USER),
            (json!({"type": "IAMUser"}), NO_USER),
            (json!({"type": "AssumedRole", "arn": "not-an-arn"}), NO_USER),
            (
                json!({"principalId": "AIDA", "userName": "no-type"}),
                "no-type",
            ),
        ];
        for (identity, expected) in cases {
            assert_eq!(user_of(identity.clone()), expected, "{identity}");
        }
    }

    #[test]
    fn source_identity_wins_over_every_type() {
        let identity = json!({"type": "AssumedRole",
            "arn": "arn:aws:sts::1:assumed-role/Dev/session",
            "sessionContext": {"sourceIdentity": "alice", "sessionIssuer": {"userName": "Dev"}}});
        let resolved = resolve(Some(&identity));
        assert_eq!(resolved.user, "alice");
        assert_eq!(resolved.role.as_deref(), Some("Dev"));
        assert_eq!(resolved.identity_type.as_deref(), Some("AssumedRole"));
    }

    #[test]
    fn records_without_user_identity_get_no_user() {
        assert_eq!(resolve(None).user, NO_USER);
        assert_eq!(resolve(Some(&Value::Null)).user, NO_USER);
        assert_eq!(resolve(Some(&json!("text"))).user, NO_USER);
    }
}
