//! Test support (feature `testsuite`, never in a release build): a JWT issuer
//! on 127.0.0.1, [`TestIssuer`], for the tests of [`Jwt`](super::Jwt) in this
//! crate and in the API Lambda's.
//!
//! Its keys are real and made at start (RSA 2048 and P-256, never written
//! anywhere); its JWKS is served over HTTP on a free port and counts its
//! fetches; its server stops when the issuer is dropped. Tokens are signed
//! here with aws-lc-rs directly, not by the verifier's library, so the
//! verifier is checked against an independent signer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::JwtConfig;

/// The audience (app client id) of a [`TestIssuer`]'s tokens.
pub const TEST_AUDIENCE: &str = "ctt-test-client";

/// base64url without padding, as in JWTs.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key and its key id.
pub struct TestKey {
    kid: String,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl TestKey {
    /// A new RSA 2048 key (RS256).
    pub fn rsa(kid: &str) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate an RSA test key");
        Self {
            kid: kid.to_owned(),
            pair: Pair::Rsa(pair),
        }
    }

    /// A new P-256 key (ES256).
    pub fn ec(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .expect("generate an EC test key");
        Self {
            kid: kid.to_owned(),
            pair: Pair::Ec(pair),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS algorithm this key signs with.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
        }
    }

    /// The public key as a JWK (with `kid`, `use` and `alg`).
    pub fn jwk(&self) -> Value {
        match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // The uncompressed point: 0x04, x, y.
                let point = pair.public_key().as_ref();
                json!({
                    "kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                })
            }
        }
    }

    /// `claims` signed by this key, the header naming its `kid` and algorithm.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// The "algorithm confusion" forgery a verifier must refuse: `claims` in an
    /// HS256 JWT naming this key's `kid`, whose HMAC secret is the key's
    /// public JWK (as a verifier using a public key as a shared secret would).
    pub fn forge_hs256(&self, claims: &Value) -> String {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": self.kid});
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let secret = aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            self.jwk().to_string().as_bytes(),
        );
        let tag = aws_lc_rs::hmac::sign(&secret, message.as_bytes());
        format!("{message}.{}", b64(tag.as_ref()))
    }

    /// `header.claims` signed by this key, whatever the header says.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message.as_bytes(),
                    &mut signature,
                )
                .expect("RSA signature");
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message.as_bytes())
                .expect("ECDSA signature")
                .as_ref()
                .to_vec(),
        };
        format!("{message}.{}", b64(&signature))
    }
}

/// A JWT issuer on 127.0.0.1: an RSA key and an EC key, its JWKS at
/// `{url}/.well-known/jwks.json`.
pub struct TestIssuer {
    url: String,
    rsa: TestKey,
    ec: TestKey,
    served: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    /// Dropping it stops the server.
    _stop: tokio::sync::oneshot::Sender<()>,
}

#[derive(Clone)]
struct Served {
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

async fn jwks(State(served): State<Served>) -> Json<Value> {
    served.fetches.fetch_add(1, Ordering::SeqCst);
    let keys = served.keys.lock().map(|k| k.clone()).unwrap_or_default();
    Json(json!({ "keys": keys }))
}

impl TestIssuer {
    /// Starts an issuer on a free port of 127.0.0.1 (on the current runtime).
    pub async fn start() -> Self {
        let rsa = TestKey::rsa("test-rsa-1");
        let ec = TestKey::ec("test-ec-1");
        let served = Served {
            keys: Arc::new(Mutex::new(vec![rsa.jwk(), ec.jwk()])),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let address: SocketAddr = listener.local_addr().expect("local address");
        let app = axum::Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(served.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Self {
            url: format!("http://{address}"),
            rsa,
            ec,
            served: served.keys,
            fetches: served.fetches,
            _stop: stop,
        }
    }

    /// The issuer (`iss`), also the base of its JWKS URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A configuration accepting this issuer's tokens for [`TEST_AUDIENCE`].
    pub fn config(&self) -> JwtConfig {
        JwtConfig::new(self.url.clone(), vec![TEST_AUDIENCE.to_owned()])
    }

    pub fn rsa(&self) -> &TestKey {
        &self.rsa
    }

    pub fn ec(&self) -> &TestKey {
        &self.ec
    }

    /// Cognito-like ID-token claims: this issuer, [`TEST_AUDIENCE`], valid for
    /// an hour, `cognito:groups` and `cognito:username`.
    pub fn claims(&self, groups: &[&str], username: &str) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        json!({
            "iss": self.url, "aud": TEST_AUDIENCE, "sub": format!("sub-{username}"),
            "token_use": "id", "iat": now, "auth_time": now, "exp": now + 3600,
            "cognito:groups": groups, "cognito:username": username,
        })
    }

    /// An RS256 token with [`claims`](Self::claims).
    pub fn token(&self, groups: &[&str], username: &str) -> String {
        self.rsa.sign(&self.claims(groups, username))
    }

    /// Adds `key` to the JWKS (as an issuer rotating its keys does).
    pub fn serve(&self, key: &TestKey) {
        if let Ok(mut keys) = self.served.lock() {
            keys.push(key.jwk());
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
