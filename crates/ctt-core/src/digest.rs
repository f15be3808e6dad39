//! CloudTrail's digest files (SPEC §14): what their signature signs. The
//! generator signs this text and `ctt verify` checks it.

/// The text a digest's SHA256withRSA signature signs: its end time, its
/// bucket and object, the SHA-256 (hex) of its decompressed content, and the
/// previous digest's signature (`null` for the first of a chain).
pub fn signing_string(
    end_time: &str,
    bucket: &str,
    object: &str,
    sha256_hex: &str,
    previous_signature: Option<&str>,
) -> String {
    format!(
        "{end_time}\n{bucket}/{object}\n{sha256_hex}\n{}",
        previous_signature.unwrap_or("null")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_is_four_lines_with_null_for_a_first_digest() {
        assert_eq!(
            signing_string(
                "2024-03-01T01:00:00Z",
                "b",
                "AWSLogs/d.json.gz",
                "ab12",
                None
            ),
            "2024-03-01T01:00:00Z\nb/AWSLogs/d.json.gz\nab12\nnull"
        );
        assert!(signing_string("t", "b", "o", "h", Some("ff00")).ends_with("\nh\nff00"));
    }
}
