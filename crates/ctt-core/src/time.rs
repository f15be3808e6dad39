//! Instants as the API and CLI accept them (SPEC §5), and as events carry them.
//!
//! Accepted: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS`, `YYYY-MM-DD HH:MM:SS`, each with an
//! optional `Z` or `±HH:MM` (else UTC), and fractional seconds. A date-only bound
//! covers its whole day: as `from` it is 00:00:00, as `to` it is 23:59:59.
//! Events are stored to the second, so both bounds are inclusive.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Which end of a range a date-only value stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    From,
    To,
}

/// Why a time could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a date or time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS or YYYY-MM-DD HH:MM:SS, with optional Z or ±HH:MM"
)]
pub struct TimeParseError(pub String);

/// Parses a `from`/`to` value.
pub fn parse_bound(raw: &str, bound: Bound) -> Result<DateTime<Utc>, TimeParseError> {
    let text = raw.trim();
    let error = || TimeParseError(raw.to_owned());
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let time = match bound {
            Bound::From => NaiveTime::MIN,
            Bound::To => NaiveTime::from_hms_opt(23, 59, 59).ok_or_else(error)?,
        };
        return Ok(Utc.from_utc_datetime(&date.and_time(time)));
    }
    let normalised = text.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalised) {
        return Ok(t.with_timezone(&Utc));
    }
    // Offsets without a colon (`+0100`) and times without seconds' fraction or zone.
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(&normalised, format) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&normalised, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    Err(error())
}

/// Parses a record's `eventTime` (`YYYY-MM-DDTHH:MM:SSZ`, or any RFC 3339 time).
pub fn parse_event_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Formats an instant the way CloudTrail writes `eventTime`. On every row of every
/// answer, so without `strftime` parsing: plain integer formatting.
pub fn format_event_time(t: DateTime<Utc>) -> String {
    let mut buffer = [0u8; 20];
    write_event_seconds(t.timestamp(), &mut buffer).to_owned()
}

/// [`format_event_time`] of whole seconds since the Unix epoch (as stores keep
/// event times) into `buffer`, without allocating and with integer arithmetic
/// only: the page writer calls it for every event. Days become a civil date by
/// Howard Hinnant's `civil_from_days`; years outside 0..=9999 are clamped
/// (CloudTrail has none).
pub fn write_event_seconds(seconds: i64, buffer: &mut [u8; 20]) -> &str {
    fn digits(out: &mut [u8], mut n: i64) {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    // 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    let seconds = seconds.clamp(-62_167_219_200, 253_402_300_799);
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    *buffer = *b"0000-00-00T00:00:00Z";
    digits(&mut buffer[0..4], year);
    digits(&mut buffer[5..7], month);
    digits(&mut buffer[8..10], day);
    digits(&mut buffer[11..13], second_of_day / 3600);
    digits(&mut buffer[14..16], second_of_day / 60 % 60);
    digits(&mut buffer[17..19], second_of_day % 60);
    // Only ASCII digits and separators were written.
    std::str::from_utf8(buffer).unwrap_or_default()
}

/// An instant as whole seconds since the Unix epoch (how stores keep event times).
pub fn to_seconds(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

/// The inverse of [`to_seconds`]; out-of-range values clamp to the epoch.
pub fn from_seconds(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_seconds_are_written_as_chrono_formats_them() {
        // Every day from 1600 to 2400 (leap years and centuries), at a time
        // that moves through the day, and both ends of the clamped range.
        let (first, last) = (-11_676_096_000_i64, 13_569_465_600_i64);
        let mut buffer = [0u8; 20];
        let mut t = first;
        while t <= last {
            let expected = from_seconds(t).format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(write_event_seconds(t, &mut buffer), expected, "{t}");
            t += 86_400 + 3_607;
        }
        for t in [
            -62_167_219_200,
            253_402_300_799,
            0,
            951_782_400,
            1_527_811_199,
        ] {
            let expected = from_seconds(t).format("%Y-%m-%dT%H:%M:%SZ").to_string();
            assert_eq!(write_event_seconds(t, &mut buffer), expected, "{t}");
        }
        assert_eq!(
            write_event_seconds(i64::MIN, &mut buffer),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            write_event_seconds(i64::MAX, &mut buffer),
            "9999-12-31T23:59:59Z"
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn parses_every_format_of_spec_5() {
        let cases = [
            ("2018-01-01", Bound::From, "2018-01-01T00:00:00Z"),
            ("2018-01-01", Bound::To, "2018-01-01T23:59:59Z"),
            ("2018-01-01T10:20:30", Bound::From, "2018-01-01T10:20:30Z"),
            ("2018-01-01 10:20:30", Bound::To, "2018-01-01T10:20:30Z"),
            ("2018-01-01T10:20:30Z", Bound::From, "2018-01-01T10:20:30Z"),
            ("2018-01-01 10:20:30Z", Bound::From, "2018-01-01T10:20:30Z"),
            (
                "2018-01-01T10:20:30+02:00",
                Bound::From,
                "2018-01-01T08:20:30Z",
            ),
            (
                "2018-01-01T10:20:30-01:30",
                Bound::From,
                "2018-01-01T11:50:30Z",
            ),
            (
                "2018-01-01 10:20:30+0200",
                Bound::From,
                "2018-01-01T08:20:30Z",
            ),
            ("2018-01-01T10:20", Bound::From, "2018-01-01T10:20:00Z"),
            (
                "2018-01-01T10:20:30.250Z",
                Bound::From,
                "2018-01-01T10:20:30.250Z",
            ),
        ];
        for (raw, bound, expected) in cases {
            assert_eq!(parse_bound(raw, bound), Ok(at(expected)), "{raw}");
        }
    }

    #[test]
    fn rejects_malformed_times() {
        for raw in [
            "",
            "yesterday",
            "2018-13-01",
            "2018-02-30",
            "2018-01-01T25:00:00",
            "1514764800",
        ] {
            assert!(parse_bound(raw, Bound::From).is_err(), "{raw}");
        }
    }

    #[test]
    fn formats_like_cloudtrail() {
        for raw in [
            "2017-06-01T21:51:28Z",
            "0999-01-02T03:04:05Z",
            "2018-12-31T23:59:59Z",
        ] {
            let t = parse_event_time(raw).unwrap_or_default();
            assert_eq!(format_event_time(t), raw);
            assert_eq!(
                format_event_time(t),
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
        }
    }

    #[test]
    fn event_times_round_trip_to_the_second() {
        let t = parse_event_time("2017-06-01T21:51:28Z").unwrap_or_default();
        assert_eq!(format_event_time(t), "2017-06-01T21:51:28Z");
        assert_eq!(from_seconds(to_seconds(t)), t);
        assert_eq!(parse_event_time("eventTime"), None);
    }
}
