//! [`ApiTokens`]: the [`Authenticator`] of API tokens (`ctt token create`),
//! checked against a snapshot of the store's token table.
//!
//! The table is read at most every `refresh` (2 s by default), so a token
//! created or revoked while the server runs takes effect within that time
//! without a store read per request. A token is found by its SHA-256, the only
//! form the store keeps; the hash is also the session key a portal session
//! keeps, so revoking a token ends its sessions.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ctt_store::TokenStore;

use super::{AuthError, Authenticated, Authenticator, Identity, hash_token};

/// API tokens from a [`TokenStore`].
pub struct ApiTokens {
    store: Arc<dyn TokenStore>,
    refresh: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
}

/// The token table as last read.
struct Snapshot {
    read_at: Instant,
    by_hash: HashMap<String, Identity>,
}

impl ApiTokens {
    /// The tokens of `store`, its table read at most every `refresh`.
    pub fn new(store: Arc<dyn TokenStore>, refresh: Duration) -> Self {
        Self {
            store,
            refresh,
            snapshot: RwLock::new(None),
        }
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, AuthError> {
        if let Ok(guard) = self.snapshot.read()
            && let Some(snapshot) = guard.as_ref()
            && snapshot.read_at.elapsed() < self.refresh
        {
            return Ok(Arc::clone(snapshot));
        }
        let by_hash = self
            .store
            .tokens()
            .await
            .map_err(AuthError::Tokens)?
            .into_iter()
            .map(|t| {
                let identity = Identity {
                    role: t.role,
                    user: t.user,
                    name: Some(t.name),
                };
                (t.hash, identity)
            })
            .collect();
        let snapshot = Arc::new(Snapshot {
            read_at: Instant::now(),
            by_hash,
        });
        if let Ok(mut guard) = self.snapshot.write() {
            *guard = Some(Arc::clone(&snapshot));
        }
        Ok(snapshot)
    }
}

#[async_trait]
impl Authenticator for ApiTokens {
    fn label(&self) -> &'static str {
        "API token"
    }

    async fn authenticate(&self, credential: &str) -> Result<Option<Authenticated>, AuthError> {
        let hash = hash_token(credential);
        let snapshot = self.snapshot().await?;
        Ok(snapshot.by_hash.get(&hash).map(|identity| Authenticated {
            identity: identity.clone(),
            expires_at: None,
            session_key: Some(hash),
        }))
    }

    async fn has_credentials(&self) -> Result<bool, AuthError> {
        Ok(!self.snapshot().await?.by_hash.is_empty())
    }

    async fn resume(&self, session_key: &str) -> Result<Option<Identity>, AuthError> {
        Ok(self.snapshot().await?.by_hash.get(session_key).cloned())
    }
}
