//! Secret removal: credentials in records are replaced before anything is stored.
//!
//! [`redact`] runs on every kept record, in [`normalise`](crate::normalise), before
//! anything else reads it: the typed attributes, the flattened parameters and the
//! stored record all come from its output. A secret's value becomes [`REDACTED`]
//! (SPEC §3). The policy, its five families and what it cannot catch are in
//! `docs/redaction.md`; in short:
//!
//! 1. **Secret names.** A field whose name, folded (ASCII letters and digits only,
//!    lower-cased, trailing digits and one plural `s` dropped), ends in a secret
//!    word — `password`, `passwd`, `pwd`, `passphrase`, `secret`, `token` (not
//!    pagination, idempotency or lock tokens), `credential`, `authorization`,
//!    `cookie`, `connectionstring`, `keymaterial`, `privatekey`, `secretkey`,
//!    `accesskey`, `apikey`, … and one-time codes (`tokencode`, `authcode`, …) —
//!    optionally followed by `string`, `value`, `binary`, `hash`, … . Its whole value
//!    is secret: strings and numbers are replaced, each element of a list is, and in
//!    an object every leaf is too, except identifiers (`…Id`, `…Arn`, `…Name`,
//!    `…Type`, `expiration`, …) — so STS `credentials` keep `accessKeyId` and
//!    `expiration`. Booleans and `null` are kept (`passwordResetRequired: true`).
//! 2. **Name/value pairs.** An object whose name-like field (`name`, `Key`,
//!    `parameterKey`, `OptionName`, …) holds a secret name (`DB_PASSWORD`), or whose
//!    `type` is `SecureString`, has its value-like fields (`value`,
//!    `parameterValue`, …) replaced.
//! 3. **URLs with credentials**, in any string: the password of
//!    `scheme://user:password@host` and the values of query parameters with secret
//!    names (`X-Amz-Security-Token=`); the rest of the string is kept.
//! 4. **PEM private keys**: a string holding `-----BEGIN … PRIVATE …-----` is
//!    replaced whole.
//! 5. **JSON in strings**: a string holding a JSON object or array is parsed and
//!    redacted by these same rules; when anything was replaced it is stored
//!    re-serialised (compact, keys sorted), else byte for byte as it came.
//!
//! An ARN is never a secret: it names a resource. `…Arn` fields are kept by
//! name, and a value starting `arn:` is kept even under a secret name (ECS
//! `secrets[].valueFrom`, CodeBuild `encryptionKey`).
//!
//! Speed: every key is folded once into a small stack buffer and matched by its
//! last letter; every string is searched for `://` and `-----BEGIN` and checked for a
//! leading `{`/`[`, and only strings passing one of those are looked at again.

use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What a secret's value is replaced by.
pub const REDACTED: &str = "REDACTED";

/// How many JSON documents deep, each inside a string of the one around it, are
/// opened; a string holding a deeper one is replaced whole (fail closed).
const MAX_EMBEDDED_DEPTH: u8 = 8;

/// Replaces every secret in the record, in place. Returns how many values were
/// replaced (a value under a secret name counts even when it was `REDACTED`
/// already; a value both redacted inside and then replaced whole counts twice).
pub fn redact(record: &mut Value) -> usize {
    redact_value(record, 0)
}

/// Whether a field of this name holds a secret (family 1).
pub fn is_secret_name(name: &str) -> bool {
    is_secret_stem(Folded::new(name).stem())
}

/// A name's last [`Folded::LEN`] ASCII letters and digits, lower-cased: a fixed
/// buffer, so that folding the keys of every record allocates nothing.
struct Folded {
    buf: [u8; Folded::LEN],
    start: usize,
}

impl Folded {
    /// Longer than any secret word with its qualifier and plural.
    const LEN: usize = 32;

