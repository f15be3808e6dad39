//! Random identifiers in the shapes AWS uses: event ids (UUID v4), access key
//! ids, principal ids, resource ids (`i-…`, `vol-…`), log file suffixes.
//!
//! Everything is drawn from the caller's seeded generator, so identifiers are
//! reproducible from the seed.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The one generator type used throughout the crate.
pub(crate) type GenRng = ChaCha8Rng;

const HEX: &[u8] = b"0123456789abcdef";
const UPPER_HEX: &[u8] = b"0123456789ABCDEF";
/// AWS key and principal ids use upper-case letters and the digits 2–7.
const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `len` characters drawn uniformly from `alphabet`, appended to `out`.
fn push_chars(rng: &mut GenRng, out: &mut String, alphabet: &[u8], len: usize) {
    out.reserve(len);
    for _ in 0..len {
        let i = rng.random_range(0..alphabet.len());
        out.push(char::from(alphabet[i]));
    }
}

/// `prefix` followed by `len` characters of `alphabet`.
fn prefixed(rng: &mut GenRng, prefix: &str, alphabet: &[u8], len: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    push_chars(rng, &mut s, alphabet, len);
    s
}

/// A random UUID in version 4 format: `8-4-4-4-12` lower-case hex digits.
pub(crate) fn uuid_v4(rng: &mut GenRng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// `len` lower-case hex digits.
pub(crate) fn hex(rng: &mut GenRng, len: usize) -> String {
    prefixed(rng, "", HEX, len)
}

/// `len` upper-case hex digits (S3 request ids).
pub(crate) fn upper_hex(rng: &mut GenRng, len: usize) -> String {
    prefixed(rng, "", UPPER_HEX, len)
}

/// An access key id: `AKIA…` (long-term) or `ASIA…` (temporary), 20 characters.
pub(crate) fn access_key_id(rng: &mut GenRng, prefix: &str) -> String {
    prefixed(rng, prefix, KEY_CHARS, 16)
}

/// A principal id: `AIDA…` (IAM user) or `AROA…` (role), 21 characters.
pub(crate) fn principal_id(rng: &mut GenRng, prefix: &str) -> String {
    prefixed(rng, prefix, KEY_CHARS, 17)
}

/// A resource id such as `i-0abc…` or `vol-0abc…`: prefix, `0`, 16 hex digits.
pub(crate) fn resource_id(rng: &mut GenRng, prefix: &str) -> String {
    let mut s = prefixed(rng, prefix, b"0", 1);
    push_chars(rng, &mut s, HEX, 16);
    s
}

/// The 16-character random part of a log file name (`A6kvhMoVeCsc7v8U`).
pub(crate) fn file_suffix(rng: &mut GenRng) -> String {
    prefixed(rng, "", ALNUM, 16)
}

/// `len` base64 characters: secret access keys, session tokens.
pub(crate) fn base64(rng: &mut GenRng, len: usize) -> String {
    prefixed(rng, "", BASE64, len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uuid_v4_has_version_and_variant() {
        let mut rng = GenRng::seed_from_u64(1);
        for _ in 0..100 {
            let id = uuid_v4(&mut rng);
            let parts: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
    }

    #[test]
    fn identifiers_have_aws_shapes() {
        let mut rng = GenRng::seed_from_u64(2);
        assert_eq!(access_key_id(&mut rng, "AKIA").len(), 20);
        assert_eq!(principal_id(&mut rng, "AIDA").len(), 21);
        let instance = resource_id(&mut rng, "i-");
        assert!(
            instance.starts_with("i-0") && instance.len() == 19,
            "{instance}"
        );
        assert_eq!(file_suffix(&mut rng).len(), 16);
    }
}
