//! One `Settings` tree: defaults in code, then the TOML file (`--config` or
//! `CTT_CONFIG`), then `CTT_…` variables and flags. Unknown keys are an error.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ctt_core::FilterConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The SQLite database file.
    pub db: PathBuf,
    pub filter: FilterConfig,
    pub index: IndexSettings,
    pub ingest: IngestSettings,
    pub server: ServerSettings,
    /// `--store` and the AWS flags: from the command line only, never the file.
    #[serde(skip)]
    pub cloud: CloudSettings,
}

/// Where events are kept when not in `db`, and how AWS is reached
/// (`--store dynamodb://TABLE`, `--region`, `--profile`, `--endpoint-url`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudSettings {
    /// `dynamodb://TABLE[?region=…&endpoint=…&profile=…]`, instead of `db`.
    pub store: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            db: PathBuf::from("ctt.db"),
            filter: FilterConfig::default(),
            index: IndexSettings::default(),
            ingest: IngestSettings::default(),
            server: ServerSettings::default(),
            cloud: CloudSettings::default(),
        }
    }
}

/// `[index]`: which parameters get an index when a database is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexSettings {
    pub parameters: Vec<String>,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            parameters: ctt_store::DEFAULT_INDEXED_PARAMETERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        }
    }
}

/// `[ingest]`: how loads run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Parsing threads; 0 means one per core.
    pub workers: usize,
    /// A file larger than this once decompressed fails (decompression bombs).
    pub max_file_mib: u64,
    /// Loads of at least this many files into an empty SQLite store build its
    /// query indexes once at the end instead of row by row.
    pub bulk_load_files: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            workers: 0,
            max_file_mib: 512,
            bulk_load_files: 10_000,
        }
    }
}

/// `[server]`: how `ctt serve` listens and answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port (`--listen` overrides). Anything but loopback needs a token.
    pub listen: String,
    /// Browser origins allowed to call the API (CORS); empty: none; `*`: any.
    pub cors_allowed_origins: Vec<String>,
    /// Host names (or IP addresses) answered while access is open, besides
    /// loopback ones: other `Host` headers get 421 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Believe `X-Forwarded-Proto` from a TLS-terminating proxy in front.
    pub trust_forwarded_proto: bool,
    /// Seconds a request may take before it is answered 503.
    pub request_timeout_secs: u64,
    /// Seconds between two listings of the `--follow` folder.
    pub follow_interval_secs: u64,
    /// Seconds an SQS receive waits for a message (`--sqs-queue-url`; 0 to 20;
    /// 0: short polls, a second apart while the queue is empty).
    pub sqs_wait_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            cors_allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            trust_forwarded_proto: false,
            request_timeout_secs: 30,
            follow_interval_secs: 5,
            sqs_wait_secs: 20,
        }
    }
}