    fn new(name: &str) -> Self {
        let mut buf = [0; Self::LEN];
        let mut start = Self::LEN;
        for b in name.bytes().rev().filter(u8::is_ascii_alphanumeric) {
            start -= 1;
            buf[start] = b.to_ascii_lowercase();
            if start == 0 {
                break;
            }
        }
        Self { buf, start }
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Without trailing digits (`authenticationCode1`) and one plural `s`.
    fn stem(&self) -> &[u8] {
        let mut stem = self.bytes();
        while let [rest @ .., last] = stem
            && last.is_ascii_digit()
        {
            stem = rest;
        }
        stem.strip_suffix(b"s").unwrap_or(stem)
    }
}

fn ends_with_any(stem: &[u8], suffixes: &[&[u8]]) -> bool {
    suffixes.iter().any(|s| stem.ends_with(s))
}

/// Words that, before `token`, make it a pagination, idempotency, locking or
/// setting token rather than a credential (`nextToken`, `clientRequestToken`,
/// `httpTokens`, …).
const NOT_CREDENTIAL_TOKENS: &[&[u8]] = &[
    b"next",
    b"pagination",
    b"page",
    b"continuation",
    b"forward",
    b"backward",
    b"client",
    b"request",
    b"idempotency",
    b"change",
    b"lock",
    b"sequence",
    b"http",
];

/// Words that, before `key`, make it a secret key (`privateKey`, `apiKey`,
/// `secretAccessKey`, `preSharedKey`, Direct Connect's `authKey`). Not `key` alone
/// (an S3 object key, a tag key), `publicKey`, `kmsKey…` or `encryptionKey`
/// (ARNs and IDs in AWS's APIs).
const SECRET_KEY_KINDS: &[&[u8]] = &[
    b"private",
    b"secret",
    b"access",
    b"api",
    b"shared",
    b"signing",
    b"session",
    b"auth",
    b"hmac",
    b"client",
    b"activation",
];

/// Words that, before `code`, make it a one-time credential (`tokenCode`, the MFA
/// code of `AssumeRole`; `authenticationCode1`; OAuth's `authorizationCode`).
/// Not `errorCode`, `statusCode`, `productCodes`.
const SECRET_CODE_KINDS: &[&[u8]] = &[
    b"auth",
    b"authorization",
    b"authentication",
    b"token",
    b"mfa",
    b"otp",
    b"verification",
    b"confirmation",
];

/// Whether a folded, stemmed name ends in a secret word, with or without a
/// qualifier after it (`secretString`, `tokenValue`, `passwordHash`).
fn is_secret_stem(stem: &[u8]) -> bool {
    if is_secret_word(stem) {
        return true;
    }
    let qualifier: &[&[u8]] = match stem.last() {
        Some(b'g') => &[b"string"],
        Some(b'y') => &[b"binary"],
        Some(b'e') => &[b"value", b"byte"],
        Some(b'h') => &[b"hash"],
        Some(b'a') => &[b"data"],
        Some(b't') => &[b"text"],
        Some(b'm') => &[b"pem"],
        Some(b'b') => &[b"blob"],
        _ => return false,
    };
    qualifier
        .iter()
        .filter_map(|q| stem.strip_suffix(*q))
        .any(is_secret_word)
}

/// Whether a folded, stemmed name ends in a secret word. Dispatches on the last
/// letter: most names are rejected after one or two comparisons.
fn is_secret_word(stem: &[u8]) -> bool {
    match stem.last() {
        Some(b'd') => ends_with_any(stem, &[b"password", b"passwd", b"pwd"]),
        Some(b'e') => {
            ends_with_any(stem, &[b"passphrase", b"cookie"])
                || stem
                    .strip_suffix(b"code")
                    .is_some_and(|kind| ends_with_any(kind, SECRET_CODE_KINDS))
        }
        Some(b't') => stem.ends_with(b"secret"),
        Some(b'n') => {
            stem.strip_suffix(b"token")
                .is_some_and(|kind| !ends_with_any(kind, NOT_CREDENTIAL_TOKENS))
                || stem.ends_with(b"authorization")
        }
        Some(b'l') => {
            stem.ends_with(b"credential")
                || (stem.ends_with(b"keymaterial") && !stem.ends_with(b"publickeymaterial"))
        }
        Some(b'y') => stem
            .strip_suffix(b"key")
            .is_some_and(|kind| ends_with_any(kind, SECRET_KEY_KINDS)),
        Some(b'g') => stem.ends_with(b"connectionstring"),
        _ => false,
    }
}

/// Whether a field inside a secret's object names or dates it rather than holds it:
/// kept (walked as usual) where every other leaf is replaced.
fn is_identifier(folded: &Folded) -> bool {
    const IDENTIFIERS: &[&[u8]] = &[
        b"id",
        b"arn",
        b"name",
        b"type",
        b"status",
        b"date",
        b"time",
        b"expiration",
        b"expiresat",
        b"fingerprint",
        b"publickey",
        b"region",
        b"endpoint",
    ];
    // `status` as it is, `accessKeyIds` without its plural.
    ends_with_any(folded.bytes(), IDENTIFIERS) || ends_with_any(folded.stem(), IDENTIFIERS)
}

/// A value starting `arn:` with the six parts of an ARN: it names a resource.
fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
        && s.bytes().filter(|b| *b == b':').count() >= 5
        && !s.bytes().any(|b| b.is_ascii_whitespace())
}

