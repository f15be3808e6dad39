//! Secret removal: credentials in records are replaced before anything is stored.
//!
//! `responseElements.credentials.{sessionToken,secretAccessKey}` (what STS returns)
//! and any field, at any depth, whose name looks like a secret are replaced by
//! [`REDACTED`]. The rule is by field name, so it also covers services that do not
//! exist yet: a name matches when, lower-cased and without `_`/`-`, it ends with
//! one of [`SECRET_NAME_SUFFIXES`].

use serde_json::Value;

/// What a secret's value is replaced by.
pub const REDACTED: &str = "REDACTED";

/// Field-name endings that mark a secret (compared lower-case, `_`/`-` removed).
pub const SECRET_NAME_SUFFIXES: &[&str] = &[
    "sessiontoken",
    "secretaccesskey",
    "secretkey",
    "password",
    "passwd",
    "secretstring",
    "secretbinary",
    "clientsecret",
    "privatekey",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "apikey",
];

/// Whether a field of this name holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    // Runs on every key of every record: most names are rejected by their last
    // significant letter alone, which every suffix ends with one of.
    let last = name
        .bytes()
        .rev()
        .find(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase());
    matches!(last, Some(b'n' | b'y' | b'd' | b'g' | b't'))
        && SECRET_NAME_SUFFIXES
            .iter()
            .any(|suffix| ends_with_folded(name, suffix))
}

/// Whether `name`, lower-cased and without `_`/`-`, ends with `suffix` (ASCII,
/// lower-case). Runs on every key of every record: no allocation.
fn ends_with_folded(name: &str, suffix: &str) -> bool {
    let mut folded = name
        .bytes()
        .rev()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase());
    suffix
        .bytes()
        .rev()
        .filter(|b| *b != b'_')
        .all(|s| folded.next() == Some(s))
}

/// Replaces every secret in the record, in place. Returns how many were replaced.
pub fn redact(record: &mut Value) -> usize {
    match record {
        Value::Object(map) => {
            let mut replaced = 0;
            for (key, value) in map.iter_mut() {
                if is_secret_name(key) && !value.is_null() {
                    *value = Value::String(REDACTED.to_owned());
                    replaced += 1;
                } else {
                    replaced += redact(value);
                }
            }
            replaced
        }
        Value::Array(items) => items.iter_mut().map(redact).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_secret_suffix_passes_the_last_letter_check() {
        for suffix in SECRET_NAME_SUFFIXES {
            assert!(is_secret_name(suffix), "{suffix}");
            assert!(is_secret_name(&suffix.to_uppercase()), "{suffix}");
            assert!(is_secret_name(&format!("x_{suffix}__")), "{suffix}");
        }
        assert!(!is_secret_name("eventName"));
        assert!(!is_secret_name(""));
    }

    #[test]
    fn redacts_sts_credentials_but_keeps_the_access_key_id() {
        let mut record = json!({"responseElements": {"credentials": {
            "accessKeyId": "ASIAXXX", "sessionToken": "FQoG-secret", "secretAccessKey": "wJalr-secret",
            "expiration": "Jun 1, 2017 10:51:28 PM"}}});
        assert_eq!(redact(&mut record), 2);
        let creds = &record["responseElements"]["credentials"];
        assert_eq!(creds["sessionToken"], REDACTED);
        assert_eq!(creds["secretAccessKey"], REDACTED);
        assert_eq!(creds["accessKeyId"], "ASIAXXX");
        assert_eq!(creds["expiration"], "Jun 1, 2017 10:51:28 PM");
    }

    #[test]
    fn redacts_secret_like_names_at_any_depth_and_in_lists() {
        let mut record = json!({"requestParameters": {"items": [
            {"masterUserPassword": "hunter2"}, {"SecretString": "s"}, {"client_secret": "c"}],
            "secretId": "my-secret-name", "nextToken": "page-2"}});
        assert_eq!(redact(&mut record), 3);
        let params = &record["requestParameters"];
        assert_eq!(params["items"][0]["masterUserPassword"], REDACTED);
        assert_eq!(params["items"][1]["SecretString"], REDACTED);
        assert_eq!(params["items"][2]["client_secret"], REDACTED);
        assert_eq!(
            params["secretId"], "my-secret-name",
            "a secret's name is not a secret"
        );
        assert_eq!(
            params["nextToken"], "page-2",
            "pagination tokens are not credentials"
        );
    }
}
