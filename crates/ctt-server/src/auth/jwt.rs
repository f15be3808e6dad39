//! [`Jwt`]: the [`Authenticator`] of JWTs from one OIDC issuer — a Cognito
//! user pool or any other — for `ctt serve` and the API Lambda alike.
//!
//! A token is accepted when all of these hold:
//!
//! - its header names a key of the issuer's JWKS (`kid`; a JWKS of one key
//!   needs none) and an algorithm that key allows: the key's own `alg`, else
//!   the asymmetric algorithms of its type (RS256…PS512 for RSA, ES256 or
//!   ES384 by curve, EdDSA). Never `none`, never HMAC: a JWKS's public key is
//!   never used as a shared secret, and `oct` keys are ignored;
//! - its signature verifies with that key;
//! - `iss` is exactly the configured issuer; `exp` is in the future and
//!   `nbf`, when present, in the past (both give [`LEEWAY_SECS`] for clock skew);
//! - `aud` names one of the configured audiences or, since Cognito access
//!   tokens carry no `aud`, `client_id` does;
//! - `token_use`, when configured, matches (`id` or `access` on Cognito);
//! - its claims map to a role, and a user for `self` ([`ClaimMapping`]).
//!
//! The JWKS (`jwks_url`, by default `{issuer}/.well-known/jwks.json`, where
//! Cognito and Auth0 serve it) is fetched on first use and kept. A token with
//! an unknown `kid` (the issuer rotated its keys), or keys older than
//! [`JwksPolicy::max_age`], fetch it again — at most once per
//! [`JwksPolicy::min_interval`], so made-up key ids cannot make the server
//! hammer the issuer. A fetch has a timeout and a size cap. The issuer and the
//! JWKS must be `https://`, except on loopback (tests, a local issuer).
//!
//! A refused token is logged (the reason, never the token) and answered like
//! an unknown API token (401). Only while no key could ever be fetched is the
//! answer 503: the server cannot tell.

use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{AuthError, Authenticated, Authenticator, ClaimMapping, ClaimsRefused};

/// Seconds of clock skew allowed on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// A JWKS larger than this is refused (real ones are a few KiB).
const MAX_JWKS_BYTES: usize = 1 << 20;

/// Which tokens are accepted, and what they mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The `iss` every token must carry, exactly
    /// (`https://cognito-idp.REGION.amazonaws.com/POOL_ID`).
    pub issuer: String,
    /// The accepted `aud` (or `client_id`) values: the app client ids. At
    /// least one: an issuer signs tokens for other applications too.
    pub audiences: Vec<String>,
    /// Where the issuer's keys are; `None`: `{issuer}/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// The `token_use` every token must carry (`id`, `access`); `None`: any.
    pub token_use: Option<String>,
    /// How claims map to a role and a user.
    pub claims: ClaimMapping,
}

impl JwtConfig {
    /// Tokens of `issuer` for `audiences`, claims mapped the Cognito way.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audiences,
            jwks_url: None,
            token_use: None,
            claims: ClaimMapping::default(),
        }
    }

    /// The JWKS's URL: the configured one, or the issuer's
    /// `/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        match &self.jwks_url {
            Some(url) => url.clone(),
            None => format!(
                "{}/.well-known/jwks.json",
                self.issuer.trim_end_matches('/')
            ),
        }
    }
}

/// When the JWKS is fetched again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksPolicy {
    /// At most one fetch per this time, whatever tokens arrive.
    pub min_interval: Duration,
    /// Keys older than this are fetched again at the next token (the old ones
    /// stay in use while the issuer cannot be reached).
    pub max_age: Duration,
    /// A fetch taking longer fails.
    pub timeout: Duration,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(10),
            max_age: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why a [`JwtConfig`] cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("invalid JWT {what} `{url}`: {reason}")]
    Url {
        what: &'static str,
        url: String,
        reason: String,
    },
    #[error(
        "no JWT audience: give the app client id(s) tokens must be issued for (`aud` or `client_id`)"
    )]
    NoAudience,
    #[error("cannot build the HTTP client that fetches the JWKS")]
    Client(#[source] reqwest::Error),
}

