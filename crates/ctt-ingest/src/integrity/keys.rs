//! CloudTrail's public keys: the JSON of `aws cloudtrail list-public-keys`
//! (`{"PublicKeyList": [{"Value": base64 DER, "Fingerprint": hex, …}]}`), and
//! SHA256withRSA (PKCS #1 v1.5) verification with them.

use std::collections::HashMap;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine;
use serde::Deserialize;

/// A public-keys file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("not the JSON of ListPublicKeys: {0}")]
    Json(#[from] serde_json::Error),
    #[error("key {fingerprint}: `Value` is not base64")]
    Base64 { fingerprint: String },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyList {
    public_key_list: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyEntry {
    value: String,
    fingerprint: String,
}

/// Public keys by fingerprint. A key's DER may be PKCS #1 `RSAPublicKey` (what
/// `ListPublicKeys` returns) or X.509 `SubjectPublicKeyInfo`. Each is parsed
/// once, when added, not for every digest it verifies (`None`: a key that
/// cannot be parsed, which verifies nothing).
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    by_fingerprint: HashMap<String, Option<ParsedPublicKey>>,
}

impl PublicKeys {
    /// Reads the JSON of `ListPublicKeys` (its `Value`s base64).
    pub fn from_json(bytes: &[u8]) -> Result<PublicKeys, KeyError> {
        let list: KeyList = serde_json::from_slice(bytes)?;
        let mut keys = PublicKeys::default();
        for entry in list.public_key_list {
            let der = base64::engine::general_purpose::STANDARD
                .decode(entry.value.trim())
                .map_err(|_| KeyError::Base64 {
                    fingerprint: entry.fingerprint.clone(),
                })?;
            keys.insert(&entry.fingerprint, der);
        }
        Ok(keys)
    }

    /// Adds a key (DER) under its fingerprint.
    pub fn insert(&mut self, fingerprint: &str, der: Vec<u8>) {
        let key = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).ok();
        self.by_fingerprint
            .insert(fingerprint.to_ascii_lowercase(), key);
    }

    /// Checks `signature` (hex) over `message` with the key of `fingerprint`;
    /// says why not.
    pub fn verify(
        &self,
        fingerprint: Option<&str>,
        message: &[u8],
        signature: &str,
    ) -> Result<(), String> {
        let fingerprint = fingerprint.unwrap_or_default().to_ascii_lowercase();
        let Some(key) = self.by_fingerprint.get(&fingerprint) else {
            return Err(format!("no public key with fingerprint `{fingerprint}`"));
        };
        let Ok(signature) = hex::decode(signature.trim()) else {
            return Err("the signature is not hexadecimal".to_owned());
        };
        key.as_ref()
            .and_then(|key| key.verify_sig(message, &signature).ok())
            .ok_or_else(|| format!("the signature does not verify with key `{fingerprint}`"))
    }
}
