//! Access control (SPEC §7): who is asking, and what they may see.
//!
//! Every request but `/health` passes [`require_identity`], which resolves the
//! `Authorization: Bearer …` header into an [`Identity`] (a role and, for role
//! `self`, a user) and puts it in the request's extensions; handlers take the
//! [`Identity`] extractor and apply [`Identity::restrict`] to every query, so a
//! `self` principal's queries are narrowed in one place.
//!
//! Credentials are API tokens made by `ctt token create`: `ctt_` and 64 hex
//! digits (32 random bytes); the store keeps only their SHA-256. When no token
//! exists and credentials are not [required](AuthConfig::require_credentials)
//! (a loopback listener), everyone is an anonymous admin, and an
//! `Authorization` header is ignored.
//!
//! The web portal signs in with the same tokens: `/login` checks a token like
//! the Bearer check does and opens a server-side session (see
//! [`crate::web::session`]); its cookie, [`SESSION_COOKIE`], is accepted in
//! place of the header, so the portal's CSV/NDJSON links to the API work from a
//! browser. The session keeps the token's hash, not an identity: a revoked
//! token ends its sessions at the next request.
//!
//! **Extension point (AWS):** a JWT from Cognito or any OIDC issuer, or the
//! claims an API Gateway authorizer passed on, resolve to the same [`Identity`]:
//! add the verifier beside [`AuthConfig::identify`]'s token lookup. Handlers
//! only ever see an [`Identity`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ctt_core::EventQuery;
use ctt_store::{Role, StoreError, TokenStore};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState};

/// Routes answered without credentials.
pub const PUBLIC_ROUTES: &[&str] = &["/health"];

/// Prefix of every token, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "ctt_";

/// The portal's session cookie.
pub const SESSION_COOKIE: &str = "ctt_session";

/// How long a snapshot of the token table is trusted: a token created or
/// revoked while the server runs takes effect within this time.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    /// The user whose events role `self` sees (the token's `--user`).
    pub user: Option<String>,
    /// The token's name, for logs; `None` when anonymous.
    pub name: Option<String>,
}

impl Identity {
    /// Who asks when no credentials are configured.
    pub fn anonymous() -> Self {
        Self {
            role: Role::Admin,
            user: None,
            name: None,
        }
    }

    /// The only user whose events this identity may see, if it is restricted.
    /// A `self` identity without a user sees nothing (fail closed).
    pub fn only_user(&self) -> Option<&str> {
        match self.role {
            Role::OwnUser => Some(self.user.as_deref().unwrap_or("")),
            Role::Admin | Role::Viewer => None,
        }
    }

    /// Narrows a query to what this identity may see.
    pub fn restrict(&self, query: &mut EventQuery) {
        if let Some(user) = self.only_user() {
            query.only_user = Some(user.to_owned());
        }
    }

    /// Whether this identity may see `user`'s events and name.
    pub fn may_see_user(&self, user: &str) -> bool {
        self.only_user().is_none_or(|own| own == user)
    }

    /// Operators' routes (`/metrics`): admin and viewer.
    pub fn require_operator(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Viewer => Ok(()),
            Role::OwnUser => Err(ApiError::Forbidden(
                "role `self` sees its own events only, not the server's metrics".into(),
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Put there by `require_identity`; absent only if a route was added
        // outside the router's layers, which must not grant access.
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or(ApiError::Unauthorized { token_given: false })
    }
}

/// A new random token: `ctt_` and 32 random bytes in hex.
pub fn generate_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex(&bytes)))
}

/// The stored form of a token: SHA-256, lower-case hex.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// How requests are authenticated.
#[derive(Clone)]
pub struct AuthConfig {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    tokens: Option<Arc<dyn TokenStore>>,
    /// Refuse anonymous requests even when no token exists (non-loopback).
    required: bool,
    refresh: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
}

/// The token table as last read.
struct Snapshot {
    read_at: Instant,
    by_hash: HashMap<String, Identity>,
}

impl AuthConfig {
    /// No credentials at all: everyone is an anonymous admin.
    pub fn open() -> Self {
        Self::build(None, false)
    }

    /// Tokens from `store`: needed as soon as one exists.
    pub fn tokens(store: Arc<dyn TokenStore>) -> Self {
        Self::build(Some(store), false)
    }

    /// Credentials are needed even while no token exists (a server reachable
    /// from other machines must never become open by revoking the last token).
    pub fn require_credentials(self) -> Self {
        Self::build(self.inner.tokens.clone(), true).refresh_every(self.inner.refresh)
    }

    /// How long a read of the token table is trusted (default 2 s; 0 reads it
    /// for every request).
    pub fn refresh_every(self, refresh: Duration) -> Self {
        Self {
            inner: Arc::new(AuthInner {
                tokens: self.inner.tokens.clone(),
                required: self.inner.required,
                refresh,
                snapshot: RwLock::new(None),
            }),
        }
    }

