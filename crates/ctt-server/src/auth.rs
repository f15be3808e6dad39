//! Access control (SPEC §7): who is asking, and what they may see.
//!
//! Every request but `/health` passes [`require_identity`], which resolves the
//! caller into an [`Identity`] (a role and, for role `self`, a user) and puts it
//! in the request's extensions; handlers take the [`Identity`] extractor and
//! apply [`Identity::restrict`] to every query, so a `self` principal's queries
//! are narrowed in one place.
//!
//! **Credentials** are checked by [`Authenticator`]s, which [`AuthConfig`] tries
//! in turn on the token of an `Authorization: Bearer …` header:
//!
//! - [`ApiTokens`]: `ctt_` and 64 hex digits, made by `ctt token create`; the
//!   store keeps only their SHA-256.
//! - [`Jwt`]: JWTs of an OIDC issuer (a Cognito user pool or any other),
//!   verified against the issuer's JWKS; their claims map to a role and a user
//!   through a [`ClaimMapping`].
//!
//! Behind API Gateway, the claims its JWT authorizer already verified reach the
//! router as [`GatewayClaims`] in the request's extensions (put there by the
//! API Lambda, never by a client) and map through the same [`ClaimMapping`].
//!
//! When no authenticator has a credential (no API token exists, no JWT issuer
//! is configured) and credentials are not
//! [required](AuthConfig::require_credentials) (a loopback listener), everyone
//! is an anonymous admin, and an `Authorization` header is ignored.
//!
//! The web portal signs in with the same credentials: `/login` checks one like
//! the Bearer check does and opens a server-side session (see
//! [`crate::web::session`]); its cookie, [`SESSION_COOKIE`], is accepted in
//! place of the header, so the portal's CSV/NDJSON links to the API work from a
//! browser. A session keeps what [`Authenticated`] says: an API token's hash,
//! looked up again on every request (a revoked token ends its sessions), or a
//! JWT's identity until the JWT expires. Handlers only ever see an [`Identity`].

pub mod claims;
pub mod jwt;
#[cfg(feature = "testsuite")]
pub mod testing;
mod tokens;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ctt_core::EventQuery;
use ctt_store::{Role, StoreError, TokenStore};
use sha2::{Digest, Sha256};

pub use claims::{ClaimMapping, ClaimsRefused, GatewayClaims};
pub use jwt::{JwksError, JwksPolicy, Jwt, JwtConfig, JwtConfigError};
pub use tokens::ApiTokens;

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
    /// The user whose events role `self` sees (the token's `--user`, a JWT's
    /// username claim).
    pub user: Option<String>,
    /// The credential's name, for logs (a token's name, `jwt:USER`); `None`
    /// when anonymous.
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

/// A credential an [`Authenticator`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub identity: Identity,
    /// When the credential stops being valid (a JWT's `exp`); `None`: until
    /// it is revoked.
    pub expires_at: Option<SystemTime>,
    /// Set for a credential that can be revoked while it is valid (an API
    /// token: its hash). A portal session keeps this key, never the
    /// credential, and asks [`Authenticator::resume`] on every request; without
    /// one, a session keeps [`identity`](Self::identity) until
    /// [`expires_at`](Self::expires_at).
    pub session_key: Option<String>,
}

/// One kind of credential: API tokens, JWTs of an issuer.
#[async_trait]
pub trait Authenticator: Send + Sync {
    /// What a person calls this credential, for the sign-in form ("API token").
    fn label(&self) -> &'static str;

    /// Who `credential` (a Bearer token, or what was pasted into the portal's
    /// sign-in form) says the caller is. `Ok(None)`: not a credential this
    /// authenticator accepts (unknown, revoked, expired, forged, another
    /// kind). `Err`: it cannot tell right now.
    async fn authenticate(&self, credential: &str) -> Result<Option<Authenticated>, AuthError>;

