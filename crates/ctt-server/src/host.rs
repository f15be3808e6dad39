//! The DNS-rebinding guard: which `Host` names a server answers while it is
//! open (no credentials, SPEC §7's loopback default).
//!
//! A web page on `evil.example` can make its name resolve to 127.0.0.1 and
//! then read, from the victim's browser, whatever 127.0.0.1 answers: the
//! browser thinks it talks to `evil.example` (same origin), so neither CORS
//! nor `SameSite` cookies stop it. The request still names `Host:
//! evil.example`, so an open server answers only the names that mean "this
//! machine" (`localhost`, `127.0.0.0/8`, `[::1]`, any port) and the names an
//! operator configured ([`AllowedHosts::LoopbackAnd`], `[server]
//! allowed_hosts`); any other gets 421 Misdirected Request. Once credentials
//! are needed, any `Host` is answered: the token protects, and a rebinding
//! page has no token.
//!
//! A request naming no host at all is answered: browsers always send `Host`,
//! so such a request cannot come from a rebinding page.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::uri::Authority;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Which `Host` names an open server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Loopback names and these (lower-case host names or IP addresses,
    /// IPv6 in brackets; any port). The default, with none.
    LoopbackAnd(Vec<String>),
    /// Every name: for a server no browser reaches on a private address (the
    /// Lambda behind API Gateway, whose names the gateway chooses).
    Any,
}

impl Default for AllowedHosts {
    fn default() -> Self {
        Self::LoopbackAnd(Vec::new())
    }
}

/// A configured name that is not a host name or IP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a host name or IP address (without scheme, path or port)")]
pub struct InvalidHostName {
    pub name: String,
}

impl AllowedHosts {
    /// Loopback names and `names` (`ctt.example`, `10.0.0.5`, `[fd00::1]` or
    /// `fd00::1`), checked and normalised.
    pub fn loopback_and(names: &[String]) -> Result<Self, InvalidHostName> {
        names
            .iter()
            .map(|name| normalise_name(name).ok_or_else(|| InvalidHostName { name: name.clone() }))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::LoopbackAnd)
    }

    /// Whether a `Host` header value (`name[:port]`) is one this server
    /// answers while open.
    pub fn allows(&self, host: &str) -> bool {
        let names = match self {
            Self::Any => return true,
            Self::LoopbackAnd(names) => names,
        };
        let Some(name) = host_name(host) else {
            return false;
        };
        is_loopback_name(&name) || names.contains(&name)
    }
}

/// The host of a `Host` value, lower-case, without its port (`[::1]` keeps
/// its brackets); `None` unless it is exactly `host[:port]`.
pub fn host_name(value: &str) -> Option<String> {
    let authority = Authority::from_str(value.trim()).ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    Some(authority.host().trim_end_matches('.').to_ascii_lowercase())
}

/// `localhost`, `127.0.0.0/8`, `[::1]` (and `[::ffff:127.x.y.z]`).
fn is_loopback_name(name: &str) -> bool {
    if name == "localhost" {
        return true;
    }
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return ip.is_loopback();
    }
    name.strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<Ipv6Addr>().ok())
        .is_some_and(|ip| {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        })
}

/// A configured name as [`host_name`] gives it, or `None` if it is not one.
fn normalise_name(name: &str) -> Option<String> {
    let name = name.trim();
    let bracketed = match name.parse::<Ipv6Addr>() {
        Ok(_) => format!("[{name}]"),
        Err(_) => name.to_owned(),
    };
    let normal = host_name(&bracketed)?;
    // A port would be silently ignored: refuse it rather than surprise.
    (normal.len() == bracketed.trim_end_matches('.').len()).then_some(normal)
}

/// Middleware: while access is open, a request naming a host this server does
/// not answer gets 421 (see the module documentation).
pub async fn require_allowed_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let hosts = &state.config.allowed_hosts;
    let named = request
        .headers()
        .get_all(HOST)
        .iter()
        .map(|v| v.to_str().ok())
        .chain(request.uri().authority().map(|a| Some(a.as_str())));
    let mut refused = None;
    for host in named {
        match host {
            Some(host) if hosts.allows(host) => {}
            other => {
                refused = Some(other.unwrap_or("(not text)").to_owned());
                break;
            }
        }
    }
    let Some(host) = refused else {
        return next.run(request).await;
    };
    // Unknown (the token table cannot be read) counts as open: fail closed.
    if matches!(state.auth.is_open().await, Ok(false)) {
        return next.run(request).await;
    }
    tracing::warn!(
        host = ?host,
        "refused a request for a host this open server does not answer (DNS rebinding?); \
         add it to [server] allowed_hosts if it is this machine"
    );
    ApiError::MisdirectedHost.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_server_answers_loopback_names_with_any_port() {
        let hosts = AllowedHosts::default();
        for host in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:8080",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "evil.example@127.0.0.1",
            "0.0.0.0:8080",
            "10.0.0.5",
            "[::2]",
            "::1",
            "",
            "127.0.0.1/x",
        ] {
            assert!(!hosts.allows(host), "{host}");
        }
        assert!(AllowedHosts::Any.allows("evil.example"));
    }

    #[test]
    fn configured_names_are_answered_too() {
        let hosts = AllowedHosts::loopback_and(&[
            "CTT.example".into(),
            "10.0.0.5".into(),
            "fd00::1".into(),
        ])
        .expect("valid names");
        for host in [
            "ctt.example",
            "ctt.example:8443",
            "10.0.0.5:8080",
            "[fd00::1]:80",
            "localhost",
        ] {
            assert!(hosts.allows(host), "{host}");
        }
        assert!(!hosts.allows("other.example"));
        for bad in ["ctt.example:8080", "http://ctt.example", "a/b", "u@ctt", ""] {
            assert_eq!(
                AllowedHosts::loopback_and(&[bad.to_owned()]),
                Err(InvalidHostName { name: bad.into() }),
                "{bad}"
            );
        }
    }
}