    fn build(tokens: Option<Arc<dyn TokenStore>>, required: bool) -> Self {
        Self {
            inner: Arc::new(AuthInner {
                tokens,
                required,
                refresh: DEFAULT_REFRESH,
                snapshot: RwLock::new(None),
            }),
        }
    }

    /// Resolves an `Authorization` header value into an identity.
    pub async fn identify(&self, authorization: Option<&str>) -> Result<Identity, ApiError> {
        let snapshot = self.snapshot().await.map_err(ApiError::Store)?;
        if !self.inner.required && snapshot.by_hash.is_empty() {
            // No credentials configured: open, whatever the client sends.
            return Ok(Identity::anonymous());
        }
        let Some(header) = authorization else {
            return Err(ApiError::Unauthorized { token_given: false });
        };
        let token = bearer(header).ok_or(ApiError::Unauthorized { token_given: true })?;
        snapshot
            .by_hash
            .get(&hash_token(token))
            .cloned()
            .ok_or(ApiError::Unauthorized { token_given: true })
    }

    /// Whether no credentials are needed (no token exists, loopback): everyone
    /// is an anonymous admin and the portal needs no sign-in.
    pub async fn is_open(&self) -> Result<bool, ApiError> {
        let snapshot = self.snapshot().await.map_err(ApiError::Store)?;
        Ok(!self.inner.required && snapshot.by_hash.is_empty())
    }

    /// The identity of a token given by its hash (a portal session's), if the
    /// token still exists.
    pub async fn identify_hash(&self, hash: &str) -> Result<Option<Identity>, ApiError> {
        let snapshot = self.snapshot().await.map_err(ApiError::Store)?;
        Ok(snapshot.by_hash.get(hash).cloned())
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, StoreError> {
        if let Ok(guard) = self.inner.snapshot.read()
            && let Some(snapshot) = guard.as_ref()
            && snapshot.read_at.elapsed() < self.inner.refresh
        {
            return Ok(Arc::clone(snapshot));
        }
        let by_hash = match &self.inner.tokens {
            None => HashMap::new(),
            Some(store) => store
                .tokens()
                .await?
                .into_iter()
                .map(|t| {
                    let identity = Identity {
                        role: t.role,
                        user: t.user,
                        name: Some(t.name),
                    };
                    (t.hash, identity)
                })
                .collect(),
        };
        let snapshot = Arc::new(Snapshot {
            read_at: Instant::now(),
            by_hash,
        });
        if let Ok(mut guard) = self.inner.snapshot.write() {
            *guard = Some(Arc::clone(&snapshot));
        }
        Ok(snapshot)
    }
}

/// The token of `Bearer TOKEN` (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who sends these headers: the `Authorization: Bearer` header when there is
/// one, else a live portal session's cookie, else nobody (anonymous when
/// access is open, otherwise 401).
pub async fn identify_request(state: &AppState, headers: &HeaderMap) -> Result<Identity, ApiError> {
    let header = match headers.get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return Err(ApiError::Unauthorized { token_given: true }),
    };
    if header.is_none()
        && let Some(hash) = crate::web::session::cookie_token_hash(state, headers)
        && !state.auth.is_open().await?
        && let Some(identity) = state.auth.identify_hash(&hash).await?
    {
        return Ok(identity);
    }
    state.auth.identify(header).await
}

/// Middleware: resolves the caller's [`Identity`] or answers 401.
pub async fn require_identity(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let public = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| PUBLIC_ROUTES.contains(&p.as_str()));
    if public {
        return next.run(request).await;
    }
    match identify_request(&state, request.headers()).await {
        Ok(identity) => {
            if let Some(name) = &identity.name {
                tracing::Span::current().record("token", name.as_str());
            }
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_hex() {
        let a = generate_token().expect("random");
        let b = generate_token().expect("random");
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        assert_eq!(bearer("Bearer ctt_x"), Some("ctt_x"));
        assert_eq!(bearer("bearer   ctt_x "), Some("ctt_x"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer  "), None);
    }

    #[test]
    fn self_role_only_sees_its_user_and_fails_closed() {
        let student = Identity {
            role: Role::OwnUser,
            user: Some("alucloud001".into()),
            name: None,
        };
        assert!(student.may_see_user("alucloud001"));
        assert!(!student.may_see_user("alucloud002"));
        let broken = Identity {
            user: None,
            ..student.clone()
        };
        assert!(!broken.may_see_user("alucloud001"));
        assert!(Identity::anonymous().may_see_user("anyone"));
        assert!(student.require_operator().is_err());
    }
}
