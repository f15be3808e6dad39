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
    pub alerts: AlertSettings,
    pub resources: ResourceSettings,
    /// `[anomalies]`: SPEC §13's per-user baselines (kinds, thresholds, levels).
    pub anomalies: ctt_core::anomaly::AnomalySettings,
    pub auth: AuthSettings,
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
            alerts: AlertSettings::default(),
            resources: ResourceSettings::default(),
            anomalies: Default::default(),
            auth: AuthSettings::default(),
            cloud: CloudSettings::default(),
        }
    }
}

/// `[resources]`: the resource catalogue and the price table (SPEC §11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSettings {
    /// Whether the built-in catalogue's types are kept (default `true`);
    /// `false` keeps only `[[resources.types]]` — none at all: no resources.
    pub builtin: bool,
    /// `[[resources.types]]`: types added to the built-in catalogue, or
    /// replacing the built-in type of the same `type` (same shape as
    /// `crates/ctt-core/src/resources/catalogue.toml`).
    pub types: Vec<ctt_core::resources::ResourceType>,
    /// `[resources.prices]`: `region`, `date`, `source`, and
    /// `[resources.prices.hourly."TYPE"]` / `per_gb_month` entries replacing
    /// the shipped table's one by one.
    pub prices: ctt_core::resources::PriceOverrides,
}

impl Default for ResourceSettings {
    fn default() -> Self {
        Self {
            builtin: true,
            types: Vec::new(),
            prices: Default::default(),
        }
    }
}

impl ResourceSettings {
    /// The built-in catalogue with the configured types (or, with `builtin =
    /// false`, the configured types alone).
    pub fn catalogue(&self) -> anyhow::Result<ctt_core::resources::Catalogue> {
        let types = self.types.clone();
        if self.builtin {
            ctt_core::resources::Catalogue::builtin_with(types)
        } else {
            ctt_core::resources::Catalogue::of_types(types)
        }
        .context("invalid [[resources.types]]")
    }

    /// The shipped price table with the configured overrides.
    pub fn prices(&self) -> ctt_core::resources::PriceTable {
        ctt_core::resources::PriceTable::builtin().with(&self.prices)
    }
}

/// `[index]`: which parameters get an index when a database is created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexSettings {
    pub parameters: Vec<String>,
    /// Stored records one read may examine to match a parameter that is not
    /// indexed; a broader filter is refused (HTTP 400 naming it).
    pub scan_limit: u64,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            parameters: ctt_store::DEFAULT_INDEXED_PARAMETERS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            scan_limit: ctt_store::sqlite::DEFAULT_SCAN_LIMIT,
        }
    }
}

/// `[ingest]`: how loads run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestSettings {
    /// Parsing threads; 0 means one per core.
    pub workers: usize,
    /// A file larger than this, as stored or once decompressed, fails
    /// (decompression bombs).
    pub max_file_mib: u64,
    /// File contents (as read and decompressed) the parsing threads hold in
    /// memory at once; a larger file is read alone.
    pub in_flight_mib: u64,
    /// Loads of at least this many files into an empty SQLite store build its
    /// query indexes once at the end instead of row by row.
    pub bulk_load_files: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            workers: 0,
            max_file_mib: 512,
            in_flight_mib: 256,
            bulk_load_files: 10_000,
        }
    }
}

/// `[alerts]`: the detection rules tried on every record (SPEC §12).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The built-in rules (`ctt rules list`).
    pub builtin: bool,
    /// Sigma rule files and folders, besides the built-in ones (`--rules` adds).
    pub rules: Vec<PathBuf>,
    /// Ids of rules left out: read and checked, never evaluated (a folder's
    /// hunting rules too noisy for the account). An id no rule has is an
    /// error.
    pub disabled: Vec<String>,
    /// Regions the account is meant to use: calls elsewhere alert. Empty: that
    /// built-in rule is off.
    pub allowed_regions: Vec<String>,
    /// Instance types that alert when launched (Sigma wildcards). Empty: the
    /// built-in list (GPUs, bare metal, 12xlarge and up).
    pub expensive_instance_types: Vec<String>,
    /// Alerts on events older than this when stored are not sent (`30m`,
    /// `24h`, `7d`): a back-fill sends nothing.
    pub notify_max_age: String,
    /// Seconds before the first retry of a failed notification; doubled
    /// after each failure, up to an hour.
    pub notify_retry_secs: u64,
    /// Attempts before a notification is given up.
    pub notify_max_attempts: u32,
    /// Seconds `ctt ingest` goes on sending after its load; what is left is
    /// sent by the next `ctt ingest` or `ctt serve`.
    pub notify_grace_secs: u64,
    /// Where alerts are sent: `[[alerts.notify]]` tables (SPEC §12).
    pub notify: Vec<ctt_notify::DestinationConfig>,
}

