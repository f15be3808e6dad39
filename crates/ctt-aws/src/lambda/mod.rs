//! The Lambda functions' libraries (feature `lambda`): [`ingest`] for S3
//! notifications, [`api`] for the REST API and portal, and their settings, read once at cold start from the
//! environment. The binaries in `src/bin/` only wire these to the runtime.

pub mod api;
pub mod ingest;
/// The notifications the ingest function reads (shared with `ctt serve --sqs-queue-url`).
pub use crate::notification;

use ctt_core::{Filter, FilterConfig};
use ctt_ingest::IngestOptions;

/// Why the function's environment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment variable {variable}: {reason}")]
pub struct SettingsError {
    pub variable: &'static str,
    pub reason: String,
}

/// What the functions read from their environment.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaSettings {
    /// `CTT_TABLE`: the DynamoDB table (required).
    pub table: String,
    /// `CTT_INDEXED_PARAMETERS`: comma-separated; used when the table is first used.
    pub indexed_parameters: Vec<String>,
    /// `CTT_FILTER`: the `[filter]` settings as JSON (`{"keep_all": true}`).
    pub filter: FilterConfig,
    /// `CTT_MAX_FILE_MIB`: a larger file (once decompressed) fails.
    pub max_file_mib: u64,
    /// `CTT_ALERTS`: the `[alerts]` settings of the built-in rules as JSON
    /// (`{"builtin": true, "allowed_regions": ["eu-west-1"],
    /// "expensive_instance_types": ["p3.*"]}`); `CTT_RULES`: a folder of
    /// Sigma rules packaged with the function.
    pub alerts: AlertsConfig,
    /// `CTT_SNS_TOPIC_ARN`: alerts of `notify_min_level` and up are published
    /// there (SPEC §12), from the table's outbox.
    pub sns_topic_arn: Option<String>,
    /// `CTT_ANOMALIES`: the `[anomalies]` settings as JSON (SPEC §13;
    /// `{"warmup_days": 14, "rate-spike": {"min_events": 100}}`); unset, its
    /// defaults.
    pub anomalies: ctt_core::anomaly::AnomalySettings,
}

/// The detection rules of the ingest function (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub builtin: bool,
    pub allowed_regions: Vec<String>,
    pub expensive_instance_types: Vec<String>,
    /// Ids of rules left out, as `[alerts] disabled`.
    pub disabled: Vec<String>,
    #[serde(skip)]
    pub rules: Option<std::path::PathBuf>,
    /// The lowest level published to `CTT_SNS_TOPIC_ARN`.
    pub notify_min_level: String,
    /// Alerts on events older than this (`24h`, `30m`, `7d`) are not published.
    pub notify_max_age: String,
    /// Seconds before a failed publish is retried (doubled each time, to 1 h).
    pub notify_retry_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            builtin: true,
            allowed_regions: Vec::new(),
            expensive_instance_types: Vec::new(),
            disabled: Vec::new(),
            rules: None,
            notify_min_level: "medium".into(),
            notify_max_age: "24h".into(),
            notify_retry_secs: 30,
        }
    }
}

impl AlertsConfig {
    /// The rules these settings name.
    pub fn rule_set(&self) -> Result<ctt_detect::RuleSet, ctt_detect::LoadError> {
        ctt_detect::RuleSet::select(&ctt_detect::Selection {
            builtin: self.builtin,
            allowed_regions: &self.allowed_regions,
            expensive_instance_types: &self.expensive_instance_types,
            paths: self.rules.iter().map(std::path::PathBuf::as_path).collect(),
            disabled: &self.disabled,
        })
    }
}

impl LambdaSettings {
    /// The DynamoDB store these settings name, through `sdk` (both functions'
    /// cold start).
    pub async fn open_store(
        &self,
        sdk: &aws_config::SdkConfig,
    ) -> Result<crate::DynamoStore, ctt_store::StoreError> {
        let options = crate::DynamoOptions {
            indexed_parameters: self.indexed_parameters.clone(),
        };
        crate::DynamoStore::open(sdk, &self.table, None, options).await
    }

