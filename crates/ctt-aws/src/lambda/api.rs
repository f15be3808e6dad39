//! The API Lambda: the same axum router as `ctt serve` (`ctt_server::router`:
//! API, OpenAPI, portal), served through `lambda_http` behind API Gateway.
//!
//! ## Roles from the authorizer
//!
//! With an API Gateway JWT authorizer (Cognito or any OIDC issuer), the gateway
//! has verified the token before the function runs and passes its claims in the
//! request context. [`identity_from_claims`] maps them to a role — the groups
//! claim (`cognito:groups` by default) naming `admin`, `viewer` or `self` — and,
//! for `self`, the user whose events the caller may see (the `cognito:username`
//! claim by default).
//!
//! `ctt-server` resolves identities from API tokens only (its extension point
//! for JWTs is not there yet), so the claims reach it as a token: each identity
//! gets a token derived from a per-process random key, kept in an in-memory
//! [`ClaimTokens`] store the router's [`AuthConfig`] reads, and the request's
//! `Authorization` header (the JWT, already checked) is replaced by it. A client
//! never sees or can guess these tokens; without claims the header is removed
//! and the router answers 401.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use chrono::Utc;
use ctt_server::auth::{generate_token, hash_token};
use ctt_server::{AllowedHosts, AppState, AuthConfig, ServerConfig};
use ctt_store::{EventStore, Role, StoreResult, TokenRecord, TokenStore};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use tower::ServiceExt;

/// How callers are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// No authorizer: everyone is an anonymous admin (a private API, or one
    /// protected some other way, e.g. IAM authorization).
    Open,
    /// A JWT authorizer's claims decide (see the module documentation).
    Claims(ClaimsConfig),
}

/// Which claims carry the role and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsConfig {
    /// The claim listing the caller's groups (`cognito:groups`).
    pub roles_claim: String,
    /// The claim naming the caller's user, for role `self` (`cognito:username`).
    pub user_claim: String,
    /// The role of a caller in none of the groups `admin`, `viewer`, `self`;
    /// `None` refuses them.
    pub default_role: Option<Role>,
}

impl Default for ClaimsConfig {
    fn default() -> Self {
        Self {
            roles_claim: "cognito:groups".to_owned(),
            user_claim: "cognito:username".to_owned(),
            default_role: Some(Role::OwnUser),
        }
    }
}

/// Who the claims say the caller is: role, user (for `self`), and a name for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedIdentity {
    pub role: Role,
    pub user: Option<String>,
    pub name: String,
}