impl AlertSettings {
    /// `notify_max_age` as a duration.
    pub fn max_age(&self) -> anyhow::Result<std::time::Duration> {
        ctt_notify::parse_age(&self.notify_max_age).with_context(|| {
            format!(
                "[alerts] notify_max_age {:?}: expected a number and a unit (s, m, h, d), e.g. \"24h\"",
                self.notify_max_age
            )
        })
    }

    /// The notifier's policy.
    pub fn policy(&self) -> anyhow::Result<ctt_notify::Policy> {
        Ok(ctt_notify::Policy {
            max_age: self.max_age()?,
            first_retry: std::time::Duration::from_secs(self.notify_retry_secs.max(1)),
            max_attempts: self.notify_max_attempts.max(1),
            ..ctt_notify::Policy::default()
        })
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            builtin: true,
            rules: Vec::new(),
            disabled: Vec::new(),
            allowed_regions: Vec::new(),
            expensive_instance_types: Vec::new(),
            notify_max_age: "24h".into(),
            notify_retry_secs: 30,
            notify_max_attempts: 12,
            notify_grace_secs: 10,
            notify: Vec::new(),
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

/// `[auth]`: credentials `ctt serve` accepts besides API tokens (SPEC §7).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// `[auth.jwt]`: JWTs of an OIDC issuer; absent: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtSettings>,
}

/// `[auth.jwt]`: JWTs of an OIDC issuer (a Cognito user pool or any other).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    /// The exact `iss` of the tokens.
    pub issuer: String,
    /// The app client id(s) the tokens must be for (`aud`, or `client_id`).
    pub audience: Vec<String>,
    /// Where the issuer's keys are; empty: `{issuer}/.well-known/jwks.json`.
    #[serde(default)]
    pub jwks_url: String,
    /// The claim listing the caller's groups (`admin`, `viewer`, `self`).
    #[serde(default = "JwtSettings::default_groups_claim")]
    pub groups_claim: String,
    /// The claim naming the user role `self` sees.
    #[serde(default = "JwtSettings::default_username_claim")]
    pub username_claim: String,
    /// The role of a caller in none of those groups: `self`, `viewer`,
    /// `admin`, or `none` (refused).
    #[serde(default = "JwtSettings::default_role")]
    pub default_role: String,
    /// The `token_use` tokens must carry (`id`, `access`); empty: any.
    #[serde(default)]
    pub token_use: String,
}

impl JwtSettings {
    fn default_groups_claim() -> String {
        ctt_server::auth::ClaimMapping::default().groups_claim
    }

    fn default_username_claim() -> String {
        ctt_server::auth::ClaimMapping::default().username_claim
    }

    fn default_role() -> String {
        "self".to_owned()
    }

    /// The verifier's configuration, checked.
    pub fn config(&self) -> anyhow::Result<ctt_server::auth::JwtConfig> {
        let default_role = match self.default_role.trim() {
            "none" => None,
            role => Some(
                role.parse()
                    .map_err(|e: String| anyhow::anyhow!("invalid auth.jwt.default_role: {e}"))?,
            ),
        };
        let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        Ok(ctt_server::auth::JwtConfig {
            issuer: self.issuer.trim().to_owned(),
            audiences: self.audience.iter().filter_map(|a| text(a)).collect(),
            jwks_url: text(&self.jwks_url),
            token_use: text(&self.token_use),
            claims: ctt_server::auth::ClaimMapping {
                groups_claim: self.groups_claim.trim().to_owned(),
                username_claim: self.username_claim.trim().to_owned(),
                default_role,
            },
        })
    }
}