    /// Whether any credential can pass now. While no authenticator has one and
    /// credentials are not required, access is open.
    async fn has_credentials(&self) -> Result<bool, AuthError>;

    /// The identity behind an [`Authenticated::session_key`] this
    /// authenticator gave, while its credential is still valid.
    async fn resume(&self, _session_key: &str) -> Result<Option<Identity>, AuthError> {
        Ok(None)
    }
}

/// Why credentials cannot be checked right now (not: why they are refused).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read the API tokens")]
    Tokens(#[source] StoreError),
    #[error("cannot fetch the signing keys of the JWT issuer {issuer}")]
    Keys {
        issuer: String,
        #[source]
        source: JwksError,
    },
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Tokens(e) => ApiError::Store(e),
            keys @ AuthError::Keys { .. } => ApiError::AuthUnavailable(keys),
        }
    }
}

/// How requests are authenticated: the [`Authenticator`]s tried in turn, and
/// whether claims verified upstream are trusted. Cheap to clone.
#[derive(Clone)]
pub struct AuthConfig {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    settings: AuthSettings,
    /// API tokens first (a hash lookup), then the others in the order added.
    chain: Vec<Arc<dyn Authenticator>>,
}

#[derive(Clone)]
struct AuthSettings {
    tokens: Option<Arc<dyn TokenStore>>,
    /// How long a read of the token table is trusted.
    refresh: Duration,
    others: Vec<Arc<dyn Authenticator>>,
    /// Refuse anonymous requests even when no credential exists (non-loopback).
    required: bool,
    /// How [`GatewayClaims`] map to an identity; `None`: they are ignored.
    gateway: Option<ClaimMapping>,
}

impl AuthConfig {
    /// No credentials at all: everyone is an anonymous admin.
    pub fn open() -> Self {
        Self::build(AuthSettings {
            tokens: None,
            refresh: DEFAULT_REFRESH,
            others: Vec::new(),
            required: false,
            gateway: None,
        })
    }

    /// Tokens from `store`: needed as soon as one exists.
    pub fn tokens(store: Arc<dyn TokenStore>) -> Self {
        Self::open().with(|s| s.tokens = Some(store))
    }

    /// Also accepts the credentials `authenticator` checks (a [`Jwt`]). A
    /// configured issuer counts as a credential: the server is no longer open.
    pub fn with_authenticator(self, authenticator: Arc<dyn Authenticator>) -> Self {
        self.with(|s| s.others.push(authenticator))
    }

    /// Trusts the [`GatewayClaims`] of a request (claims an API Gateway JWT
    /// authorizer verified), mapped by `mapping`. Only for a router whose
    /// requests come through such a gateway (the API Lambda).
    pub fn trust_gateway_claims(self, mapping: ClaimMapping) -> Self {
        self.with(|s| s.gateway = Some(mapping))
    }

    /// Credentials are needed even while no token exists (a server reachable
    /// from other machines must never become open by revoking the last token).
    pub fn require_credentials(self) -> Self {
        self.with(|s| s.required = true)
    }

    /// How long a read of the token table is trusted (default 2 s; 0 reads it
    /// for every request).
    pub fn refresh_every(self, refresh: Duration) -> Self {
        self.with(|s| s.refresh = refresh)
    }

    fn with(self, change: impl FnOnce(&mut AuthSettings)) -> Self {
        let mut settings = self.inner.settings.clone();
        change(&mut settings);
        Self::build(settings)
    }

    fn build(settings: AuthSettings) -> Self {
        let mut chain: Vec<Arc<dyn Authenticator>> = Vec::new();
        if let Some(store) = &settings.tokens {
            chain.push(Arc::new(ApiTokens::new(store.clone(), settings.refresh)));
        }
        chain.extend(settings.others.iter().cloned());
        Self {
            inner: Arc::new(AuthInner { settings, chain }),
        }
    }

