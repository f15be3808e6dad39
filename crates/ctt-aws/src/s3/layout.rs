//! Where a CloudTrail bucket keeps its files, as pure functions over key
//! prefixes: `[TRAIL-PREFIX/]AWSLogs/[o-ORGID/]ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/`.
//!
//! [`position`] says which level of that layout a prefix stands at, so listing can
//! descend level by level (accounts, regions) with delimiter listings and then ask
//! only for the days of `--from`/`--to` ([`day_prefixes`]) instead of every key
//! of the bucket.

use chrono::NaiveDate;

/// The folders under an account that hold log files (Insights events are log
/// files too).
pub const LOG_FOLDERS: [&str; 2] = ["CloudTrail/", "CloudTrail-Insight/"];

/// The folder under an account that holds the digests (SPEC §14), laid out
/// by region and day as the logs are; listed only when asked for
/// ([`super::S3Source::with_digests`]).
pub const DIGEST_FOLDER: &str = "CloudTrail-Digest/";

/// Whether `prefix` is an account's digest folder (`…/CloudTrail-Digest/`).
pub fn is_digest_folder(prefix: &str) -> bool {
    prefix.ends_with(&format!("/{DIGEST_FOLDER}"))
}

/// Where a prefix (ending in `/`, or empty) stands in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Above `AWSLogs/` (the bucket root, or a trail's own prefix).
    Above,
    /// At `AWSLogs/`: accounts and organisations below.
    Accounts,
    /// At `AWSLogs/o-ORGID/`: accounts below.
    OrganisationAccounts,
    /// At an account: `CloudTrail/`, `CloudTrail-Digest/`… below.
    Account,
    /// At `…/CloudTrail/` (or `CloudTrail-Insight/`): regions below.
    Regions,
    /// At or below a region: `region` is the region's prefix; the days under it
    /// are keys `region + YYYY/MM/DD/`.
    Days { region: String },
    /// Somewhere the layout does not explain (digests, other files).
    Elsewhere,
}

fn is_account(segment: &str) -> bool {
    segment.len() == 12 && segment.bytes().all(|b| b.is_ascii_digit())
}

fn is_organisation(segment: &str) -> bool {
    segment.starts_with("o-") && segment.len() > 2
}

/// Which level `prefix` stands at. A prefix that does not end in `/` is a
/// partial name and stands nowhere in particular.
pub fn position(prefix: &str) -> Position {
    if !(prefix.is_empty() || prefix.ends_with('/')) {
        return Position::Elsewhere;
    }
    let segments: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    let Some(logs) = segments.iter().rposition(|s| *s == "AWSLogs") else {
        return Position::Above;
    };
    let mut at = logs + 1;
    match segments.get(at) {
        None => return Position::Accounts,
        Some(s) if is_organisation(s) => at += 1,
        Some(_) => {}
    }
    match segments.get(at) {
        None => return Position::OrganisationAccounts,
        Some(s) if is_account(s) => at += 1,
        Some(_) => return Position::Elsewhere,
    }
    match segments.get(at) {
        None => return Position::Account,
        Some(s)
            if LOG_FOLDERS.contains(&format!("{s}/").as_str())
                || format!("{s}/") == DIGEST_FOLDER =>
        {
            at += 1
        }
        Some(_) => return Position::Elsewhere,
    }
    match segments.get(at) {
        None => Position::Regions,
        // Below the region: at most YYYY/MM/DD.
        Some(_) if segments.len() - (at + 1) <= 3 => Position::Days {
            region: format!("{}/", segments[..=at].join("/")),
        },
        Some(_) => Position::Elsewhere,
    }
}

/// Completes a prefix given without its trailing `/` when its last segment is a
/// level of the layout (`s3://bucket/AWSLogs` means `AWSLogs/`).
pub fn normalise(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        return prefix.to_owned();
    }
    let with_slash = format!("{prefix}/");
    match position(&with_slash) {
        Position::Above | Position::Elsewhere => prefix.to_owned(),
        _ => with_slash,
    }
}