fn redact_value(value: &mut Value, depth: u8) -> usize {
    match value {
        Value::Object(map) => redact_object(map, depth),
        Value::Array(items) => items.iter_mut().map(|i| redact_value(i, depth)).sum(),
        Value::String(s) => redact_string(s, depth),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}

/// What a key says about its value, folded once per key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRole {
    /// Family 1: the value is secret.
    Secret,
    /// `name`, `Key`, `parameterKey`, `OptionName`, …: may name a secret.
    Name,
    /// `value`, `Value`, `parameterValue`, …: holds what a [`KeyRole::Name`] names.
    Value,
    /// `type`: `SecureString` marks the value secret.
    Type,
    Other,
}

impl KeyRole {
    fn of(key: &str) -> Self {
        let folded = Folded::new(key);
        let stem = folded.stem();
        if is_secret_stem(stem) {
            Self::Secret
        } else if stem.ends_with(b"value") {
            Self::Value
        } else if stem.ends_with(b"name") || stem.ends_with(b"key") {
            Self::Name
        } else if stem == b"type" {
            Self::Type
        } else {
            Self::Other
        }
    }
}

fn redact_object(map: &mut Map<String, Value>, depth: u8) -> usize {
    let mut replaced = 0;
    let mut names_a_secret = false;
    let mut has_value = false;
    for (key, value) in map.iter_mut() {
        let role = KeyRole::of(key);
        match (role, &*value) {
            (KeyRole::Secret, _) => {
                replaced += redact_secret(value, depth);
                continue;
            }
            (KeyRole::Name, Value::String(name)) if is_secret_name(name) => names_a_secret = true,
            (KeyRole::Type, Value::String(kind)) if kind.eq_ignore_ascii_case("SecureString") => {
                names_a_secret = true;
            }
            (KeyRole::Value, _) => has_value = true,
            _ => {}
        }
        replaced += redact_value(value, depth);
    }
    if names_a_secret && has_value {
        for (key, value) in map.iter_mut() {
            if KeyRole::of(key) == KeyRole::Value {
                replaced += redact_secret(value, depth);
            }
        }
    }
    replaced
}

/// Replaces a value that is secret as a whole (family 1 and 2): strings and
/// numbers, each element of a list, every leaf of an object but its identifiers.
fn redact_secret(value: &mut Value, depth: u8) -> usize {
    match value {
        Value::Null | Value::Bool(_) => 0,
        Value::String(s) if is_arn(s) => 0,
        Value::String(_) | Value::Number(_) => {
            *value = Value::String(REDACTED.to_owned());
            1
        }
        Value::Array(items) => items.iter_mut().map(|i| redact_secret(i, depth)).sum(),
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, child)| {
                let folded = Folded::new(key);
                if is_identifier(&folded) && !is_secret_stem(folded.stem()) {
                    redact_value(child, depth)
                } else {
                    redact_secret(child, depth)
                }
            })
            .sum(),
    }
}

/// Searchers built once: `str::contains` sets one up per call, which costs more
/// than the search on the short strings most values are.
static URL_SEPARATOR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("://"));
static PEM_BEGIN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(PEM_BEGIN_TEXT));
const PEM_BEGIN_TEXT: &str = "-----BEGIN";