/// Why the issuer's keys could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot fetch {url}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url} is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge { url: String },
    #[error("{url} is not a JWKS")]
    Parse {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{url} holds no usable signing key")]
    NoKeys { url: String },
    #[error("the last fetch of {url} failed; the next is allowed in at most {wait:?}")]
    Paused { url: String, wait: Duration },
}

/// JWTs of one issuer.
pub struct Jwt {
    config: JwtConfig,
    jwks_url: String,
    policy: JwksPolicy,
    client: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// Held while fetching: one fetch at a time; when the last one started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

/// The keys of the last successful fetch.
#[derive(Default)]
struct KeySet {
    keys: Vec<Arc<SigningKey>>,
    fetched_at: Option<Instant>,
}

struct SigningKey {
    kid: Option<String>,
    key: DecodingKey,
    /// The algorithms this key may verify (never empty, never HMAC).
    algorithms: Vec<Algorithm>,
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<Arc<SigningKey>> {
        match kid {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .cloned()
    }

    fn fresh(&self, max_age: Duration) -> bool {
        self.fetched_at.is_some_and(|at| at.elapsed() < max_age)
    }
}

/// Why a token is refused (logged, never sent).
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("unreadable header or unsupported algorithm")]
    Header(#[source] jsonwebtoken::errors::Error),
    #[error("no key `{}` in the issuer's JWKS", .0.as_deref().unwrap_or("(no kid)"))]
    UnknownKey(Option<String>),
    #[error("invalid token")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("neither `aud` nor `client_id` names an accepted audience")]
    Audience,
    #[error("`token_use` is not `{0}`")]
    TokenUse(String),
    #[error("`exp` is not a number of seconds")]
    Expiry,
    #[error(transparent)]
    Claims(ClaimsRefused),
}

impl Jwt {
    /// An authenticator for `config`'s tokens, fetching keys by the default
    /// [`JwksPolicy`].
    pub fn new(config: JwtConfig) -> Result<Self, JwtConfigError> {
        Self::with_policy(config, JwksPolicy::default())
    }