/// The groups of a claim as API Gateway passes them: `[admin viewer]` (HTTP
/// API), `admin,viewer` (REST API), a JSON list, or one name.
pub fn groups(raw: &str) -> Vec<String> {
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

/// Maps authorizer claims to an identity; `None` when the caller may not in.
pub fn identity_from_claims(
    claims: &HashMap<String, String>,
    config: &ClaimsConfig,
) -> Option<ClaimedIdentity> {
    let groups = claims
        .get(&config.roles_claim)
        .map(|raw| groups(raw))
        .unwrap_or_default();
    let has = |name: &str| groups.iter().any(|g| g.eq_ignore_ascii_case(name));
    let role = if has("admin") {
        Role::Admin
    } else if has("viewer") {
        Role::Viewer
    } else if has("self") {
        Role::OwnUser
    } else {
        config.default_role?
    };
    let user = claims
        .get(&config.user_claim)
        .filter(|u| !u.trim().is_empty())
        .cloned();
    if role == Role::OwnUser && user.is_none() {
        return None; // a `self` caller without a user would see nothing anyway
    }
    let name = user
        .clone()
        .or_else(|| claims.get("sub").cloned())
        .unwrap_or_else(|| "jwt".to_owned());
    Some(ClaimedIdentity {
        role,
        user,
        name: format!("jwt:{name}"),
    })
}

/// The claims an API Gateway authorizer passed on, if any.
pub fn claims_of(context: &RequestContext) -> Option<HashMap<String, String>> {
    match context {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| jwt.claims.clone()),
        RequestContext::ApiGatewayV1(ctx) => ctx.authorizer.fields.get("claims").and_then(|c| {
            c.as_object().map(|claims| {
                claims
                    .iter()
                    .map(|(k, v)| {
                        let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        (k.clone(), v)
                    })
                    .collect()
            })
        }),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Tokens standing for authorizer-verified identities, in memory only.
#[derive(Debug, Default)]
pub struct ClaimTokens {
    by_name: RwLock<HashMap<String, TokenRecord>>,
}

#[async_trait]
impl TokenStore for ClaimTokens {
    async fn create_token(&self, token: TokenRecord) -> StoreResult<bool> {
        let mut tokens = self
            .by_name
            .write()
            .map_err(|_| ctt_store::StoreError::Task("claim tokens lock poisoned".into()))?;
        Ok(tokens.insert(token.name.clone(), token).is_none())
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        Ok(self
            .by_name
            .read()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<bool> {
        Ok(self
            .by_name
            .write()
            .map(|mut t| t.remove(name).is_some())
            .unwrap_or(false))
    }
}

/// The API function's request handler.
#[derive(Clone)]
pub struct ApiHandler {
    router: Router,
    auth: Arc<Claims>,
}

struct Claims {
    config: Option<ClaimsConfig>,
    tokens: Arc<ClaimTokens>,
    /// Per-process secret the claim tokens are derived from.
    key: String,
}

impl Claims {
    /// The token standing for `identity`, registered on first use.
    async fn token_for(&self, identity: &ClaimedIdentity) -> String {
        let secret = hash_token(&format!(
            "{}\n{}\n{}",
            self.key,
            identity.role.as_str(),
            identity.user.as_deref().unwrap_or_default()
        ));
        let token = format!("{}{secret}", ctt_server::auth::TOKEN_PREFIX);
        let record = TokenRecord {
            name: format!("{} ({})", identity.name, identity.role),
            hash: hash_token(&token),
            role: identity.role,
            user: identity.user.clone(),
            created_at: Utc::now(),
        };
        let _ = self.tokens.create_token(record).await;
        token
    }
}

/// The system could not provide randomness for the claim-token key.
#[derive(Debug, thiserror::Error)]
#[error("no randomness available for the claim-token key: {0}")]
pub struct NoRandomness(pub String);

/// How long a request may run: API Gateway gives up at 30 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(28);

impl ApiHandler {
    /// The router of `ctt serve` over `store`, authenticated by `auth`.
    pub fn new(
        store: Arc<dyn EventStore>,
        auth: ApiAuth,
        config: ServerConfig,
    ) -> Result<Self, NoRandomness> {
        let tokens = Arc::new(ClaimTokens::default());
        let (auth_config, claims) = match auth {
            ApiAuth::Open => (AuthConfig::open(), None),
            ApiAuth::Claims(claims) => (
                AuthConfig::tokens(tokens.clone())
                    .require_credentials()
                    .refresh_every(Duration::ZERO),
                Some(claims),
            ),
        };
        // API Gateway chooses the `Host` (its own name, or a custom domain) and
        // no browser reaches the function on a loopback address: the
        // DNS-rebinding guard of an open `ctt serve` has nothing to guard here.
        let config = ServerConfig {
            allowed_hosts: AllowedHosts::Any,
            ..config
        };
        let state = AppState::new(store)
            .with_auth(auth_config)
            .with_config(config);
        Ok(Self {
            router: ctt_server::router(state),
            auth: Arc::new(Claims {
                config: claims,
                tokens,
                key: generate_token().map_err(|e| NoRandomness(e.to_string()))?,
            }),
        })
    }

    /// Answers one request.
    pub async fn call(&self, mut request: Request) -> axum::response::Response {
        if let Some(config) = &self.auth.config {
            // The gateway checked the JWT; the router sees the identity instead.
            request.headers_mut().remove(AUTHORIZATION);
            let identity = request
                .request_context_ref()
                .and_then(claims_of)
                .and_then(|claims| identity_from_claims(&claims, config));
            if let Some(identity) = identity {
                let token = self.auth.token_for(&identity).await;
                if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
                    request.headers_mut().insert(AUTHORIZATION, value);
                }
            }
        }
        match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// The handler as the `tower` service `lambda_http::run` takes.
    pub fn service(
        self,
    ) -> impl tower::Service<
        Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future = impl Future<Output = Result<axum::response::Response, Infallible>> + Send,
    > + Clone {
        tower::service_fn(move |request: Request| {
            let handler = self.clone();
            async move { Ok::<_, Infallible>(handler.call(request).await) }
        })
    }
}

/// The API settings of the environment: `CTT_AUTH` (`none` or `jwt`, default
/// `jwt`), `CTT_ROLES_CLAIM`, `CTT_USER_CLAIM`, `CTT_DEFAULT_ROLE` (`self`,
/// `viewer`, `admin` or `none`), `CTT_CORS_ORIGINS` (comma-separated).
pub fn settings_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(ApiAuth, ServerConfig), super::SettingsError> {
    let auth = match lookup("CTT_AUTH").as_deref().map(str::trim) {
        Some("none") => ApiAuth::Open,
        None | Some("jwt") | Some("") => {
            let mut config = ClaimsConfig::default();
            if let Some(claim) = lookup("CTT_ROLES_CLAIM").filter(|c| !c.trim().is_empty()) {
                config.roles_claim = claim.trim().to_owned();
            }
            if let Some(claim) = lookup("CTT_USER_CLAIM").filter(|c| !c.trim().is_empty()) {
                config.user_claim = claim.trim().to_owned();
            }
            if let Some(role) = lookup("CTT_DEFAULT_ROLE") {
                config.default_role = match role.trim() {
                    "none" => None,
                    other => Some(other.parse().map_err(|reason| super::SettingsError {
                        variable: "CTT_DEFAULT_ROLE",
                        reason,
                    })?),
                };
            }
            ApiAuth::Claims(config)
        }
        Some(other) => {
            return Err(super::SettingsError {
                variable: "CTT_AUTH",
                reason: format!("`{other}` is not `none` or `jwt`"),
            });
        }
    };
    let config = ServerConfig {
        request_timeout: REQUEST_TIMEOUT,
        cors_allowed_origins: lookup("CTT_CORS_ORIGINS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        ..ServerConfig::default()
    };
    Ok((auth, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn groups_read_in_every_encoding() {
        for (raw, expected) in [
            ("[admin viewer]", vec!["admin", "viewer"]),
            ("admin,viewer", vec!["admin", "viewer"]),
            (r#"["self"]"#, vec!["self"]),
            ("viewer", vec!["viewer"]),
            ("[]", vec![]),
            ("", vec![]),
        ] {
            assert_eq!(groups(raw), expected, "{raw}");
        }
    }

    #[test]
    fn claims_map_to_roles() {
        let config = ClaimsConfig::default();
        let cases = [
            (
                claims(&[
                    ("cognito:groups", "[viewer self]"),
                    ("cognito:username", "teacher"),
                ]),
                Some((Role::Viewer, Some("teacher"))),
            ),
            (
                claims(&[("cognito:groups", "[Admin]"), ("sub", "abc")]),
                Some((Role::Admin, None)),
            ),
            (
                claims(&[
                    ("cognito:groups", "[self]"),
                    ("cognito:username", "alucloud001"),
                ]),
                Some((Role::OwnUser, Some("alucloud001"))),
            ),
            (
                claims(&[("cognito:username", "alucloud002")]),
                Some((Role::OwnUser, Some("alucloud002"))),
            ),
            (claims(&[("cognito:groups", "[self]")]), None),
            (claims(&[("sub", "abc")]), None),
        ];
        for (claims, expected) in cases {
            let got = identity_from_claims(&claims, &config);
            assert_eq!(
                got.as_ref().map(|i| (i.role, i.user.as_deref())),
                expected,
                "{claims:?}"
            );
        }
        let strict = ClaimsConfig {
            default_role: None,
            roles_claim: "groups".into(),
            user_claim: "email".into(),
        };
        assert_eq!(
            identity_from_claims(&claims(&[("email", "a@b")]), &strict),
            None
        );
        assert_eq!(
            identity_from_claims(&claims(&[("groups", "viewer"), ("email", "a@b")]), &strict)
                .map(|i| (i.role, i.name)),
            Some((Role::Viewer, "jwt:a@b".to_owned()))
        );
    }

    #[test]
    fn api_settings_come_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let (auth, config) = settings_from_lookup(env(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(auth, ApiAuth::Claims(ClaimsConfig::default()));
        assert!(config.cors_allowed_origins.is_empty());
        let (auth, config) = settings_from_lookup(env(&[
            ("CTT_AUTH", "none"),
            ("CTT_CORS_ORIGINS", "https://a.example, https://b.example"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(auth, ApiAuth::Open);
        assert_eq!(config.cors_allowed_origins.len(), 2);
        let (auth, _) = settings_from_lookup(env(&[
            ("CTT_ROLES_CLAIM", "groups"),
            ("CTT_DEFAULT_ROLE", "none"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            auth,
            ApiAuth::Claims(ClaimsConfig {
                roles_claim: "groups".into(),
                default_role: None,
                ..ClaimsConfig::default()
            })
        );
        for (pairs, variable) in [
            (&[("CTT_AUTH", "saml")][..], "CTT_AUTH"),
            (&[("CTT_DEFAULT_ROLE", "root")][..], "CTT_DEFAULT_ROLE"),
        ] {
            let lookup = |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            };
            assert_eq!(
                settings_from_lookup(lookup)
                    .map(|_| ())
                    .map_err(|e| e.variable),
                Err(variable)
            );
        }
    }
}