impl Settings {
    /// Reads the file if one is named, over the defaults.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read configuration {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))
    }

    /// The effective configuration as a commented TOML file.
    pub fn to_commented_toml(&self) -> String {
        let v = |value: &dyn erased::TomlValue| value.toml();
        let f = &self.filter;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# CloudTrail-Tracker configuration (effective values).\n\
             # Use with `--config FILE` or `CTT_CONFIG=FILE`; unknown keys are an error.\n\n\
             # The SQLite database file (`--db`, `CTT_DB` override it).\n\
             db = {}\n\n\
             # Which events are stored (SPEC §3). Applies to every ingestion path.\n\
             [filter]\n\
             # Store every event that has an eventName, ignoring the rules below.\n\
             keep_all = {}\n\
             # Drop events whose eventName, lower-cased, starts with one of these.\n\
             drop_event_name_prefixes = {}\n\
             # Drop events whose readOnly is true.\n\
             drop_read_only = {}\n\
             # Drop events from these eventSources, e.g. [\"kms.amazonaws.com\"].\n\
             drop_event_sources = {}\n\
             # Drop events of these eventTypes, e.g. [\"AwsServiceEvent\"].\n\
             drop_event_types = {}\n\
             # Drop events of these userIdentity types, e.g. [\"AWSService\"].\n\
             drop_identity_types = {}\n\n\
             # Parameters indexed for fast `param`/`value` filters. Fixed when a database\n\
             # is created; any other parameter is still answered exactly, from the record.\n\
             [index]\n\
             parameters = {}\n\n\
             [ingest]\n\
             # Parsing threads; 0 means one per core.\n\
             workers = {}\n\
             # A file larger than this once decompressed fails (decompression bombs).\n\
             max_file_mib = {}\n\
             # Loads of at least this many files into an empty store build its query\n\
             # indexes once, at the end, instead of row by row (much faster).\n\
             bulk_load_files = {}\n\n\
             # `ctt serve`.\n\
             [server]\n\
             # Address and port (`--listen` overrides). Any address but loopback needs an\n\
             # API token (`ctt token create`): the server refuses to start without one.\n\
             listen = {}\n\
             # Browser origins allowed to call the API (CORS): empty, none; [\"*\"], any.\n\
             cors_allowed_origins = {}\n\
             # While no token exists, only requests naming a loopback host (localhost,\n\
             # 127.0.0.1, [::1]) or one of these names are answered; others get 421\n\
             # (a web page whose name points at 127.0.0.1 cannot read the API).\n\
             allowed_hosts = {}\n\
             # Behind a TLS-terminating proxy that sets X-Forwarded-Proto: believe it (the\n\
             # portal's sign-in Origin check, the cookie's Secure flag). Off: plain http.\n\
             trust_forwarded_proto = {}\n\
             # Seconds a request may take before it is answered 503 (exports stream on).\n\
             request_timeout_secs = {}\n\
             # Seconds between two listings of the `--follow` folder.\n\
             follow_interval_secs = {}\n\
             # Seconds an SQS receive waits for a message (`--sqs-queue-url`, long polling;\n\
             # 0 to 20; 0: short polls, a second apart while the queue is empty).\n\
             sqs_wait_secs = {}",
            v(&self.db.display().to_string()),
            v(&f.keep_all),
            v(&f.drop_event_name_prefixes),
            v(&f.drop_read_only),
            v(&f.drop_event_sources),
            v(&f.drop_event_types),
            v(&f.drop_identity_types),
            v(&self.index.parameters),
            v(&(self.ingest.workers as i64)),
            v(&(self.ingest.max_file_mib as i64)),
            v(&(self.ingest.bulk_load_files as i64)),
            v(&self.server.listen),
            v(&self.server.cors_allowed_origins),
            v(&self.server.allowed_hosts),
            v(&self.server.trust_forwarded_proto),
            v(&(self.server.request_timeout_secs as i64)),
            v(&(self.server.follow_interval_secs as i64)),
            v(&(self.server.sqs_wait_secs as i64)),
        );
        out
    }
}

mod erased {
    /// Renders a value as TOML.
    pub trait TomlValue {
        fn toml(&self) -> String;
    }
    impl<T: serde::Serialize> TomlValue for T {
        fn toml(&self) -> String {
            toml::Value::try_from(self)
                .map(|v| v.to_string())
                .unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_configuration_reads_back_identically() {
        let mut settings = Settings::default();
        settings.filter.drop_event_sources = vec!["kms.amazonaws.com".into()];
        settings.ingest.workers = 3;
        settings.server.cors_allowed_origins = vec!["http://portal.example".into()];
        settings.server.allowed_hosts = vec!["ctt.example".into()];
        settings.server.trust_forwarded_proto = true;
        let text = settings.to_commented_toml();
        let back: Settings = toml::from_str(&text).expect("printed config parses");
        assert_eq!(back, settings);
        assert!(text.contains("# Which events are stored"));
    }

    #[test]
    fn unknown_keys_are_an_error() {
        assert!(toml::from_str::<Settings>("dbb = 'x'").is_err());
        assert!(toml::from_str::<Settings>("[filter]\nkeep_everything = true").is_err());
        let partial: Settings =
            toml::from_str("[filter]\nkeep_all = true").expect("partial config");
        assert!(partial.filter.keep_all);
        assert_eq!(partial.index, IndexSettings::default());
    }
}
