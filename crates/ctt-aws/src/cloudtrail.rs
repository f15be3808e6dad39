//! CloudTrail's `ListPublicKeys` (SPEC §14): the keys that signed a trail's
//! digest files, asked of the trail's home region for the period checked.
//! Each key's `Value` is DER (PKCS #1); its `Fingerprint` is what digests name.

use aws_config::SdkConfig;
use aws_sdk_cloudtrail::config::Region;
use aws_sdk_cloudtrail::error::DisplayErrorContext;
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, Utc};

/// A public key CloudTrail lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its fingerprint, as digests name it (`digestPublicKeyFingerprint`).
    pub fingerprint: String,
    /// The key, DER-encoded (PKCS #1).
    pub der: Vec<u8>,
}

/// Why the keys could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("ListPublicKeys in {region}: {message}")]
pub struct ListKeysError {
    pub region: String,
    pub message: String,
}

/// Every key valid at some time between `from` and `to`, from CloudTrail in
/// `region` (a trail's home region: keys are regional), all pages.
pub async fn list_public_keys(
    sdk: &SdkConfig,
    region: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<PublicKey>, ListKeysError> {
    let config = aws_sdk_cloudtrail::config::Builder::from(sdk)
        .region(Region::new(region.to_owned()))
        .build();
    let client = aws_sdk_cloudtrail::Client::from_conf(config);
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_public_keys()
            .start_time(SmithyTime::from_secs(from.timestamp()))
            .end_time(SmithyTime::from_secs(to.timestamp()))
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| ListKeysError {
                region: region.to_owned(),
                message: DisplayErrorContext(&e).to_string(),
            })?;
        for key in out.public_key_list() {
            if let (Some(fingerprint), Some(value)) = (key.fingerprint(), key.value()) {
                keys.push(PublicKey {
                    fingerprint: fingerprint.to_owned(),
                    der: value.as_ref().to_vec(),
                });
            }
        }
        match out.next_token() {
            Some(next) if !next.is_empty() => token = Some(next.to_owned()),
            _ => return Ok(keys),
        }
    }
}
