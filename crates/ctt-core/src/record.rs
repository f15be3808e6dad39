//! Wire types: what AWS writes, accepted as it comes.
//!
//! A log file is `{"Records": [...]}`; a record is kept as a `serde_json::Value`
//! because AWS adds fields over time and real files carry odd value types. Typed
//! accessors read the few attributes we need without ever failing on the rest.

use serde_json::Value;

/// `userIdentity.type`, with a fallback for types AWS adds later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityType {
    IamUser,
    Root,
    AssumedRole,
    FederatedUser,
    AwsService,
    AwsAccount,
    IdentityCenterUser,
    SamlUser,
    WebIdentityUser,
    Unknown,
    Other(String),
}

impl IdentityType {
    pub fn parse(raw: &str) -> Self {
        match raw {
            "IAMUser" => Self::IamUser,
            "Root" => Self::Root,
            "AssumedRole" => Self::AssumedRole,
            "FederatedUser" => Self::FederatedUser,
            "AWSService" => Self::AwsService,
            "AWSAccount" => Self::AwsAccount,
            "IdentityCenterUser" => Self::IdentityCenterUser,
            "SAMLUser" => Self::SamlUser,
            "WebIdentityUser" => Self::WebIdentityUser,
            "Unknown" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// A string attribute of a JSON object. Numbers and booleans are rendered as
/// strings (real files sometimes carry them); objects, arrays, `null` and the
/// empty string count as absent.
pub fn str_field<'a>(object: &'a Value, key: &str) -> Option<std::borrow::Cow<'a, str>> {
    match object.get(key)? {
        Value::String(s) if !s.is_empty() => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// Same as [`str_field`], as an owned `String`.
pub fn string_field(object: &Value, key: &str) -> Option<String> {
    str_field(object, key).map(|s| s.into_owned())
}

/// `readOnly`, which is a boolean in CloudTrail but a string in some exports.
pub fn bool_field(object: &Value, key: &str) -> Option<bool> {
    match object.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn str_field_accepts_scalars_and_ignores_structures() {
        let v = json!({"a": "x", "b": 3, "c": true, "d": {"k": 1}, "e": null, "f": ""});
        assert_eq!(str_field(&v, "a").as_deref(), Some("x"));
        assert_eq!(str_field(&v, "b").as_deref(), Some("3"));
        assert_eq!(str_field(&v, "c").as_deref(), Some("true"));
        assert_eq!(str_field(&v, "d"), None);
        assert_eq!(str_field(&v, "e"), None);
        assert_eq!(str_field(&v, "f"), None);
        assert_eq!(str_field(&v, "missing"), None);
    }

    #[test]
    fn bool_field_accepts_strings() {
        let v = json!({"a": true, "b": "false", "c": "maybe", "d": 1});
        assert_eq!(bool_field(&v, "a"), Some(true));
        assert_eq!(bool_field(&v, "b"), Some(false));
        assert_eq!(bool_field(&v, "c"), None);
        assert_eq!(bool_field(&v, "d"), None);
    }

    #[test]
    fn identity_type_keeps_unknown_types() {
        assert_eq!(IdentityType::parse("IAMUser"), IdentityType::IamUser);
        assert_eq!(
            IdentityType::parse("SomethingNew"),
            IdentityType::Other("SomethingNew".into())
        );
    }
}
