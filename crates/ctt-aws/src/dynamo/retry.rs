//! Retrying what DynamoDB hands back undone: `UnprocessedItems` of
//! `BatchWriteItem`, `UnprocessedKeys` of `BatchGetItem`, and transactions
//! cancelled by a conflict or throttling. Exponential backoff with full jitter
//! (the delay is uniform in `0..=min(cap, base·2^attempt)`), so concurrent
//! Lambdas that collided do not collide again in lockstep.
//!
//! The SDK already retries throttled single requests (see
//! [`crate::config::MAX_SDK_ATTEMPTS`]); this covers the partial successes it cannot see.

use std::time::Duration;

/// Attempts before giving up on work DynamoDB keeps returning undone.
pub const MAX_ATTEMPTS: u32 = 10;

const BASE: Duration = Duration::from_millis(25);
const CAP: Duration = Duration::from_secs(5);

/// The delay before retry number `attempt` (0-based), given a uniform sample
/// `unit` in `[0, 1)`.
pub fn delay(attempt: u32, unit: f64) -> Duration {
    let ceiling = BASE
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(CAP);
    ceiling.mul_f64(unit.clamp(0.0, 1.0))
}

/// Whether a transaction cancelled for this reason may succeed when retried.
pub fn is_retryable_cancellation(code: &str) -> bool {
    matches!(
        code,
        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
    )
}

/// Whether a single write failed only because a transaction held its item
/// (the SDK does not retry that by itself).
pub fn is_conflict(code: Option<&str>) -> bool {
    code == Some("TransactionConflictException")
}

/// Sleeps before retry number `attempt`.
pub async fn back_off(attempt: u32) {
    tokio::time::sleep(delay(attempt, fastrand::f64())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_exponentially_up_to_the_cap_with_full_jitter() {
        let cases = [
            (0, 1.0, Duration::from_millis(25)),
            (1, 1.0, Duration::from_millis(50)),
            (3, 1.0, Duration::from_millis(200)),
            (3, 0.5, Duration::from_millis(100)),
            (3, 0.0, Duration::ZERO),
            (8, 1.0, Duration::from_secs(5)),
            (40, 1.0, Duration::from_secs(5)),
            (2, 7.0, Duration::from_millis(100)),
        ];
        for (attempt, unit, expected) in cases {
            assert_eq!(
                delay(attempt, unit),
                expected,
                "attempt {attempt}, unit {unit}"
            );
        }
    }
}
