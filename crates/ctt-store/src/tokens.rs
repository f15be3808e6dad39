//! API tokens (SPEC §7): who may query, and as which role.
//!
//! A store keeps only the SHA-256 of each token (hex), never the token: the
//! token is printed once when it is created. [`TokenStore`] is separate from
//! [`EventStore`](crate::EventStore) so that a backend can hold events without
//! holding credentials (on AWS, a JWT issuer replaces tokens).

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::StoreResult;

/// What a principal may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything (today the same as `viewer`: the API only reads).
    Admin,
    /// Every event, user and service.
    Viewer,
    /// Only the events whose `user` is the principal's own.
    #[serde(rename = "self")]
    OwnUser,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
            Role::OwnUser => "self",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            "self" => Ok(Role::OwnUser),
            other => Err(format!(
                "`{other}` is not a role: use admin, viewer or self"
            )),
        }
    }
}

/// A stored token: its label, the hash of its secret, and whom it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    /// A unique label, used to list and revoke it.
    pub name: String,
    /// SHA-256 of the token, lower-case hex.
    #[serde(skip_serializing)]
    pub hash: String,
    pub role: Role,
    /// The user whose events role `self` sees.
    pub user: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Where API tokens are kept.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new token; `false` (and nothing stored) when its name is taken.
    async fn create_token(&self, token: TokenRecord) -> StoreResult<bool>;

    /// Every token, by name.
    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>>;

    /// Deletes the token named `name`; `false` when there is none.
    async fn revoke_token(&self, name: &str) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_back_from_their_names() {
        for role in [Role::Admin, Role::Viewer, Role::OwnUser] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
