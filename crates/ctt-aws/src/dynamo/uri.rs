//! `dynamodb://TABLE[?region=R&endpoint=URL&profile=P]`: where a DynamoDB store is.

use std::fmt;
use std::str::FromStr;

/// A parsed `dynamodb://` store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoUri {
    pub table: String,
    /// Overrides the configured region for this store.
    pub region: Option<String>,
    /// Overrides the DynamoDB endpoint (an emulator, a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// A named profile of `~/.aws/config` to take credentials and region from.
    pub profile: Option<String>,
}

pub const SCHEME: &str = "dynamodb://";

/// Why a `dynamodb://` location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid store `{uri}`: {reason}")]
pub struct UriError {
    pub uri: String,
    pub reason: String,
}

impl DynamoUri {
    /// Whether `raw` names a DynamoDB store (rather than a database file).
    pub fn is_dynamo(raw: &str) -> bool {
        raw.starts_with(SCHEME)
    }
}

impl FromStr for DynamoUri {
    type Err = UriError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| UriError {
            uri: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let rest = raw
            .strip_prefix(SCHEME)
            .ok_or_else(|| error("expected dynamodb://TABLE"))?;
        let (table, query) = rest.split_once('?').unwrap_or((rest, ""));
        let table = table.trim_end_matches('/');
        let valid_name = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid_name {
            return Err(error(
                "a table name is 3 to 255 letters, digits, `_`, `-` or `.`",
            ));
        }
        let mut uri = DynamoUri {
            table: table.to_owned(),
            region: None,
            endpoint_url: None,
            profile: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "region" => &mut uri.region,
                "endpoint" | "endpoint_url" => &mut uri.endpoint_url,
                "profile" => &mut uri.profile,
                other => {
                    return Err(error(&format!(
                        "unknown option `{other}`: use region, endpoint or profile"
                    )));
                }
            };
            if value.is_empty() {
                return Err(error(&format!("option `{key}` needs a value")));
            }
            *slot = Some(value.into_owned());
        }
        Ok(uri)
    }
}

impl fmt::Display for DynamoUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table_and_options() {
        type Parsed<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
        let cases: [(&str, Result<Parsed, &str>); 8] = [
            (
                "dynamodb://ctt-events",
                Ok(("ctt-events", None, None, None)),
            ),
            (
                "dynamodb://ctt_events/",
                Ok(("ctt_events", None, None, None)),
            ),
            (
                "dynamodb://t.1?region=eu-west-1&endpoint=http://127.0.0.1:4566",
                Ok((
                    "t.1",
                    Some("eu-west-1"),
                    Some("http://127.0.0.1:4566"),
                    None,
                )),
            ),
            (
                "dynamodb://abc?profile=lab&endpoint_url=http%3A%2F%2Flocalhost%3A8000",
                Ok(("abc", None, Some("http://localhost:8000"), Some("lab"))),
            ),
            ("dynamodb://ab", Err("a table name")),
            ("dynamodb://a b c", Err("a table name")),
            ("dynamodb://abc?colour=red", Err("unknown option `colour`")),
            ("sqlite://abc", Err("expected dynamodb://TABLE")),
        ];
        for (raw, expected) in cases {
            let parsed = raw.parse::<DynamoUri>();
            match expected {
                Ok((table, region, endpoint, profile)) => {
                    let uri = parsed.unwrap_or_else(|e| panic!("{raw}: {e}"));
                    assert_eq!(uri.table, table, "{raw}");
                    assert_eq!(uri.region.as_deref(), region, "{raw}");
                    assert_eq!(uri.endpoint_url.as_deref(), endpoint, "{raw}");
                    assert_eq!(uri.profile.as_deref(), profile, "{raw}");
                }
                Err(reason) => {
                    let e = parsed.err().unwrap_or_else(|| panic!("{raw} accepted"));
                    assert!(e.reason.starts_with(reason), "{raw}: {e}");
                }
            }
        }
    }
}
