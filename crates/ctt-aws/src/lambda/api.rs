//! The API Lambda: the same axum router as `ctt serve` (`ctt_server::router`:
//! API, OpenAPI, portal), served through `lambda_http` behind API Gateway.
//!
//! ## Who is calling
//!
//! - [`ApiAuth::Authorizer`]: API Gateway's JWT authorizer (Cognito or any
//!   OIDC issuer) verified the token before the function ran and passes its
//!   claims in the request context. The handler hands them to the router as
//!   [`GatewayClaims`] (request extensions, which a client cannot set), and
//!   the router maps them with `ctt-server`'s [`ClaimMapping`] — the same code
//!   that maps the claims of a JWT `ctt serve` verifies. A request without
//!   claims (no authorizer ran) gets 401: its `Authorization` header is not
//!   trusted.
//! - [`ApiAuth::Verify`]: no authorizer; the function verifies the bearer JWT
//!   itself with `ctt-server`'s [`Jwt`] authenticator (the issuer's JWKS, `iss`,
//!   `aud`/`client_id`, `exp`), exactly as `ctt serve` does. Authorizer claims,
//!   when a route has some, are used as above.
//! - [`ApiAuth::Open`]: everyone is an anonymous admin (a private API, or one
//!   protected some other way, e.g. IAM authorization).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use ctt_server::auth::{ClaimMapping, GatewayClaims, Jwt, JwtConfig, JwtConfigError};
use ctt_server::{AppState, AuthConfig, ServerConfig};
use ctt_store::EventStore;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde_json::{Map, Value};
use tower::ServiceExt;

/// How callers are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiAuth {
    /// No authorizer: everyone is an anonymous admin.
    Open,
    /// A JWT authorizer's claims decide, mapped so.
    Authorizer(ClaimMapping),
    /// The function verifies bearer JWTs (and takes an authorizer's claims,
    /// mapped the same way, when there are some).
    Verify(JwtConfig),
}