    /// Reads the settings through `lookup` (`std::env::var`, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let table = lookup("CTT_TABLE")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| SettingsError {
                variable: "CTT_TABLE",
                reason: "is required: the DynamoDB table to store events in".into(),
            })?;
        let indexed_parameters = match lookup("CTT_INDEXED_PARAMETERS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
            None => ctt_store::DEFAULT_INDEXED_PARAMETERS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
        };
        let filter = match lookup("CTT_FILTER").filter(|f| !f.trim().is_empty()) {
            Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError {
                variable: "CTT_FILTER",
                reason: e.to_string(),
            })?,
            None => FilterConfig::default(),
        };
        let max_file_mib = match lookup("CTT_MAX_FILE_MIB") {
            Some(raw) => raw.trim().parse().map_err(|_| SettingsError {
                variable: "CTT_MAX_FILE_MIB",
                reason: format!("`{raw}` is not a whole number"),
            })?,
            None => 512,
        };
        let mut alerts: AlertsConfig = match lookup("CTT_ALERTS").filter(|a| !a.trim().is_empty()) {
            Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError {
                variable: "CTT_ALERTS",
                reason: e.to_string(),
            })?,
            None => AlertsConfig::default(),
        };
        alerts.rules = lookup("CTT_RULES")
            .filter(|r| !r.trim().is_empty())
            .map(std::path::PathBuf::from);
        // Rules that cannot be used stop the cold start, naming the file.
        alerts.rule_set().map_err(|e| SettingsError {
            variable: if alerts.rules.is_some() {
                "CTT_RULES"
            } else {
                "CTT_ALERTS"
            },
            reason: e.to_string(),
        })?;
        let sns_topic_arn = lookup("CTT_SNS_TOPIC_ARN")
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty());
        let anomalies: ctt_core::anomaly::AnomalySettings =
            match lookup("CTT_ANOMALIES").filter(|a| !a.trim().is_empty()) {
                Some(json) => serde_json::from_str(&json).map_err(|e| SettingsError {
                    variable: "CTT_ANOMALIES",
                    reason: e.to_string(),
                })?,
                None => Default::default(),
            };
        anomalies.validate().map_err(|reason| SettingsError {
            variable: "CTT_ANOMALIES",
            reason,
        })?;
        let settings = Self {
            table: table.trim().to_owned(),
            indexed_parameters,
            filter,
            max_file_mib,
            alerts,
            sns_topic_arn,
            anomalies,
        };
        settings.sns_destination()?;
        Ok(settings)
    }

    /// The settings of this process's environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The SNS destination of `CTT_SNS_TOPIC_ARN`, its policy; `None` unset.
    pub fn sns_destination(
        &self,
    ) -> Result<Option<(ctt_notify::Destination, ctt_notify::Policy)>, SettingsError> {
        let Some(arn) = &self.sns_topic_arn else {
            return Ok(None);
        };
        let bad = |reason: String| SettingsError {
            variable: "CTT_ALERTS",
            reason,
        };
        let destination = ctt_notify::DestinationConfig {
            kind: ctt_notify::Kind::Sns,
            name: Some("sns".into()),
            min_level: self.alerts.notify_min_level.clone(),
            url: None,
            smtp: None,
            from: None,
            to: Vec::new(),
            topic_arn: Some(arn.clone()),
            timeout_secs: 10,
        }
        .check(1)
        .map_err(|e| bad(e.to_string()))?;
        let max_age = ctt_notify::parse_age(&self.alerts.notify_max_age).ok_or_else(|| {
            bad(format!(
                "notify_max_age {:?}: expected a number and a unit (s, m, h, d)",
                self.alerts.notify_max_age
            ))
        })?;
        let policy = ctt_notify::Policy {
            max_age,
            first_retry: std::time::Duration::from_secs(self.alerts.notify_retry_secs.max(1)),
            ..ctt_notify::Policy::default()
        };
        Ok(Some((destination, policy)))
    }

    /// The ingest function's handler over `store`: with `CTT_SNS_TOPIC_ARN`,
    /// loads queue alerts in the table's outbox and each invocation ends by
    /// publishing what is due (for up to 3 s; the rest waits for the next
    /// invocation, or the schedule's).
    pub fn ingest_handler(
        &self,
        store: crate::DynamoStore,
        source: crate::S3Source,
        sdk: &aws_config::SdkConfig,
    ) -> Result<ingest::IngestHandler, SettingsError> {
        let store = store.with_anomalies(self.anomalies.clone());
        let Some((destination, policy)) = self.sns_destination()? else {
            return Ok(ingest::IngestHandler::new(
                std::sync::Arc::new(store),
                source,
                self.ingest_options(),
            ));
        };
        let route = ctt_store::Route {
            destination: destination.name.clone(),
            min_level: destination.min_level,
        };
        let store: std::sync::Arc<dyn ctt_store::EventStore> =
            std::sync::Arc::new(store.with_outbox(vec![route], policy.max_age));
        let topic = crate::sns::Topic::new(
            crate::sns::client(sdk),
            destination.config.topic_arn.clone().unwrap_or_default(),
        );
        let target = ctt_notify::Target {
            destination,
            sender: std::sync::Arc::new(topic),
        };
        let notifier =
            ctt_notify::Notifier::new(store.clone(), vec![target], policy).map_err(|reason| {
                SettingsError {
                    variable: "CTT_SNS_TOPIC_ARN",
                    reason,
                }
            })?;
        Ok(
            ingest::IngestHandler::new(store, source, self.ingest_options()).with_notifier(
                std::sync::Arc::new(notifier),
                std::time::Duration::from_secs(3),
            ),
        )
    }

    /// How the ingest function reads files: one at a time, in its invocation.
    pub fn ingest_options(&self) -> IngestOptions {
        // Checked when the settings were read.
        let rules = self.alerts.rule_set().unwrap_or_default();
        IngestOptions {
            workers: 1,
            filter: Filter::new(self.filter.clone()),
            max_file_bytes: self.max_file_mib.saturating_mul(1024 * 1024),
            rules: (!rules.is_empty()).then(|| std::sync::Arc::new(rules)),
            ..IngestOptions::default()
        }
    }
}

