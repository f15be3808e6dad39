//! Where and as whom ctt calls AWS: the standard credential chain and region
//! resolution of the AWS SDK, overridden by `--region`, `--profile` and
//! `--endpoint-url`. `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3` and
//! `AWS_ENDPOINT_URL_DYNAMODB` are honoured by the SDK itself.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// How many times the SDK tries a throttled or failed request (with its own
/// exponential backoff and jitter) before giving up.
pub const MAX_SDK_ATTEMPTS: u32 = 8;

/// Command-line overrides of the AWS configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// One endpoint for every service (an emulator, S3-compatible storage).
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    /// These options, with `other`'s values where these have none.
    pub fn or(&self, other: &AwsOptions) -> AwsOptions {
        AwsOptions {
            region: self.region.clone().or_else(|| other.region.clone()),
            profile: self.profile.clone().or_else(|| other.profile.clone()),
            endpoint_url: self
                .endpoint_url
                .clone()
                .or_else(|| other.endpoint_url.clone()),
        }
    }
}

/// Loads the SDK configuration: environment, profile files, container/instance
/// credentials, then these overrides.
pub async fn load(options: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_SDK_ATTEMPTS));
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// Whether S3 must be addressed path-style (`http://host/bucket/key`): any custom
/// endpoint — an emulator on 127.0.0.1, an S3-compatible store — rarely has
/// wildcard DNS for `bucket.host`.
pub fn s3_path_style(
    explicit_endpoint: Option<&str>,
    configured_endpoint: Option<&str>,
    s3_endpoint_env: Option<&str>,
    global_endpoint_env: Option<&str>,
) -> bool {
    [
        explicit_endpoint,
        configured_endpoint,
        s3_endpoint_env,
        global_endpoint_env,
    ]
    .iter()
    .any(|e| e.is_some_and(|e| !e.trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_endpoints_make_s3_path_style() {
        let url = Some("http://127.0.0.1:5000");
        let cases = [
            ((None, None, None, None), false),
            ((url, None, None, None), true),
            ((None, url, None, None), true),
            ((None, None, url, None), true),
            ((None, None, None, url), true),
            ((None, None, Some(""), Some("  ")), false),
        ];
        for ((a, b, c, d), expected) in cases {
            assert_eq!(
                s3_path_style(a, b, c, d),
                expected,
                "{a:?} {b:?} {c:?} {d:?}"
            );
        }
    }

    #[test]
    fn options_fall_back_field_by_field() {
        let cli = AwsOptions {
            region: Some("eu-west-1".into()),
            ..Default::default()
        };
        let uri = AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some("http://x".into()),
            profile: None,
        };
        let merged = cli.or(&uri);
        assert_eq!(merged.region.as_deref(), Some("eu-west-1"));
        assert_eq!(merged.endpoint_url.as_deref(), Some("http://x"));
        assert_eq!(merged.profile, None);
    }
}