impl IngestSettings {
    /// `max_file_mib` in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_mib.saturating_mul(1024 * 1024)
    }

    /// `in_flight_mib` in bytes.
    pub fn in_flight_bytes(&self) -> u64 {
        self.in_flight_mib.saturating_mul(1024 * 1024)
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
        let settings: Self = toml::from_str(&text)
            .with_context(|| format!("invalid configuration {}", path.display()))?;
        settings
            .anomalies
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration {}: {e}", path.display()))?;
        Ok(settings)
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
             parameters = {}\n\
             # Stored records one read may examine to match any other parameter;\n\
             # a broader filter is refused, naming it (narrow the window or index it).\n\
             scan_limit = {}\n\n\
             [ingest]\n\
             # Parsing threads; 0 means one per core.\n\
             workers = {}\n\
             # A file larger than this (MiB), as stored or once decompressed, fails\n\
             # (decompression bombs).\n\
             max_file_mib = {}\n\
             # MiB of file contents, as read and decompressed, that the parsing threads\n\
             # hold at once; a larger file waits to be read alone.\n\
             in_flight_mib = {}\n\
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
             sqs_wait_secs = {}\n\n\
             # Detection rules tried on every record as it loads (SPEC §12).\n\
             [alerts]\n\
             # The built-in rules (`ctt rules list`).\n\
             builtin = {}\n\
             # Sigma rule files and folders, besides the built-in ones (`--rules` adds).\n\
             rules = {}\n\
             # Ids of rules left out (read and checked, never evaluated), e.g. a folder's\n\
             # hunting rules that fire on every call of an assumed role.\n\
             disabled = {}\n\
             # Regions the account is meant to use: calls elsewhere alert. Empty: off.\n\
             allowed_regions = {}\n\
             # Instance types that alert when launched (Sigma wildcards, e.g. \"p3.*\").\n\
             # Empty: the built-in list (GPUs, bare metal, 12xlarge and up).\n\
             expensive_instance_types = {}\n\
             # Alerts on events older than this when stored are kept, not sent.\n\
             notify_max_age = {}\n\
             # Seconds before a failed notification is retried (doubled each time, up to 1 h).\n\
             notify_retry_secs = {}\n\
             # Attempts before a notification is given up.\n\
             notify_max_attempts = {}\n\
             # Seconds `ctt ingest` goes on sending after its load (the rest waits).\n\
             notify_grace_secs = {}\n\
             {}\n\
             {}\n\
             # Credentials `ctt serve` accepts besides API tokens (SPEC §7).\n\
             [auth]\n\
             {}",
            v(&self.db.display().to_string()),
            v(&f.keep_all),
            v(&f.drop_event_name_prefixes),
            v(&f.drop_read_only),
            v(&f.drop_event_sources),
            v(&f.drop_event_types),
            v(&f.drop_identity_types),
            v(&self.index.parameters),
            v(&(self.index.scan_limit as i64)),
            v(&(self.ingest.workers as i64)),
            v(&(self.ingest.max_file_mib as i64)),
            v(&(self.ingest.in_flight_mib as i64)),
            v(&(self.ingest.bulk_load_files as i64)),
            v(&self.server.listen),
            v(&self.server.cors_allowed_origins),
            v(&self.server.allowed_hosts),
            v(&self.server.trust_forwarded_proto),
            v(&(self.server.request_timeout_secs as i64)),
            v(&(self.server.follow_interval_secs as i64)),
            v(&(self.server.sqs_wait_secs as i64)),
            v(&self.alerts.builtin),
            v(&self
                .alerts
                .rules
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()),
            v(&self.alerts.disabled),
            v(&self.alerts.allowed_regions),
            v(&self.alerts.expensive_instance_types),
            v(&self.alerts.notify_max_age),
            v(&(self.alerts.notify_retry_secs as i64)),
            v(&(self.alerts.notify_max_attempts as i64)),
            v(&(self.alerts.notify_grace_secs as i64)),
            self.notify_toml(),
            self.resources_toml(),
            self.jwt_toml(),
        );
        out.push_str(&self.anomalies_toml());
        out
    }
}