/// JSON logs on stderr (CloudWatch), level from `CTT_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CTT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<LambdaSettings, SettingsError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LambdaSettings::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn settings_come_from_the_environment() {
        let s = settings(&[("CTT_TABLE", "ctt-events")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.table, "ctt-events");
        assert_eq!(s.filter, FilterConfig::default());
        assert_eq!(
            s.indexed_parameters.len(),
            ctt_store::DEFAULT_INDEXED_PARAMETERS.len()
        );
        let s = settings(&[
            ("CTT_TABLE", "t"),
            ("CTT_FILTER", r#"{"keep_all": true}"#),
            ("CTT_INDEXED_PARAMETERS", "a, b,"),
            ("CTT_MAX_FILE_MIB", "64"),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(s.filter.keep_all);
        assert_eq!(s.indexed_parameters, ["a", "b"]);
        assert_eq!(s.ingest_options().max_file_bytes, 64 << 20);
        // The built-in rules, the region rule among them once regions are given.
        let rules = |s: &LambdaSettings| s.ingest_options().rules.map_or(0, |r| r.len());
        assert_eq!(rules(&s), ctt_detect::BUILTIN.len() - 1);
        let s = settings(&[
            ("CTT_TABLE", "t"),
            ("CTT_ALERTS", r#"{"allowed_regions": ["eu-west-1"]}"#),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules(&s), ctt_detect::BUILTIN.len());
        let s = settings(&[("CTT_TABLE", "t"), ("CTT_ALERTS", r#"{"builtin": false}"#)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules(&s), 0);
        assert!(settings(&[("CTT_TABLE", "t"), ("CTT_ALERTS", r#"{"colour": 1}"#)]).is_err());
        // `disabled`: a built-in rule left out; an id no rule has refused.
        let first = ctt_detect::Rule::from_yaml(ctt_detect::BUILTIN[0].1)
            .unwrap_or_else(|e| panic!("{e}"))
            .id;
        let off = format!(r#"{{"disabled": ["{first}"]}}"#);
        let s_off =
            settings(&[("CTT_TABLE", "t"), ("CTT_ALERTS", &off)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rules(&s_off), ctt_detect::BUILTIN.len() - 2);
        let typo = settings(&[
            ("CTT_TABLE", "t"),
            ("CTT_ALERTS", r#"{"disabled": ["no-such-rule"]}"#),
        ]);
        assert!(typo.is_err_and(|e| e.to_string().contains("no-such-rule")));
        assert!(settings(&[("CTT_TABLE", "t"), ("CTT_RULES", "/nonexistent/rules")]).is_err());
        // Anomalies (SPEC §13): the defaults, or `[anomalies]` as JSON.
        assert_eq!(s.anomalies, ctt_core::anomaly::AnomalySettings::default());
        let s = settings(&[
            ("CTT_TABLE", "t"),
            (
                "CTT_ANOMALIES",
                r#"{"warmup_days": 14, "rate-spike": {"min_events": 100}}"#,
            ),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (s.anomalies.warmup_days, s.anomalies.rate_spike.min_events),
            (14, Some(100))
        );
        for (pairs, variable) in [
            (vec![], "CTT_TABLE"),
            (vec![("CTT_TABLE", " ")], "CTT_TABLE"),
            (
                vec![
                    ("CTT_TABLE", "t"),
                    ("CTT_FILTER", r#"{"keep_everything": 1}"#),
                ],
                "CTT_FILTER",
            ),
            (
                vec![("CTT_TABLE", "t"), ("CTT_MAX_FILE_MIB", "lots")],
                "CTT_MAX_FILE_MIB",
            ),
            (
                vec![("CTT_TABLE", "t"), ("CTT_ANOMALIES", r#"{"warmup": 1}"#)],
                "CTT_ANOMALIES",
            ),
            (
                vec![
                    ("CTT_TABLE", "t"),
                    ("CTT_ANOMALIES", r#"{"new-region": {"level": "loud"}}"#),
                ],
                "CTT_ANOMALIES",
            ),
        ] {
            assert_eq!(settings(&pairs).map_err(|e| e.variable), Err(variable));
        }
    }
}
