//! `[[alerts.notify]]`: where alerts go.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use ctt_store::alerts::{LEVELS, level_rank};

/// What kind of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// HTTP POST of JSON with a Slack-compatible `text`.
    Webhook,
    /// SMTP email.
    Email,
    /// An SNS topic (AWS).
    Sns,
}

/// One destination as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub kind: Kind,
    /// Its name in the outbox and the logs. Default: the kind and a hash of
    /// the address (a webhook URL is a secret: it is never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The lowest level sent: informational, low, medium, high, critical.
    #[serde(default = "default_min_level")]
    pub min_level: String,
    /// Webhook: the URL POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Email: the server, `smtps://user:pass@host:465`,
    /// `smtp://host:587?tls=required` (STARTTLS) or `smtp://host:25` (plain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<String>,
    /// Email: the sender address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Email: the recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// SNS: the topic's ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_arn: Option<String>,
    /// Seconds one attempt may take before it counts as failed.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_min_level() -> String {
    "medium".into()
}

fn default_timeout_secs() -> u64 {
    10
}

/// A configuration that cannot work, named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("[[alerts.notify]] {which}: {problem}")]
pub struct ConfigError {
    which: String,
    problem: String,
}

/// A checked destination: its name, lowest level and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub name: String,
    /// `level_rank` of the lowest level sent.
    pub min_level: usize,
    pub timeout: Duration,
    pub config: DestinationConfig,
}

impl DestinationConfig {
    /// Checks the fields its kind needs; `index` (from 1) names it in errors.
    pub fn check(&self, index: usize) -> Result<Destination, ConfigError> {
        let which = match &self.name {
            Some(name) => format!("#{index} ({name})"),
            None => format!("#{index}"),
        };
        let error = |problem: String| ConfigError {
            which: which.clone(),
            problem,
        };
        let min_level = level_rank(&self.min_level).ok_or_else(|| {
            error(format!(
                "min_level {:?} is not one of {}",
                self.min_level,
                LEVELS.join(", ")
            ))
        })?;
        let need = |field: &str, value: &Option<String>| match value.as_deref() {
            Some(v) if !v.trim().is_empty() => Ok(v.to_owned()),
            _ => Err(error(format!(
                "kind = {:?} needs `{field}`",
                self.kind_name()
            ))),
        };
        let address = match self.kind {
            Kind::Webhook => {
                let url = need("url", &self.url)?;
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(error("url must start with https:// or http://".into()));
                }
                url
            }
            Kind::Email => {
                let smtp = need("smtp", &self.smtp)?;
                if !(smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
                    return Err(error("smtp must start with smtps:// or smtp://".into()));
                }
                need("from", &self.from)?;
                if self.to.is_empty() {
                    return Err(error("kind = \"email\" needs `to` (a list)".into()));
                }
                format!("{smtp} {}", self.to.join(","))
            }
            Kind::Sns => need("topic_arn", &self.topic_arn)?,
        };
        if self.timeout_secs == 0 {
            return Err(error("timeout_secs must be at least 1".into()));
        }
        let name = match &self.name {
            Some(name) => name.clone(),
            None => {
                let hash = Sha256::digest(address.as_bytes());
                let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
                format!("{}-{hex}", self.kind_name())
            }
        };
        Ok(Destination {
            name,
            min_level,
            timeout: Duration::from_secs(self.timeout_secs),
            config: self.clone(),
        })
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Webhook => "webhook",
            Kind::Email => "email",
            Kind::Sns => "sns",
        }
    }
}

/// `30s`, `15m`, `24h`, `7d` (`notify_max_age`).
pub fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let unit = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(number.checked_mul(unit)?))
}

/// Checks every destination; names must be unique (they key the outbox).
pub fn check_all(configs: &[DestinationConfig]) -> Result<Vec<Destination>, ConfigError> {
    let mut out: Vec<Destination> = Vec::new();
    for (i, config) in configs.iter().enumerate() {
        let destination = config.check(i + 1)?;
        if out.iter().any(|d| d.name == destination.name) {
            return Err(ConfigError {
                which: format!("#{}", i + 1),
                problem: format!(
                    "another destination is named {:?}: give each its own `name`",
                    destination.name
                ),
            });
        }
        out.push(destination);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(url: &str) -> DestinationConfig {
        DestinationConfig {
            kind: Kind::Webhook,
            name: None,
            min_level: default_min_level(),
            url: Some(url.into()),
            smtp: None,
            from: None,
            to: Vec::new(),
            topic_arn: None,
            timeout_secs: 10,
        }
    }

    #[test]
    fn a_webhook_is_named_by_a_hash_never_by_its_secret_url() {
        let d = webhook("https://hooks.slack.com/services/T0/B0/secret")
            .check(1)
            .expect("valid");
        assert!(d.name.starts_with("webhook-"), "{}", d.name);
        assert!(!d.name.contains("secret"));
        assert_eq!(d.min_level, 2);
    }

    #[test]
    fn ages_have_a_unit() {
        assert_eq!(parse_age("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_age("30m"), Some(Duration::from_secs(1_800)));
        assert_eq!(parse_age("7d"), Some(Duration::from_secs(604_800)));
        assert_eq!(parse_age("24"), None);
        assert_eq!(parse_age("1w"), None);
    }

    #[test]
    fn what_a_kind_needs_is_named() {
        let mut email = webhook("https://x");
        email.kind = Kind::Email;
        email.smtp = Some("smtp://127.0.0.1:25".into());
        let e = email.check(2).expect_err("no from");
        assert_eq!(
            e.to_string(),
            "[[alerts.notify]] #2: kind = \"email\" needs `from`"
        );
        let mut bad = webhook("ftp://x");
        assert!(bad.check(1).is_err());
        bad = webhook("https://x");
        bad.min_level = "urgent".into();
        assert!(
            bad.check(1)
                .expect_err("level")
                .to_string()
                .contains("urgent")
        );
        let two = [webhook("https://x"), webhook("https://x")];
        assert!(
            check_all(&two)
                .expect_err("same name")
                .to_string()
                .contains("named")
        );
    }
}