/// Families 3–5 in one string.
fn redact_string(s: &mut String, depth: u8) -> usize {
    if looks_like_json(s) {
        match serde_json::from_str::<StrictValue>(s) {
            Ok(StrictValue(mut inner)) => {
                if depth >= MAX_EMBEDDED_DEPTH {
                    *s = REDACTED.to_owned();
                    return 1;
                }
                let replaced = redact_value(&mut inner, depth + 1);
                if replaced > 0 {
                    *s = inner.to_string();
                }
                return replaced;
            }
            // The same key twice: which value a reader sees is undecided, so the
            // one that was dropped cannot be shown to hold no secret.
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                *s = REDACTED.to_owned();
                return 1;
            }
            // Not JSON after all: an ordinary string.
            Err(_) => {}
        }
    }
    if holds_private_key(s) {
        *s = REDACTED.to_owned();
        return 1;
    }
    if URL_SEPARATOR.find(s.as_bytes()).is_some() {
        return redact_urls(s);
    }
    0
}

fn looks_like_json(s: &str) -> bool {
    let t = s.trim_ascii();
    matches!(
        (t.as_bytes().first(), t.as_bytes().last()),
        (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']'))
    )
}

/// Family 4: a PEM header naming a private key (`RSA PRIVATE KEY`, `EC PRIVATE
/// KEY`, `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `OPENSSH PRIVATE KEY`, `PGP
/// PRIVATE KEY BLOCK`). Certificates and public keys are kept.
fn holds_private_key(s: &str) -> bool {
    let mut rest = s;
    while let Some(at) = PEM_BEGIN.find(rest.as_bytes()) {
        rest = &rest[at + PEM_BEGIN_TEXT.len()..];
        let label = rest.find("-----").map_or(rest, |end| &rest[..end]);
        if label.len() <= 64 && label.contains("PRIVATE") {
            return true;
        }
    }
    false
}

/// Family 3: every `scheme://user:password@host` password and every secret-named
/// query parameter's value becomes `REDACTED`; the rest of the string is kept.
fn redact_urls(s: &mut String) -> usize {
    let secrets = url_secrets(s);
    if secrets.is_empty() {
        return 0;
    }
    let mut out = String::with_capacity(s.len());
    let mut kept_from = 0;
    for range in &secrets {
        out.push_str(&s[kept_from..range.start]);
        out.push_str(REDACTED);
        kept_from = range.end;
    }
    out.push_str(&s[kept_from..]);
    *s = out;
    secrets.len()
}

/// The byte ranges of the secrets in every URL of `s`, in order.
fn url_secrets(s: &str) -> Vec<Range<usize>> {
    let bytes = s.as_bytes();
    let mut secrets = Vec::new();
    let mut from = 0;
    while let Some(found) = URL_SEPARATOR.find(&bytes[from..]) {
        let start = from + found + 3;
        // A URL ends at white space, a quote or an angle bracket.
        let end = bytes[start..]
            .iter()
            .position(|b| b.is_ascii_whitespace() || matches!(b, b'"' | b'\'' | b'<' | b'>' | b'`'))
            .map_or(bytes.len(), |p| start + p);
        // Its authority (RFC 3986) ends at the path, query or fragment.
        let authority_end = bytes[start..end]
            .iter()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .map_or(end, |p| start + p);
        let authority = &bytes[start..authority_end];
        if let Some(at) = authority.iter().rposition(|b| *b == b'@')
            && let Some(colon) = authority[..at].iter().position(|b| *b == b':')
            && colon + 1 < at
            && &s[start + colon + 1..start + at] != REDACTED
        {
            secrets.push(start + colon + 1..start + at);
        }
        if let Some(q) = s[authority_end..end].find('?') {
            let query_start = authority_end + q + 1;
            let query_end = s[query_start..end]
                .find('#')
                .map_or(end, |p| query_start + p);
            let mut param_start = query_start;
            for param in s[query_start..query_end].split(['&', ';']) {
                if let Some((name, value)) = param.split_once('=')
                    && !matches!(value, "" | "true" | "false" | REDACTED)
                    && is_secret_name(name)
                {
                    let value_start = param_start + name.len() + 1;
                    secrets.push(value_start..value_start + value.len());
                }
                param_start += param.len() + 1;
            }
        }
        from = end.max(start);
    }
    secrets
}

/// A JSON value parsed like `serde_json::Value`, but a key repeated in an object is
/// an error (category `Data`) instead of the last one silently winning.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom("a key appears twice in one object"));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests;