/// The claims an API Gateway authorizer passed on, if any: an HTTP API's JWT
/// authorizer (every value a string), or a REST API's Cognito authorizer.
pub fn claims_of(context: &RequestContext) -> Option<GatewayClaims> {
    match context {
        RequestContext::ApiGatewayV2(ctx) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| GatewayClaims::from(jwt.claims.clone())),
        RequestContext::ApiGatewayV1(ctx) => ctx
            .authorizer
            .fields
            .get("claims")
            .and_then(Value::as_object)
            .map(|claims| GatewayClaims(claims.clone().into_iter().collect::<Map<_, _>>())),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The API function's request handler.
#[derive(Clone)]
pub struct ApiHandler {
    router: Router,
    /// Whether an authorizer's claims are passed to the router.
    claims: bool,
}

/// How long a request may run: API Gateway gives up at 30 s.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(28);

impl ApiHandler {
    /// The router of `ctt serve` over `store`, authenticated by `auth`.
    pub fn new(
        store: Arc<dyn EventStore>,
        auth: ApiAuth,
        config: ServerConfig,
    ) -> Result<Self, JwtConfigError> {
        let (auth_config, claims) = match auth {
            ApiAuth::Open => (AuthConfig::open(), false),
            ApiAuth::Authorizer(mapping) => (
                AuthConfig::open()
                    .trust_gateway_claims(mapping)
                    .require_credentials(),
                true,
            ),
            ApiAuth::Verify(jwt) => {
                let mapping = jwt.claims.clone();
                let auth = AuthConfig::open()
                    .with_authenticator(Arc::new(Jwt::new(jwt)?))
                    .trust_gateway_claims(mapping)
                    .require_credentials();
                (auth, true)
            }
        };
        let state = AppState::new(store)
            .with_auth(auth_config)
            .with_config(config);
        Ok(Self {
            router: ctt_server::router(state),
            claims,
        })
    }

    /// Answers one request.
    pub async fn call(&self, mut request: Request) -> axum::response::Response {
        if self.claims
            && let Some(claims) = request.request_context_ref().and_then(claims_of)
        {
            request.extensions_mut().insert(claims);
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

/// The API settings of the environment:
///
/// - `CTT_AUTH`: `none` or `jwt` (default `jwt`).
/// - With `jwt`: `CTT_ROLES_CLAIM` (default `cognito:groups`), `CTT_USER_CLAIM`
///   (default `cognito:username`), `CTT_DEFAULT_ROLE` (`self`, `viewer`,
///   `admin` or `none`; default `self`); and, for the function to verify
///   bearer JWTs itself (no authorizer), `CTT_JWT_ISSUER` with
///   `CTT_JWT_AUDIENCE` (comma-separated app client ids, required), optional
///   `CTT_JWT_JWKS_URL` and `CTT_JWT_TOKEN_USE`. Without `CTT_JWT_ISSUER`, an
///   authorizer's claims decide.
/// - `CTT_CORS_ORIGINS` (comma-separated).
pub fn settings_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(ApiAuth, ServerConfig), super::SettingsError> {
    let set = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let list = |name: &str| -> Vec<String> {
        set(name)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let auth = match set("CTT_AUTH").as_deref() {
        Some("none") => ApiAuth::Open,
        None | Some("jwt") => {
            let mut mapping = ClaimMapping::default();
            if let Some(claim) = set("CTT_ROLES_CLAIM") {
                mapping.groups_claim = claim;
            }
            if let Some(claim) = set("CTT_USER_CLAIM") {
                mapping.username_claim = claim;
            }
            if let Some(role) = set("CTT_DEFAULT_ROLE") {
                mapping.default_role = match role.as_str() {
                    "none" => None,
                    other => Some(other.parse().map_err(|reason| super::SettingsError {
                        variable: "CTT_DEFAULT_ROLE",
                        reason,
                    })?),
                };
            }
            match set("CTT_JWT_ISSUER") {
                None => ApiAuth::Authorizer(mapping),
                Some(issuer) => {
                    let audiences = list("CTT_JWT_AUDIENCE");
                    if audiences.is_empty() {
                        return Err(super::SettingsError {
                            variable: "CTT_JWT_AUDIENCE",
                            reason: "is required with CTT_JWT_ISSUER: the app client id(s) \
                                     tokens must be issued for"
                                .into(),
                        });
                    }
                    ApiAuth::Verify(JwtConfig {
                        issuer,
                        audiences,
                        jwks_url: set("CTT_JWT_JWKS_URL"),
                        token_use: set("CTT_JWT_TOKEN_USE"),
                        claims: mapping,
                    })
                }
            }
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
        cors_allowed_origins: list("CTT_CORS_ORIGINS"),
        // API Gateway chooses the `Host` (its own name, or a custom domain) and
        // no browser reaches the function on a loopback address: the
        // DNS-rebinding guard of an open `ctt serve` has nothing to guard here.
        allowed_hosts: ctt_server::AllowedHosts::Any,
        // API Gateway terminates TLS and says so in `X-Forwarded-Proto`.
        trust_forwarded_proto: true,
    };
    Ok((auth, config))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(auth, ApiAuth::Authorizer(ClaimMapping::default()));
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
        let strict = ClaimMapping {
            groups_claim: "groups".into(),
            default_role: None,
            ..ClaimMapping::default()
        };
        assert_eq!(auth, ApiAuth::Authorizer(strict.clone()));
        let (auth, _) = settings_from_lookup(env(&[
            ("CTT_ROLES_CLAIM", "groups"),
            ("CTT_DEFAULT_ROLE", "none"),
            (
                "CTT_JWT_ISSUER",
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X",
            ),
            ("CTT_JWT_AUDIENCE", "app1, app2"),
            ("CTT_JWT_TOKEN_USE", "id"),
        ]))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            auth,
            ApiAuth::Verify(JwtConfig {
                issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X".into(),
                audiences: vec!["app1".into(), "app2".into()],
                jwks_url: None,
                token_use: Some("id".into()),
                claims: strict,
            })
        );
        for (pairs, variable) in [
            (&[("CTT_AUTH", "saml")][..], "CTT_AUTH"),
            (&[("CTT_DEFAULT_ROLE", "root")][..], "CTT_DEFAULT_ROLE"),
            (
                &[("CTT_JWT_ISSUER", "https://issuer.example")][..],
                "CTT_JWT_AUDIENCE",
            ),
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
