//! Anomalies (SPEC §13): explainable, per-user baselines, raised as alerts
//! with rule id `anomaly:KIND`. The pure parts live here — the kinds and
//! their settings, the spike test over a week of hourly counts, the
//! sentences that explain an anomaly with its baseline; a store finds what
//! a load changed and asks these (`ctt-store`'s `anomalies`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The hours of the baseline before an hour: a week.
pub const WEEK_HOURS: usize = 168;

/// The five kinds of SPEC §13.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    NewRegion,
    NewService,
    AccountNewRegion,
    RateSpike,
    ErrorSpike,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 5] = [
        AnomalyKind::NewRegion,
        AnomalyKind::NewService,
        AnomalyKind::AccountNewRegion,
        AnomalyKind::RateSpike,
        AnomalyKind::ErrorSpike,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyKind::NewRegion => "new-region",
            AnomalyKind::NewService => "new-service",
            AnomalyKind::AccountNewRegion => "account-new-region",
            AnomalyKind::RateSpike => "rate-spike",
            AnomalyKind::ErrorSpike => "error-spike",
        }
    }

    /// The rule id of its alerts: `anomaly:new-region`, …
    pub fn rule_id(self) -> String {
        format!("{RULE_PREFIX}{}", self.as_str())
    }
}

/// Alert levels, lowest first (as Sigma names them).
const LEVELS: [&str; 5] = ["informational", "low", "medium", "high", "critical"];

/// What every anomaly's rule id starts with.
pub const RULE_PREFIX: &str = "anomaly:";

/// One kind's settings (`[anomalies.KIND]`): a table written in the
/// configuration is on unless it says `enabled = false`; what it leaves out
/// takes SPEC §13's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The alerts' level (`informational` … `critical`).
    #[serde(default = "medium")]
    pub level: String,
    /// Spikes: the hour's count must exceed this as well as the baseline's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_events: Option<u64>,
    /// Spikes: how many standard deviations above the mean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigmas: Option<f64>,
}

fn yes() -> bool {
    true
}

fn medium() -> String {
    "medium".to_owned()
}

impl KindSettings {
    fn on(level: &str) -> Self {
        Self {
            enabled: true,
            level: level.to_owned(),
            min_events: None,
            sigmas: None,
        }
    }

    fn spike(min_events: u64) -> Self {
        Self {
            min_events: Some(min_events),
            sigmas: Some(4.0),
            ..Self::on("medium")
        }
    }
}

/// `[anomalies]`: SPEC §13's defaults, each kind configurable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalySettings {
    /// A user (an account) is *warm* once their first event is this many
    /// days before the event considered.
    pub warmup_days: i64,
    #[serde(rename = "new-region")]
    pub new_region: KindSettings,
    /// Off by default: in a course every lab is a new service.
    #[serde(rename = "new-service")]
    pub new_service: KindSettings,
    #[serde(rename = "account-new-region")]
    pub account_new_region: KindSettings,
    #[serde(rename = "rate-spike")]
    pub rate_spike: KindSettings,
    #[serde(rename = "error-spike")]
    pub error_spike: KindSettings,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        Self {
            warmup_days: 7,
            new_region: KindSettings::on("medium"),
            new_service: KindSettings {
                enabled: false,
                ..KindSettings::on("low")
            },
            account_new_region: KindSettings::on("high"),
            rate_spike: KindSettings::spike(50),
            error_spike: KindSettings::spike(20),
        }
    }
}

impl AnomalySettings {
    pub fn kind(&self, kind: AnomalyKind) -> &KindSettings {
        match kind {
            AnomalyKind::NewRegion => &self.new_region,
            AnomalyKind::NewService => &self.new_service,
            AnomalyKind::AccountNewRegion => &self.account_new_region,
            AnomalyKind::RateSpike => &self.rate_spike,
            AnomalyKind::ErrorSpike => &self.error_spike,
        }
    }

    pub fn enabled(&self, kind: AnomalyKind) -> bool {
        self.kind(kind).enabled
    }

    /// A spike kind's `min_events` (SPEC §13: 50 calls, 20 failed calls).
    pub fn min_events(&self, kind: AnomalyKind) -> u64 {
        self.kind(kind)
            .min_events
            .unwrap_or(if kind == AnomalyKind::ErrorSpike {
                20
            } else {
                50
            })
    }

    /// A spike kind's `sigmas` (SPEC §13: 4).
    pub fn sigmas(&self, kind: AnomalyKind) -> f64 {
        self.kind(kind).sigmas.unwrap_or(4.0)
    }

    /// Whether any kind is on.
    pub fn any(&self) -> bool {
        AnomalyKind::ALL.iter().any(|k| self.enabled(*k))
    }