/// The day prefixes under `region` (`…/CloudTrail/REGION/`) for `from..=to`,
/// keeping those inside `within` (the prefix asked for, which may go down to a
/// year or month).
pub fn day_prefixes(region: &str, within: &str, from: NaiveDate, to: NaiveDate) -> Vec<String> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|d| format!("{region}{}/", d.format("%Y/%m/%d")))
        .filter(|p| p.starts_with(within))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_prefixes() {
        let days = |region: &str| Position::Days {
            region: region.to_owned(),
        };
        let cases = [
            ("", Position::Above),
            ("trail-a/", Position::Above),
            ("AWSLogs/", Position::Accounts),
            ("trail-a/AWSLogs/", Position::Accounts),
            ("AWSLogs/o-5mf2kq9x7w/", Position::OrganisationAccounts),
            ("AWSLogs/974349055189/", Position::Account),
            ("AWSLogs/o-5mf2kq9x7w/581392047716/", Position::Account),
            ("AWSLogs/974349055189/CloudTrail/", Position::Regions),
            (
                "AWSLogs/974349055189/CloudTrail-Insight/",
                Position::Regions,
            ),
            ("AWSLogs/974349055189/CloudTrail-Digest/", Position::Regions),
            (
                "AWSLogs/974349055189/CloudTrail-Digest/us-east-1/2018/03/",
                days("AWSLogs/974349055189/CloudTrail-Digest/us-east-1/"),
            ),
            ("AWSLogs/974349055189/Other/", Position::Elsewhere),
            (
                "AWSLogs/974349055189/CloudTrail/us-east-1/",
                days("AWSLogs/974349055189/CloudTrail/us-east-1/"),
            ),
            (
                "t/AWSLogs/o-x1/581392047716/CloudTrail/eu-west-1/2018/03/",
                days("t/AWSLogs/o-x1/581392047716/CloudTrail/eu-west-1/"),
            ),
            (
                "AWSLogs/974349055189/CloudTrail/us-east-1/2018/03/01/",
                days("AWSLogs/974349055189/CloudTrail/us-east-1/"),
            ),
            (
                "AWSLogs/974349055189/CloudTrail/us-east-1/2018/03/01/x/",
                Position::Elsewhere,
            ),
            ("AWSLogs/not-an-account/", Position::Elsewhere),
            ("AWSLogs/9743", Position::Elsewhere),
        ];
        for (prefix, expected) in cases {
            assert_eq!(position(prefix), expected, "{prefix}");
        }
    }

    #[test]
    fn prefixes_without_their_slash_are_completed_when_they_name_a_level() {
        let cases = [
            ("", ""),
            ("AWSLogs", "AWSLogs/"),
            ("AWSLogs/974349055189", "AWSLogs/974349055189/"),
            (
                "AWSLogs/974349055189/CloudTrail/us-east-1",
                "AWSLogs/974349055189/CloudTrail/us-east-1/",
            ),
            ("AWSLogs/9743", "AWSLogs/9743"),
            ("exports/events", "exports/events"),
            (
                "AWSLogs/974349055189/CloudTrail-Digest",
                "AWSLogs/974349055189/CloudTrail-Digest/",
            ),
            ("AWSLogs/974349055189/Other", "AWSLogs/974349055189/Other"),
        ];
        for (prefix, expected) in cases {
            assert_eq!(normalise(prefix), expected, "{prefix}");
        }
    }

    #[test]
    fn day_prefixes_cover_the_range_within_the_prefix_asked_for() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        let region = "AWSLogs/1/CloudTrail/us-east-1/";
        assert_eq!(
            day_prefixes(region, region, d("2018-02-27"), d("2018-03-01")),
            [
                "AWSLogs/1/CloudTrail/us-east-1/2018/02/27/",
                "AWSLogs/1/CloudTrail/us-east-1/2018/02/28/",
                "AWSLogs/1/CloudTrail/us-east-1/2018/03/01/",
            ]
        );
        assert_eq!(
            day_prefixes(
                region,
                &format!("{region}2018/03/"),
                d("2018-02-27"),
                d("2018-03-01")
            ),
            ["AWSLogs/1/CloudTrail/us-east-1/2018/03/01/"]
        );
        assert!(day_prefixes(region, region, d("2018-03-02"), d("2018-03-01")).is_empty());
    }
}