impl Settings {
    /// `[anomalies]`: every kind's effective settings (SPEC §13).
    fn anomalies_toml(&self) -> String {
        #[derive(Serialize)]
        struct Anomalies<'a> {
            anomalies: &'a ctt_core::anomaly::AnomalySettings,
        }
        let table = toml::to_string(&Anomalies {
            anomalies: &self.anomalies,
        })
        .unwrap_or_default();
        format!(
            "\n# Anomalies (SPEC §13; docs/detections.md): per-user baselines raised as alerts\n\
             # `anomaly:KIND`; a user is warm `warmup_days` after their first event.\n{table}"
        )
    }

    /// `[resources]` as configured, or a commented example.
    fn resources_toml(&self) -> String {
        if self.resources == ResourceSettings::default() {
            return "# Resource types besides the built-in catalogue (`ctt resources --types`),\n\
                    # and prices replacing the shipped table's (SPEC §11; docs/resources.md).\n\
                    # [[resources.types]]\n\
                    # type = \"apprunner:service\"\n\
                    # name = \"App Runner service\"\n\
                    # source = \"apprunner.amazonaws.com\"\n\
                    # create = [{ events = [\"CreateService\"], ids = [\"responseElements.service.serviceName\"] }]\n\
                    # delete = [{ events = [\"DeleteService\"], ids = [\"responseElements.service.serviceName\"] }]\n\
                    # [resources.prices.hourly.\"ec2:instance\"]\n\
                    # \"t3.micro\" = 0.0114\n"
                .to_owned();
        }
        #[derive(Serialize)]
        struct Resources<'a> {
            resources: &'a ResourceSettings,
        }
        toml::to_string(&Resources {
            resources: &self.resources,
        })
        .unwrap_or_default()
    }

    /// `[[alerts.notify]]` tables, or a commented example.
    fn notify_toml(&self) -> String {
        if self.alerts.notify.is_empty() {
            return "\n# Where alerts are sent, one table per destination (none: not sent).\n\
                    # [[alerts.notify]]\n\
                    # kind = \"webhook\"            # webhook | email | sns\n\
                    # url = \"https://hooks.slack.com/services/…\"\n\
                    # min_level = \"high\"          # informational | low | medium | high | critical\n\
                    # [[alerts.notify]]\n\
                    # kind = \"email\"\n\
                    # smtp = \"smtps://user:password@smtp.example.org:465\"\n\
                    # from = \"ctt@example.org\"\n\
                    # to = [\"security@example.org\"]\n"
                .to_owned();
        }
        #[derive(Serialize)]
        struct Notify<'a> {
            alerts: NotifyList<'a>,
        }
        #[derive(Serialize)]
        struct NotifyList<'a> {
            notify: &'a [ctt_notify::DestinationConfig],
        }
        let tables = toml::to_string(&Notify {
            alerts: NotifyList {
                notify: &self.alerts.notify,
            },
        })
        .unwrap_or_default();
        format!("\n# Where alerts are sent, one table per destination.\n{tables}")
    }

    /// `[auth.jwt]`, or the same commented out when it is not set.
    fn jwt_toml(&self) -> String {
        let v = |value: &dyn erased::TomlValue| value.toml();
        let (jwt, prefix) = match &self.auth.jwt {
            Some(jwt) => (jwt.clone(), ""),
            None => (
                JwtSettings {
                    issuer: "https://cognito-idp.REGION.amazonaws.com/USER_POOL_ID".into(),
                    audience: vec!["APP_CLIENT_ID".into()],
                    jwks_url: String::new(),
                    groups_claim: JwtSettings::default_groups_claim(),
                    username_claim: JwtSettings::default_username_claim(),
                    default_role: JwtSettings::default_role(),
                    token_use: String::new(),
                },
                "# ",
            ),
        };
        let lines = [
            "# JWTs of an OIDC issuer: a Cognito user pool or any other. With it, a server"
                .to_owned(),
            "# is never open, and may listen beyond loopback without API tokens.".to_owned(),
            format!("{prefix}[auth.jwt]"),
            "# The exact `iss` of the tokens (https; http only on loopback).".to_owned(),
            format!("{prefix}issuer = {}", v(&jwt.issuer)),
            "# The app client id(s) tokens must be for: `aud`, or `client_id` (Cognito".to_owned(),
            "# access tokens).".to_owned(),
            format!("{prefix}audience = {}", v(&jwt.audience)),
            "# The issuer's keys; empty: {issuer}/.well-known/jwks.json (Cognito, Auth0)."
                .to_owned(),
            format!("{prefix}jwks_url = {}", v(&jwt.jwks_url)),
            "# The claim listing the caller's groups: `admin`, `viewer` or `self`.".to_owned(),
            format!("{prefix}groups_claim = {}", v(&jwt.groups_claim)),
            "# The claim naming the user role `self` sees (`username` in Cognito access".to_owned(),
            "# tokens).".to_owned(),
            format!("{prefix}username_claim = {}", v(&jwt.username_claim)),
            "# The role of a caller in none of those groups: self, viewer, admin or none."
                .to_owned(),
            format!("{prefix}default_role = {}", v(&jwt.default_role)),
            "# The `token_use` tokens must carry (`id`, `access`); empty: any.".to_owned(),
            format!("{prefix}token_use = {}", v(&jwt.token_use)),
        ];
        lines.join("\n")
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
        settings.alerts.rules = vec![PathBuf::from("rules/extra")];
        settings.alerts.disabled = vec!["905d389b-b853-46d0-9d3d-dea0d3a3cd49".into()];
        settings.alerts.allowed_regions = vec!["eu-west-1".into()];
        // The default: an example, commented out.
        let text = settings.to_commented_toml();
        assert!(text.contains("# [[alerts.notify]]"), "{text}");
        assert_eq!(toml::from_str::<Settings>(&text).expect("parses"), settings);
        settings.alerts.notify_max_age = "7d".into();
        settings.alerts.notify = vec![ctt_notify::DestinationConfig {
            kind: ctt_notify::Kind::Email,
            name: Some("security".into()),
            min_level: "high".into(),
            url: None,
            smtp: Some("smtps://mail.example:465".into()),
            from: Some("ctt@example.org".into()),
            to: vec!["sec@example.org".into(), "ops@example.org".into()],
            topic_arn: None,
            timeout_secs: 20,
        }];
        settings.resources = toml::from_str(
            "[[types]]\ntype = 'x:thing'\nname = 'Thing'\nsource = 'x.amazonaws.com'\n\
             create = [{ events = ['CreateThing'], ids = ['requestParameters.name'] }]\n\
             [prices]\nregion = 'eu-west-1'\n[prices.hourly.'x:thing']\ndefault = 0.25\n",
        )
        .expect("resources");
        let text = settings.to_commented_toml();
        let back: Settings = toml::from_str(&text).expect("printed config parses");
        assert_eq!(back, settings);
        assert_eq!(back.alerts.max_age().expect("age").as_secs(), 7 * 86_400);
        let catalogue = back.resources.catalogue().expect("catalogue");
        assert_eq!(
            catalogue.get("x:thing").map(|t| t.name.as_str()),
            Some("Thing")
        );
        assert_eq!(back.resources.prices().hourly("x:thing", None), Some(0.25));
        assert!(text.contains("# Which events are stored"));
    }

    #[test]
    fn jwt_settings_read_back_and_become_a_verifier_configuration() {
        let text = Settings::default().to_commented_toml();
        assert!(text.contains("# [auth.jwt]"), "{text}");
        let back: Settings = toml::from_str(&text).expect("printed config parses");
        assert_eq!(back.auth.jwt, None);

        let settings: Settings = toml::from_str(
            "[auth.jwt]\nissuer = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_X'\n\
             audience = ['app1']\ndefault_role = 'none'",
        )
        .expect("a JWT section");
        let jwt = settings.auth.jwt.clone().expect("[auth.jwt]");
        assert_eq!(jwt.groups_claim, "cognito:groups");
        let config = jwt.config().expect("valid");
        assert_eq!(config.audiences, ["app1"]);
        assert_eq!(config.jwks_url, None);
        assert_eq!(config.claims.default_role, None);
        let text = settings.to_commented_toml();
        let back: Settings = toml::from_str(&text).expect("printed config parses");
        assert_eq!(back, settings);

        let bad_role = JwtSettings {
            default_role: "root".into(),
            ..jwt
        };
        assert!(bad_role.config().is_err());
        assert!(toml::from_str::<Settings>("[auth.jwt]\nissuer = 'https://i'").is_err());
        assert!(
            toml::from_str::<Settings>("[auth.jwt]\nissuer = 'https://i'\naudience = []\nkid = 1")
                .is_err()
        );
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
