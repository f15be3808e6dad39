//! `s3://bucket/prefix` and `s3://bucket/key`: the S3 locations ctt reads, and the
//! ledger keys of the files it loads from them.

use std::fmt;
use std::str::FromStr;

pub const SCHEME: &str = "s3://";

/// A bucket and a key (or key prefix) in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    pub bucket: String,
    /// A key, or a prefix of keys; may be empty (the whole bucket).
    pub key: String,
}

/// Why an `s3://` location was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid S3 location `{uri}`: {reason}")]
pub struct S3UriError {
    pub uri: String,
    pub reason: &'static str,
}

impl S3Uri {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
        }
    }

    /// Whether `raw` is an S3 location rather than a local path.
    pub fn is_s3(raw: &str) -> bool {
        raw.starts_with(SCHEME)
    }
}

impl FromStr for S3Uri {
    type Err = S3UriError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let error = |reason| S3UriError {
            uri: raw.to_owned(),
            reason,
        };
        let rest = raw
            .strip_prefix(SCHEME)
            .ok_or_else(|| error("expected s3://bucket/prefix"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(error(
                "a bucket name is 3 to 63 lower-case letters, digits, `-` or `.`",
            ));
        }
        Ok(Self::new(bucket, key))
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let cases = [
            ("s3://trail-bucket", Ok(("trail-bucket", ""))),
            ("s3://trail-bucket/", Ok(("trail-bucket", ""))),
            (
                "s3://trail.bucket/AWSLogs/",
                Ok(("trail.bucket", "AWSLogs/")),
            ),
            (
                "s3://b12/AWSLogs/1/CloudTrail/us-east-1/2018/03/01/x y.json.gz",
                Ok((
                    "b12",
                    "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/x y.json.gz",
                )),
            ),
            ("s3://Trail/x", Err("a bucket name")),
            ("s3://ab", Err("a bucket name")),
            ("s3://-ab/x", Err("a bucket name")),
            ("/local/path", Err("expected s3://")),
        ];
        for (raw, expected) in cases {
            let parsed = raw
                .parse::<S3Uri>()
                .map(|u| (u.bucket, u.key))
                .map_err(|e| e.reason);
            match (parsed, expected) {
                (Ok(got), Ok((bucket, key))) => {
                    assert_eq!(got, (bucket.to_owned(), key.to_owned()), "{raw}");
                }
                (Err(reason), Err(start)) => assert!(reason.starts_with(start), "{raw}: {reason}"),
                (got, _) => panic!("{raw}: {got:?}"),
            }
        }
        let uri = S3Uri::new("b12", "AWSLogs/k.json.gz");
        assert_eq!(uri.to_string().parse::<S3Uri>(), Ok(uri));
    }
}