    /// What the sign-in form asks for: "API token", "API token or JWT".
    pub fn credential_label(&self) -> String {
        let labels: Vec<&str> = self.inner.chain.iter().map(|a| a.label()).collect();
        if labels.is_empty() {
            "API token".to_owned()
        } else {
            labels.join(" or ")
        }
    }

    /// Whether [`GatewayClaims`] are trusted.
    pub fn trusts_gateway_claims(&self) -> bool {
        self.inner.settings.gateway.is_some()
    }

    /// Who `credential` is, by the first authenticator that accepts it.
    pub async fn authenticate(&self, credential: &str) -> Result<Option<Authenticated>, ApiError> {
        for authenticator in &self.inner.chain {
            if let Some(accepted) = authenticator.authenticate(credential).await? {
                return Ok(Some(accepted));
            }
        }
        Ok(None)
    }

    /// Resolves an `Authorization` header value into an identity.
    pub async fn identify(&self, authorization: Option<&str>) -> Result<Identity, ApiError> {
        if self.is_open().await? {
            // No credentials configured: open, whatever the client sends.
            return Ok(Identity::anonymous());
        }
        let Some(header) = authorization else {
            return Err(ApiError::Unauthorized { token_given: false });
        };
        let token = bearer(header).ok_or(ApiError::Unauthorized { token_given: true })?;
        self.authenticate(token)
            .await?
            .map(|accepted| accepted.identity)
            .ok_or(ApiError::Unauthorized { token_given: true })
    }

    /// The identity of claims an upstream authorizer verified, when they are
    /// trusted and let the caller in.
    pub fn identify_claims(&self, claims: &GatewayClaims) -> Result<Identity, ApiError> {
        let Some(mapping) = &self.inner.settings.gateway else {
            return Err(ApiError::Unauthorized { token_given: false });
        };
        mapping.identity(&claims.0).map_err(|reason| {
            tracing::info!(%reason, "authorizer claims refused");
            ApiError::Unauthorized { token_given: true }
        })
    }

    /// Whether no credentials are needed (none exists, none is required):
    /// everyone is an anonymous admin and the portal needs no sign-in.
    pub async fn is_open(&self) -> Result<bool, ApiError> {
        let settings = &self.inner.settings;
        if settings.required || settings.gateway.is_some() {
            return Ok(false);
        }
        for authenticator in &self.inner.chain {
            if authenticator.has_credentials().await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The identity behind a session key ([`Authenticated::session_key`]: an
    /// API token's hash), if its credential is still valid.
    pub async fn resume(&self, session_key: &str) -> Result<Option<Identity>, ApiError> {
        for authenticator in &self.inner.chain {
            if let Some(identity) = authenticator.resume(session_key).await? {
                return Ok(Some(identity));
            }
        }
        Ok(None)
    }

    /// The identity of a token given by its hash, if the token still exists
    /// (the same as [`resume`](Self::resume)).
    pub async fn identify_hash(&self, hash: &str) -> Result<Option<Identity>, ApiError> {
        self.resume(hash).await
    }
}

/// The token of `Bearer TOKEN` (scheme case-insensitive).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Who sends this request: the claims an upstream authorizer verified when
/// they are trusted, else the `Authorization: Bearer` header when there is
/// one, else a live portal session's cookie, else nobody (anonymous when
/// access is open, otherwise 401).
pub async fn identify_request(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Identity, ApiError> {
    if state.auth.trusts_gateway_claims()
        && let Some(claims) = extensions.get::<GatewayClaims>()
    {
        return state.auth.identify_claims(claims);
    }
    let header = match headers.get(AUTHORIZATION).map(|v| v.to_str()) {
        None => None,
        Some(Ok(value)) => Some(value),
        Some(Err(_)) => return Err(ApiError::Unauthorized { token_given: true }),
    };
    if header.is_none()
        && !state.auth.is_open().await?
        && let Some(identity) = crate::web::session::cookie_identity(state, headers).await?
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
    match identify_request(&state, request.headers(), request.extensions()).await {
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
