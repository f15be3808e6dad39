//! From an identity provider's claims to an [`Identity`]: one mapping for the
//! claims of a JWT this server verified ([`super::Jwt`]) and for the claims an
//! API Gateway JWT authorizer verified before the API Lambda ran
//! ([`GatewayClaims`]).
//!
//! The role comes from a groups claim (`cognito:groups` by default): a group
//! named `admin`, `viewer` or `self` (any case; the highest wins), else the
//! configured default role, else the caller is refused. Role `self` sees the
//! events of the user named by the username claim (`cognito:username` by
//! default); without one the caller is refused, as it would see nothing.

use std::collections::HashMap;

use ctt_store::Role;
use serde_json::{Map, Value};

use super::Identity;

/// Which claims carry the role and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMapping {
    /// The claim listing the caller's groups (`cognito:groups`).
    pub groups_claim: String,
    /// The claim naming the caller's user, for role `self` (`cognito:username`;
    /// a Cognito access token names it in `username`).
    pub username_claim: String,
    /// The role of a caller in none of the groups `admin`, `viewer`, `self`;
    /// `None` refuses them.
    pub default_role: Option<Role>,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            groups_claim: "cognito:groups".to_owned(),
            username_claim: "cognito:username".to_owned(),
            default_role: Some(Role::OwnUser),
        }
    }
}

/// Claims an upstream authorizer (API Gateway's JWT authorizer) verified, in a
/// request's extensions. Only code in front of the router (the API Lambda)
/// puts them there, from the gateway's request context; a client cannot, and
/// the router trusts them only when told to
/// ([`AuthConfig::trust_gateway_claims`](super::AuthConfig::trust_gateway_claims)).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayClaims(pub Map<String, Value>);

impl From<HashMap<String, String>> for GatewayClaims {
    /// An HTTP API's claims, every value a string (`"[admin viewer]"` for a list).
    fn from(claims: HashMap<String, String>) -> Self {
        Self(
            claims
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    }
}

/// Why claims do not let a caller in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsRefused {
    #[error("in none of the groups admin, viewer, self (claim `{claim}`), and no default role")]
    NoRole { claim: String },
    #[error("role `self` needs a user, and the claim `{claim}` names none")]
    NoUser { claim: String },
}

impl ClaimMapping {
    /// Who these claims say the caller is; its name is `jwt:` and the user (or
    /// the `sub` claim).
    pub fn identity(&self, claims: &Map<String, Value>) -> Result<Identity, ClaimsRefused> {
        let groups = claims
            .get(&self.groups_claim)
            .map(groups)
            .unwrap_or_default();
        let has = |name: &str| groups.iter().any(|g| g.eq_ignore_ascii_case(name));
        let role = if has("admin") {
            Role::Admin
        } else if has("viewer") {
            Role::Viewer
        } else if has("self") {
            Role::OwnUser
        } else {
            self.default_role.ok_or_else(|| ClaimsRefused::NoRole {
                claim: self.groups_claim.clone(),
            })?
        };
        let text = |claim: &str| {
            claims
                .get(claim)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let user = text(&self.username_claim);
        if role == Role::OwnUser && user.is_none() {
            return Err(ClaimsRefused::NoUser {
                claim: self.username_claim.clone(),
            });
        }
        let name = user
            .clone()
            .or_else(|| text("sub"))
            .unwrap_or_else(|| "unnamed".to_owned());
        Ok(Identity {
            role,
            user,
            name: Some(format!("jwt:{name}")),
        })
    }
}

/// The groups of a claim: a JSON list (a JWT's), or a string as API Gateway
/// passes them on — `[admin viewer]` (HTTP API), `admin,viewer` (REST API), a
/// JSON list in a string, or one name.
pub fn groups(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(raw) => groups_text(raw),
        _ => Vec::new(),
    }
}

/// The groups of a claim passed on as text (see [`groups`]).
pub fn groups_text(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    raw.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split([',', ' '])
        .map(|g| g.trim().trim_matches(['"', '\'']))
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn groups_read_in_every_encoding() {
        for (raw, expected) in [
            (json!("[admin viewer]"), vec!["admin", "viewer"]),
            (json!("admin,viewer"), vec!["admin", "viewer"]),
            (json!(r#"["self"]"#), vec!["self"]),
            (json!(["viewer", "other"]), vec!["viewer", "other"]),
            (json!("viewer"), vec!["viewer"]),
            (json!("[]"), vec![]),
            (json!(""), vec![]),
            (json!(42), vec![]),
        ] {
            assert_eq!(groups(&raw), expected, "{raw}");
        }
    }

    #[test]
    fn claims_map_to_roles() {
        let mapping = ClaimMapping::default();
        let cases = [
            (
                json!({"cognito:groups": ["viewer", "self"], "cognito:username": "teacher"}),
                Ok((Role::Viewer, Some("teacher"), "jwt:teacher")),
            ),
            (
                json!({"cognito:groups": "[Admin]", "sub": "abc"}),
                Ok((Role::Admin, None, "jwt:abc")),
            ),
            (
                json!({"cognito:groups": ["self"], "cognito:username": "alucloud001"}),
                Ok((Role::OwnUser, Some("alucloud001"), "jwt:alucloud001")),
            ),
            (
                json!({"cognito:username": "alucloud002"}),
                Ok((Role::OwnUser, Some("alucloud002"), "jwt:alucloud002")),
            ),
            (
                json!({"cognito:groups": ["self"], "cognito:username": " "}),
                Err(ClaimsRefused::NoUser {
                    claim: "cognito:username".into(),
                }),
            ),
            (
                json!({"sub": "abc"}),
                Err(ClaimsRefused::NoUser {
                    claim: "cognito:username".into(),
                }),
            ),
        ];
        for (given, expected) in cases {
            let got = mapping.identity(&claims(given.clone()));
            let got = got
                .as_ref()
                .map(|i| (i.role, i.user.as_deref(), i.name.as_deref().unwrap_or("")))
                .map_err(Clone::clone);
            assert_eq!(got, expected, "{given}");
        }
        let strict = ClaimMapping {
            groups_claim: "groups".into(),
            username_claim: "email".into(),
            default_role: None,
        };
        assert_eq!(
            strict.identity(&claims(json!({"email": "a@b"}))),
            Err(ClaimsRefused::NoRole {
                claim: "groups".into()
            })
        );
        assert_eq!(
            strict
                .identity(&claims(json!({"groups": "viewer", "email": "a@b"})))
                .map(|i| (i.role, i.name)),
            Ok((Role::Viewer, Some("jwt:a@b".to_owned())))
        );
    }
}