    pub fn with_policy(config: JwtConfig, policy: JwksPolicy) -> Result<Self, JwtConfigError> {
        check_url("issuer", &config.issuer)?;
        let jwks_url = config.jwks_url();
        let jwks = check_url("JWKS URL", &jwks_url)?;
        if config.audiences.iter().all(|a| a.trim().is_empty()) {
            return Err(JwtConfigError::NoAudience);
        }
        let client = reqwest::Client::builder()
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .https_only(jwks.scheme() == "https")
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(JwtConfigError::Client)?;
        Ok(Self {
            config,
            jwks_url,
            policy,
            client,
            keys: RwLock::new(Arc::default()),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// Fetches the issuer's keys now (at startup, to report a mistake early);
    /// how many usable keys it has.
    pub async fn prefetch(&self) -> Result<usize, AuthError> {
        let mut last = self.fetching.lock().await;
        *last = Some(Instant::now());
        let set = self
            .fetch()
            .await
            .map_err(|source| self.keys_error(source))?;
        let count = set.keys.len();
        self.install(set);
        Ok(count)
    }

    fn current(&self) -> Arc<KeySet> {
        self.keys.read().map(|k| Arc::clone(&k)).unwrap_or_default()
    }

    fn install(&self, set: KeySet) {
        if let Ok(mut keys) = self.keys.write() {
            *keys = Arc::new(set);
        }
    }

    fn keys_error(&self, source: JwksError) -> AuthError {
        AuthError::Keys {
            issuer: self.config.issuer.clone(),
            source,
        }
    }

    /// The key named `kid`, fetching the JWKS when it is unknown or old (see
    /// the module documentation).
    async fn key_for(&self, kid: Option<&str>) -> Result<Option<Arc<SigningKey>>, AuthError> {
        let current = self.current();
        if current.fresh(self.policy.max_age)
            && let Some(key) = current.find(kid)
        {
            return Ok(Some(key));
        }
        let mut last = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        let current = self.current();
        if current.fresh(self.policy.max_age)
            && let Some(key) = current.find(kid)
        {
            return Ok(Some(key));
        }
        let wait = last.map_or(Duration::ZERO, |at| {
            self.policy.min_interval.saturating_sub(at.elapsed())
        });
        if wait.is_zero() {
            *last = Some(Instant::now());
            match self.fetch().await {
                Ok(set) => {
                    tracing::info!(url = %self.jwks_url, keys = set.keys.len(), "fetched the JWT issuer's keys");
                    let key = set.find(kid);
                    self.install(set);
                    return Ok(key);
                }
                Err(error) if current.fetched_at.is_none() => return Err(self.keys_error(error)),
                Err(error) => tracing::warn!(
                    error = %crate::error::cause_chain(&error),
                    "cannot fetch the JWT issuer's keys again; keeping those fetched before"
                ),
            }
        } else if current.fetched_at.is_none() {
            let url = self.jwks_url.clone();
            return Err(self.keys_error(JwksError::Paused { url, wait }));
        }
        Ok(current.find(kid))
    }

    async fn fetch(&self) -> Result<KeySet, JwksError> {
        let url = &self.jwks_url;
        let failed = |source| JwksError::Fetch {
            url: url.clone(),
            source,
        };
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(failed)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwksError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document =
            serde_json::from_slice(&body).map_err(|source| JwksError::Parse {
                url: url.clone(),
                source,
            })?;
        let keys: Vec<Arc<SigningKey>> = document
            .keys
            .into_iter()
            .filter_map(SigningKey::from_jwk)
            .map(Arc::new)
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoKeys { url: url.clone() });
        }
        Ok(KeySet {
            keys,
            fetched_at: Some(Instant::now()),
        })
    }

    /// Checks `token` (which looks like a JWT): the identity, or why not.
    async fn verify(&self, token: &str) -> Result<Result<Authenticated, Refusal>, AuthError> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(e) => return Ok(Err(Refusal::Header(e))),
        };
        let Some(key) = self.key_for(header.kid.as_deref()).await? else {
            return Ok(Err(Refusal::UnknownKey(header.kid)));
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = key.algorithms.clone();
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        // `aud` or `client_id`: checked below.
        validation.validate_aud = false;
        validation.leeway = LEEWAY_SECS;
        let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
        {
            Ok(data) => data.claims,
            Err(e) => return Ok(Err(Refusal::Invalid(e))),
        };
        Ok(self.accept(&claims))
    }

    /// The checks on verified claims jsonwebtoken does not make.
    fn accept(&self, claims: &Map<String, Value>) -> Result<Authenticated, Refusal> {
        let accepted = |value: &Value| {
            value
                .as_str()
                .is_some_and(|v| self.config.audiences.iter().any(|a| a == v))
        };
        let audience = match claims.get("aud") {
            Some(Value::Array(values)) => values.iter().any(accepted),
            Some(value) => accepted(value),
            None => false,
        } || claims.get("client_id").is_some_and(accepted);
        if !audience {
            return Err(Refusal::Audience);
        }
        if let Some(expected) = &self.config.token_use
            && claims.get("token_use").and_then(Value::as_str) != Some(expected.as_str())
        {
            return Err(Refusal::TokenUse(expected.clone()));
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .filter(|exp| exp.is_finite() && *exp >= 0.0)
            .ok_or(Refusal::Expiry)?;
        let identity = self
            .config
            .claims
            .identity(claims)
            .map_err(Refusal::Claims)?;
        Ok(Authenticated {
            identity,
            expires_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(exp)),
            session_key: None,
        })
    }
}

#[async_trait]
impl Authenticator for Jwt {
    fn label(&self) -> &'static str {
        "JWT"
    }