    /// The warm-up, in seconds.
    pub fn warmup_seconds(&self) -> i64 {
        self.warmup_days.saturating_mul(86_400)
    }

    /// Refuses what cannot be evaluated, naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.warmup_days < 0 {
            return Err("[anomalies] warmup_days: not negative".to_owned());
        }
        for kind in AnomalyKind::ALL {
            let k = self.kind(kind);
            if !LEVELS.contains(&k.level.as_str()) {
                return Err(format!(
                    "[anomalies.{}] level: one of {}",
                    kind.as_str(),
                    LEVELS.join(", ")
                ));
            }
            if k.sigmas.is_some_and(|s| !s.is_finite() || s < 0.0) {
                return Err(format!(
                    "[anomalies.{}] sigmas: a number ≥ 0",
                    kind.as_str()
                ));
            }
        }
        Ok(())
    }
}

/// An hour's count against the week before it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spike {
    /// Events in the hour.
    pub count: u64,
    /// The week before: mean and (population) standard deviation of its
    /// hourly counts, zeros included.
    pub mean: f64,
    pub sigma: f64,
    /// max(min_events, mean + sigmas × σ): the count must exceed it.
    pub threshold: f64,
    /// Which of the hour's events (1-based, in time then eventID order)
    /// first takes the count past the threshold: the one the alert is on.
    pub nth: u64,
}

/// Mean and (population) standard deviation of a week of hourly counts,
/// `hours` (at most [`WEEK_HOURS`]; hours missing from it count as zeros).
pub fn week_stats(hours: &[u64]) -> (f64, f64) {
    let n = WEEK_HOURS as f64;
    let mean = hours.iter().sum::<u64>() as f64 / n;
    let squares: f64 = hours
        .iter()
        .map(|c| (*c as f64 - mean).powi(2))
        .sum::<f64>()
        + (WEEK_HOURS.saturating_sub(hours.len())) as f64 * mean * mean;
    (mean, (squares / n).sqrt())
}

/// Whether an hour of `count` events spikes over `before` (the hourly
/// counts of the [`WEEK_HOURS`] before it; hours missing from the slice
/// count as zeros).
pub fn spike(before: &[u64], count: u64, min_events: u64, sigmas: f64) -> Option<Spike> {
    let (mean, sigma) = week_stats(before);
    let threshold = (min_events as f64).max(mean + sigmas * sigma);
    ((count as f64) > threshold).then(|| Spike {
        count,
        mean,
        sigma,
        threshold,
        nth: threshold.floor() as u64 + 1,
    })
}

/// What an anomaly was judged against (SPEC §13: an explanation carries its
/// baseline): stored with its alert, shown by the API (`baseline`) and the
/// portal, and the source of the alert's title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Baseline {
    /// A first use (`new-region`, `new-service`, `account-new-region`).
    First {
        /// The user, or `account 123456789012`.
        who: String,
        /// The region or service used for the first time.
        what: String,
        /// The scope's first event: it is warm `warmup_days` after.
        since: DateTime<Utc>,
        /// What it had used before, in the order of first use.
        known: Vec<String>,
    },
    /// An hour of calls (or failed calls) against the week before it
    /// (`rate-spike`, `error-spike`).
    Spike {
        user: String,
        /// Failed calls only.
        errors: bool,
        /// The hour's start.
        hour: DateTime<Utc>,
        /// Calls in the hour.
        count: u64,
        /// The week before: mean and σ of its hourly counts, zeros included.
        mean: f64,
        sigma: f64,
        /// max(min_events, mean + sigmas × σ): the count exceeded it.
        threshold: f64,
    },
}

impl Baseline {
    pub fn spike(user: &str, errors: bool, hour: DateTime<Utc>, s: &Spike) -> Self {
        Baseline::Spike {
            user: user.to_owned(),
            errors,
            hour,
            count: s.count,
            mean: s.mean,
            sigma: s.sigma,
            threshold: s.threshold,
        }
    }

