//! Digest files as CloudTrail writes them (SPEC §14): hourly per account and
//! region, even for hours without logs, each listing the SHA-256 of every log
//! file delivered in its hour (over the decompressed content), chained to the
//! previous digest by its SHA-256 and signature, and signed SHA256withRSA.
//!
//! The chain runs through the whole history, so digests are written after
//! the days (which are generated in parallel): one thread per chain.
//!
//! They are signed with the generator's own key, `digest-key.der` (RSA 2048,
//! PKCS #1 DER): a demonstration key, public in this repository, that signs
//! nothing but generated trees. Its public key is written beside the tree as
//! `cloudtrail-public-keys.json`, in the shape of `aws cloudtrail
//! list-public-keys`; its fingerprint is the first 16 bytes of the SHA-256 of
//! the key (CloudTrail's are 16 bytes too; the verifier only matches them).

use std::path::Path;

use anyhow::Context;
use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::cast::Cast;
use crate::delivery::{self, TreeWriter};
use crate::record::event_time;

/// The file the public key is written to, at the tree's root.
pub const PUBLIC_KEYS_FILE: &str = "cloudtrail-public-keys.json";

/// A log file written, as a digest lists it.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub account: usize,
    pub region: usize,
    /// Delivery time, seconds since the epoch.
    pub delivered: i64,
    /// The S3 object key (`AWSLogs/…`).
    pub object: String,
    /// SHA-256 (hex) of the decompressed content.
    pub sha256: String,
    pub oldest: i64,
    pub newest: i64,
}

/// The generator's signing key.
pub(crate) struct Signer {
    key: RsaKeyPair,
    fingerprint: String,
}

impl Signer {
    pub(crate) fn new() -> anyhow::Result<Signer> {
        let key = RsaKeyPair::from_der(include_bytes!("digest-key.der"))
            .map_err(|e| anyhow::anyhow!("the generator's digest key does not load: {e}"))?;
        let fingerprint = hex::encode(&digest(&SHA256, key.public_key().as_ref()).as_ref()[..16]);
        Ok(Signer { key, fingerprint })
    }

    fn sign(&self, message: &[u8]) -> anyhow::Result<String> {
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("signing a digest failed"))?;
        Ok(hex::encode(signature))
    }

    /// `ListPublicKeys`'s JSON for this key, valid over `[from, to]`.
    pub(crate) fn public_keys_json(&self, from: i64, to: i64) -> Value {
        use base64::Engine;
        json!({"PublicKeyList": [{
            "Value": base64::engine::general_purpose::STANDARD.encode(self.key.public_key().as_ref()),
            "ValidityStartTime": event_time(from),
            "ValidityEndTime": event_time(to),
            "Fingerprint": self.fingerprint,
        }]})
    }
}

/// Where one chain's digests end each hour: a few minutes past, a different
/// second for each account and region (as CloudTrail's do).
fn offset(account: usize, region: usize) -> i64 {
    60 * (7 + region as i64) + 31 + 13 * account as i64
}

/// The previous digest, as the next one names it.
struct Link {
    object: String,
    sha256: String,
    signature: String,
}

/// Writes the digests of every hour in `[start, end]` for each account and
/// region of `cast`, listing `delivered`. Returns the digests written and their
/// gzipped bytes.
pub(crate) fn write_digests(
    root: &Path,
    cast: &Cast,
    delivered: Vec<Delivered>,
    (start, end): (i64, i64),
    signer: &Signer,
) -> anyhow::Result<(u64, u64)> {
    let mut chains: Vec<Vec<Delivered>> =
        vec![Vec::new(); cast.accounts.len() * cast.regions.len()];
    for file in delivered {
        chains[file.account * cast.regions.len() + file.region].push(file);
    }
    let results: Vec<anyhow::Result<(u64, u64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chains
            .into_iter()
            .enumerate()
            .map(|(i, mut files)| {
                let (account, region) = (i / cast.regions.len(), i % cast.regions.len());
                scope.spawn(move || {
                    files.sort_by(|a, b| (a.delivered, &a.object).cmp(&(b.delivered, &b.object)));
                    write_chain(root, cast, (account, region), &files, (start, end), signer)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a digest thread panicked")))
            })
            .collect()
    });
    let mut totals = (0, 0);
    for result in results {
        let (count, bytes) = result?;
        totals.0 += count;
        totals.1 += bytes;
    }
    Ok(totals)
}

fn write_chain(
    root: &Path,
    cast: &Cast,
    (account, region): (usize, usize),
    files: &[Delivered],
    (start, end): (i64, i64),
    signer: &Signer,
) -> anyhow::Result<(u64, u64)> {
    let mut writer = TreeWriter::new(root);
    let offset = offset(account, region);
    let mut previous: Option<Link> = None;
    let (mut count, mut bytes) = (0, 0);
    let mut next_file = 0;
    // The first hour whose whole period lies after `start`.
    let mut digest_end = (start + 3600 - offset).div_euclid(3600) * 3600 + offset;
    if digest_end - 3600 < start {
        digest_end += 3600;
    }
    while digest_end <= end {
        let digest_start = digest_end - 3600;
        while next_file < files.len() && files[next_file].delivered <= digest_start {
            next_file += 1;
        }
        let first = next_file;
        while next_file < files.len() && files[next_file].delivered <= digest_end {
            next_file += 1;
        }
        let listed = &files[first..next_file];
        let key = delivery::digest_key(cast, account, region, digest_end);
        let object = delivery::key_string(&key);
        let body = body(
            cast,
            account,
            (digest_start, digest_end),
            &object,
            listed,
            previous.as_ref(),
            signer,
        );
        let (size, sha256) = writer
            .write_json(&key, &body)
            .with_context(|| format!("cannot write digest {object}"))?;
        let signing = ctt_core::digest::signing_string(
            &event_time(digest_end),
            delivery::BUCKET,
            &object,
            &sha256,
            previous.as_ref().map(|p| p.signature.as_str()),
        );
        let signature = signer.sign(signing.as_bytes())?;
        previous = Some(Link {
            object,
            sha256,
            signature,
        });
        count += 1;
        bytes += size;
        digest_end += 3600;
    }
    Ok((count, bytes))
}

fn body(
    cast: &Cast,
    account: usize,
    (from, to): (i64, i64),
    object: &str,
    listed: &[Delivered],
    previous: Option<&Link>,
    signer: &Signer,
) -> Value {
    let log_files: Vec<Value> = listed
        .iter()
        .map(|f| {
            json!({
                "s3Bucket": delivery::BUCKET,
                "s3Object": f.object,
                "hashValue": f.sha256,
                "hashAlgorithm": "SHA-256",
                "newestEventTime": event_time(f.newest),
                "oldestEventTime": event_time(f.oldest),
            })
        })
        .collect();
    let newest = listed.iter().map(|f| f.newest).max().map(event_time);
    let oldest = listed.iter().map(|f| f.oldest).min().map(event_time);
    json!({
        "awsAccountId": cast.accounts[account].id,
        "digestStartTime": event_time(from),
        "digestEndTime": event_time(to),
        "digestS3Bucket": delivery::BUCKET,
        "digestS3Object": object,
        "digestPublicKeyFingerprint": signer.fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": newest,
        "oldestEventTime": oldest,
        "previousDigestS3Bucket": previous.map(|_| delivery::BUCKET),
        "previousDigestS3Object": previous.map(|p| p.object.as_str()),
        "previousDigestHashValue": previous.map(|p| p.sha256.as_str()),
        "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
        "previousDigestSignature": previous.map(|p| p.signature.as_str()),
        "logFiles": log_files,
    })
}