    async fn authenticate(&self, credential: &str) -> Result<Option<Authenticated>, AuthError> {
        if !looks_like_jwt(credential) {
            return Ok(None);
        }
        match self.verify(credential).await? {
            Ok(accepted) => Ok(Some(accepted)),
            Err(refusal) => {
                tracing::info!(
                    issuer = %self.config.issuer,
                    reason = %crate::error::cause_chain(&refusal),
                    "JWT refused"
                );
                Ok(None)
            }
        }
    }

    /// A configured issuer always has credentials: a server accepting JWTs is
    /// never open.
    async fn has_credentials(&self) -> Result<bool, AuthError> {
        Ok(true)
    }
}

impl SigningKey {
    /// A JWK usable to verify signatures, with the algorithms it allows.
    fn from_jwk(value: Value) -> Option<Self> {
        let jwk: Jwk = serde_json::from_value(value).ok()?;
        if !matches!(
            jwk.common.public_key_use,
            None | Some(PublicKeyUse::Signature)
        ) {
            return None;
        }
        let by_type = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::EllipticCurve(params) => match params.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return None,
            },
            AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            // `oct` (a shared secret, never published) and anything else.
            _ => return None,
        };
        let algorithms = match jwk.common.key_algorithm {
            None => by_type,
            Some(declared) => {
                let declared = Algorithm::from_str(&declared.to_string()).ok()?;
                if !by_type.contains(&declared) {
                    return None;
                }
                vec![declared]
            }
        };
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        Some(Self {
            kid: jwk.common.key_id,
            key,
            algorithms,
        })
    }
}

/// Three base64url segments: worth verifying as a JWT (an API token is not).
fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
        && credential
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An `https://` URL, or `http://` to a loopback address.
fn check_url(what: &'static str, url: &str) -> Result<reqwest::Url, JwtConfigError> {
    let invalid = |reason: &str| JwtConfigError::Url {
        what,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        "http" => Err(invalid(
            "plain http is only accepted on loopback: keys fetched over http could be forged",
        )),
        _ => Err(invalid("not an http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        for ok in [
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC",
            "http://127.0.0.1:9000",
            "http://localhost:9000/issuer",
            "http://[::1]:9000",
        ] {
            assert!(check_url("issuer", ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example",
            "ftp://127.0.0.1",
            "issuer.example",
            "",
        ] {
            assert!(check_url("issuer", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_jwks_url_defaults_to_the_issuers_well_known_path() {
        let mut config = JwtConfig::new("https://issuer.example/pool/", vec!["app".into()]);
        assert_eq!(
            config.jwks_url(),
            "https://issuer.example/pool/.well-known/jwks.json"
        );
        config.jwks_url = Some("https://issuer.example/keys".into());
        assert_eq!(config.jwks_url(), "https://issuer.example/keys");
        let no_audience = JwtConfig::new("https://issuer.example", vec![" ".into()]);
        assert!(matches!(
            Jwt::new(no_audience),
            Err(JwtConfigError::NoAudience)
        ));
    }

    #[test]
    fn keys_allow_only_asymmetric_algorithms_of_their_type() {
        let rsa = json!({"kty": "RSA", "kid": "r", "n": "sXch", "e": "AQAB"});
        let key = SigningKey::from_jwk(rsa.clone()).expect("an RSA key");
        assert!(key.algorithms.contains(&Algorithm::RS256));
        assert!(
            key.algorithms
                .iter()
                .all(|a| !matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        );
        let mut declared = rsa.clone();
        declared["alg"] = json!("RS256");
        let key = SigningKey::from_jwk(declared).expect("an RSA key");
        assert_eq!(key.algorithms, [Algorithm::RS256]);
        for unusable in [
            json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}),
            json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "alg": "HS256"}),
            json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "alg": "ES256"}),
            json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "use": "enc"}),
            json!({"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}),
            json!({"kty": "XYZ"}),
        ] {
            assert!(
                SigningKey::from_jwk(unusable.clone()).is_none(),
                "{unusable}"
            );
        }
    }

    #[test]
    fn only_three_base64url_segments_look_like_a_jwt() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJz."));
        assert!(!looks_like_jwt("ctt_0123abcd"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt("a.b+/.c"));
    }
}