    /// The alert's title: "alucloud117 made 240 calls in the hour from
    /// 2018-03-05 10:00 UTC; the week before averaged 3.0 ± 5.1 an hour
    /// (threshold 50)", "alucloud042 used eu-central-1 for the first time;
    /// known since 2018-02-01: us-east-1, eu-west-1".
    pub fn title(&self) -> String {
        match self {
            Baseline::First {
                who,
                what,
                since,
                known,
            } => {
                let known = if known.is_empty() {
                    "nothing else".to_owned()
                } else {
                    known.join(", ")
                };
                format!(
                    "{who} used {what} for the first time; known since {}: {known}",
                    since.format("%Y-%m-%d")
                )
            }
            Baseline::Spike {
                user,
                errors,
                hour,
                count,
                mean,
                sigma,
                threshold,
            } => {
                let what = if *errors { "failed calls" } else { "calls" };
                format!(
                    "{user} made {count} {what} in the hour from {} UTC; the week before averaged {mean:.1} ± {sigma:.1} an hour (threshold {threshold:.0})",
                    hour.format("%Y-%m-%d %H:%M")
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC §13: a quiet week then a burst: the threshold is the larger of
    /// min_events and mean + 4σ, and the alert is on the event past it.
    #[test]
    fn spikes_are_measured_against_the_week_before_zeros_included() {
        // A week of nothing: the threshold is min_events.
        let quiet = spike(&[], 51, 50, 4.0).expect("a spike");
        assert_eq!(
            (quiet.mean, quiet.sigma, quiet.threshold, quiet.nth),
            (0.0, 0.0, 50.0, 51)
        );
        assert!(spike(&[], 50, 50, 4.0).is_none(), "must exceed");
        // Three events an hour every hour: σ 0, threshold still 50.
        let steady = vec![3; WEEK_HOURS];
        assert!(spike(&steady, 50, 50, 4.0).is_none());
        assert_eq!(spike(&steady, 60, 50, 4.0).expect("a spike").nth, 51);
        // A busy user: 100 an hour for half the week, 0 the other half —
        // mean 50, σ 50, threshold 250.
        let busy: Vec<u64> = (0..WEEK_HOURS)
            .map(|h| if h % 2 == 0 { 100 } else { 0 })
            .collect();
        assert!(spike(&busy, 250, 50, 4.0).is_none());
        let s = spike(&busy, 251, 50, 4.0).expect("a spike");
        assert_eq!(
            (s.mean, s.sigma, s.threshold, s.nth),
            (50.0, 50.0, 250.0, 251)
        );
        // Missing hours are zeros: a slice of one hour of 168 events.
        let one = spike(&[168], 200, 50, 4.0).expect("a spike");
        assert_eq!(one.mean, 1.0);
        // (168 - 1)² + 167 × 1² over 168 hours: a variance of 167.
        assert!((one.sigma - 167f64.sqrt()).abs() < 1e-9);
        // A fractional threshold: the first event strictly past it.
        let frac = spike(&[1, 2], 60, 0, 4.0).expect("a spike");
        assert_eq!(frac.nth, frac.threshold.floor() as u64 + 1);
        assert!((frac.nth as f64) > frac.threshold && ((frac.nth - 1) as f64) <= frac.threshold);
    }

    #[test]
    fn titles_carry_the_baseline() {
        let at = |t: &str| t.parse::<DateTime<Utc>>().expect("time");
        let s = spike(&[], 240, 50, 4.0).expect("a spike");
        let spike = Baseline::spike("alucloud117", false, at("2018-03-05T10:00:00Z"), &s);
        assert_eq!(
            spike.title(),
            "alucloud117 made 240 calls in the hour from 2018-03-05 10:00 UTC; the week before averaged 0.0 ± 0.0 an hour (threshold 50)"
        );
        let first = Baseline::First {
            who: "alucloud042".into(),
            what: "eu-central-1".into(),
            since: at("2018-02-01T09:30:00Z"),
            known: vec!["us-east-1".into()],
        };
        assert_eq!(
            first.title(),
            "alucloud042 used eu-central-1 for the first time; known since 2018-02-01: us-east-1"
        );
        // The structured field the API shows, and back.
        let json = serde_json::to_value(&spike).expect("json");
        assert_eq!(json["type"], "spike");
        assert_eq!(json["hour"], "2018-03-05T10:00:00Z");
        assert_eq!(
            (json["count"].as_u64(), json["threshold"].as_f64()),
            (Some(240), Some(50.0))
        );
        let back: Baseline = serde_json::from_value(json).expect("parse");
        assert_eq!(back, spike);
        assert_eq!(serde_json::to_value(&first).expect("json")["type"], "first");
    }

    #[test]
    fn settings_default_as_the_spec_says_and_refuse_bad_values() {
        let s = AnomalySettings::default();
        assert_eq!(s.warmup_days, 7);
        assert!(!s.enabled(AnomalyKind::NewService), "off by default");
        assert!(s.enabled(AnomalyKind::NewRegion) && s.enabled(AnomalyKind::RateSpike));
        assert_eq!(
            (s.rate_spike.min_events, s.error_spike.min_events),
            (Some(50), Some(20))
        );
        assert_eq!(AnomalyKind::RateSpike.rule_id(), "anomaly:rate-spike");
        assert!(s.validate().is_ok());
        let bad = AnomalySettings {
            rate_spike: KindSettings {
                level: "severe".into(),
                ..s.rate_spike.clone()
            },
            ..s
        };
        assert!(bad.validate().expect_err("refused").contains("rate-spike"));
    }
}
