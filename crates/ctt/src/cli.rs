//! The command line: subcommands and their flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::Settings;

/// CloudTrail-Tracker: who did what, with which service, when.
#[derive(Debug, Parser)]
#[command(name = "ctt", version, about, max_term_width = 100)]
pub struct Cli {
    /// The SQLite database file [default: ./ctt.db, or `db` in the configuration].
    #[arg(long, global = true, env = "CTT_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Where events are kept instead of --db: `dynamodb://TABLE` (options
    /// `?region=…&endpoint=…&profile=…`; create it with `ctt store create`).
    #[arg(long, global = true, env = "CTT_STORE", value_name = "URI")]
    pub store: Option<String>,

    /// AWS region for S3 sources and DynamoDB [default: the AWS configuration's].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// A named profile of the AWS configuration files.
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Another endpoint for every AWS service (an emulator, S3-compatible
    /// storage); `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL_DYNAMODB` are honoured too.
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// A TOML configuration file (see `ctt config`).
    #[arg(long, global = true, env = "CTT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug); `CTT_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The effective settings: defaults, the file, then variables and flags.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::load(self.config.as_deref())?;
        if let Some(db) = &self.db {
            settings.db = db.clone();
        }
        settings.cloud = crate::settings::CloudSettings {
            store: self.store.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            endpoint_url: self.endpoint_url.clone(),
        };
        Ok(settings)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load log files (folders, recursively, or files) into the store, exactly once.
    Ingest(IngestArgs),
    /// The ledger of files read, with the reason for each failure.
    Files(FilesArgs),
    /// Events of all users and services.
    Scan(EventArgs),
    /// Users seen; or, with USER, that user's events.
    Users(ScopedArgs),
    /// Services seen; or, with SERVICE (ec2, s3, …), that service's events.
    Services(ScopedArgs),
    /// Parameter names usable in `--param`.
    Parameters(ListArgs),
    /// Generate a realistic CloudTrail log tree (deterministic).
    Gen(GenArgs),
    /// Print the effective configuration, commented.
    Config,
    /// Serve the REST API (and /docs) over HTTP.
    Serve(ServeArgs),
    /// Manage API tokens: create, list, revoke.
    Token(TokenArgs),
    /// Manage stores: `ctt store create dynamodb://TABLE`.
    Store(StoreArgs),
    /// Courses and labs (SPEC §10): add a course file, grade its class.
    Course(CourseArgs),
    /// Check CloudTrail's signed digest files against the logs (SPEC §14), offline.
    Verify(VerifyArgs),
    /// Detection rules (Sigma, SPEC §12): list those in force, check files, try one.
    Rules(RulesArgs),
    /// Alerts: the rules' hits on the records loaded (SPEC §12).
    Alerts(AlertsArgs),
    /// Resources: who created what, who deleted it, what is still running
    /// and what it costs, estimated (SPEC §11).
    Resources(ResourcesArgs),
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The rules in force: built-in, `[alerts] rules`, and --rules.
    List {
        /// More rule files or folders.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Check rule files and folders: each loads, or is refused with its file and
    /// the feature it uses (exit status 1).
    Check {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Try one rule on the records of a source: prints each record it fires on.
    Test {
        /// The rule file.
        rule: PathBuf,
        /// Folders or files of CloudTrail logs.
        #[arg(required = true, value_name = "SOURCE")]
        sources: Vec<PathBuf>,
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Start (as `ctt scan --from`) [default: the first alert].
    #[arg(long)]
    pub from: Option<String>,
    /// End, inclusive [default: the last alert].
    #[arg(long)]
    pub to: Option<String>,
    /// Only this rule (its id).
    #[arg(long)]
    pub rule: Option<String>,
    /// Only this level and above: informational, low, medium, high, critical.
    #[arg(long)]
    pub level: Option<String>,
    /// Only alerts on this user's events.
    #[arg(long)]
    pub user: Option<String>,
    /// At most this many alerts [default: all].
    #[arg(long)]
    pub limit: Option<usize>,
    /// table, json, ndjson, csv (`time,rule,level,user,service,eventName,eventID,title`).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct ResourcesArgs {
    /// Only what this user created.
    #[arg(long)]
    pub user: Option<String>,
    /// open (running or stopped), running, stopped or deleted [default: all].
    #[arg(long)]
    pub state: Option<String>,
    /// Only this type (`ec2:instance`; `ctt resources --types` lists them).
    #[arg(long = "type", value_name = "TYPE")]
    pub kind: Option<String>,
    /// As they stood at this time (as `ctt scan --to`) [default: now].
    #[arg(long)]
    pub at: Option<String>,
    /// List the resource types of the catalogue instead.
    #[arg(long)]
    pub types: bool,
    /// table, json, ndjson, csv (`type,id,region,account,owner,state,created,deleted,deleted_by,running_hours,estimated_cost`).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Folders, or `s3://bucket/prefix`, holding the trail's logs and digests
    /// (`AWSLogs/…/CloudTrail/` and `…/CloudTrail-Digest/`).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Only the digests of this day and after, the logs they list, and the
    /// logs of those days (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: Option<chrono::NaiveDate>,
    /// Only up to this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub to: Option<chrono::NaiveDate>,
    /// CloudTrail's public keys: the JSON of `aws cloudtrail list-public-keys`
    /// over the period (`ctt gen` writes its own as cloudtrail-public-keys.json).
    /// Needed for a folder; for `s3://` sources, CloudTrail's ListPublicKeys is
    /// asked in each trail's home region when it is not given.
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// A digest's signature, when the source has lost it: `FILE_NAME=HEX`
    /// (the newest digest of a local copy is `unsigned` without it). Repeatable.
    #[arg(long, value_name = "NAME=HEX")]
    pub signature: Vec<String>,
    /// Keep each loaded log file's status in the store's ledger (`ctt files`
    /// shows it): the files loaded from this same SOURCE, by the same keys.
    #[arg(long)]
    pub record: bool,
    /// table, json (every file, all its faults) or csv (`kind,key,status`).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Folders or files to load, or `s3://bucket/prefix` (the day prefixes of
    /// --from/--to only, where the CloudTrail layout allows).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    /// Only files whose key date is on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: Option<chrono::NaiveDate>,
    /// Only files whose key date is on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub to: Option<chrono::NaiveDate>,
    /// Parsing threads [default: one per core].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Commit after this many events (tuning; tests use small batches).
    #[arg(long, hide = true, default_value_t = 20_000)]
    pub batch_events: usize,
    /// List a folder in parts of this many files, each loaded before the
    /// next is listed (tuning; tests use small parts).
    #[arg(long, hide = true, default_value_t = 50_000)]
    pub list_part_files: usize,
    /// Never draw a progress bar, log lines instead.
    #[arg(long)]
    pub no_progress: bool,
    /// After the load, verify the files listed against CloudTrail's digests
    /// (SPEC §14, as `ctt verify`) and keep each log's status in the ledger.
    #[arg(long)]
    pub verify: bool,
    /// Sigma rule files or folders tried on every record (besides the built-in
    /// ones and `[alerts] rules`). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// With --verify: the JSON of `aws cloudtrail list-public-keys` (needed for
    /// a folder; for `s3://`, ListPublicKeys is asked when it is not given).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// How to print the summary: table (text) or json.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct FilesArgs {
    /// Only files that failed.
    #[arg(long)]
    pub failed: bool,
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Ndjson,
    Csv,
}

/// Filters shared by every event query (SPEC §5).
#[derive(Debug, Args, Default)]
pub struct EventArgs {
    /// Start (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SS, optional Z or ±HH:MM) [default: 7 days before --to].
    #[arg(long)]
    pub from: Option<String>,
    /// End, inclusive; a date alone covers the whole day [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// Only this eventName.
    #[arg(long, value_name = "NAME")]
    pub event_name: Option<String>,
    /// Match --event-name as a prefix.
    #[arg(long, requires = "event_name")]
    pub begin_with: bool,
    /// NAME=VALUE: a parameter condition (repeatable, ANDed); see `ctt parameters`.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Print the number of matching events only.
    #[arg(long)]
    pub count: bool,
    /// At most this many events [default: all].
    #[arg(long)]
    pub limit: Option<u32>,
    /// table (default on a terminal), json (what the API answers; default otherwise), ndjson, csv.
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct ScopedArgs {
    /// Whose events; without it, the list (with --from/--to: those active then).
    pub name: Option<String>,
    #[command(flatten)]
    pub filters: EventArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Where to write the tree (AWSLogs/… below it).
    pub out_dir: PathBuf,
    /// small (tests, seconds), paper (the original's 4 years), scale (a
    /// year of a busy production account: ~40 million records, ≥ 10 million
    /// stored) or write-heavy (a month of that account with half of its
    /// records kept, ~15 records a file).
    #[arg(long, default_value = "small")]
    pub preset: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The instant the history ends [default: now].
    #[arg(long)]
    pub end: Option<String>,
    /// Override the preset's number of days.
    #[arg(long)]
    pub days: Option<u32>,
    /// Organisation-trail layout (AWSLogs/o-…/ACCOUNT/…).
    #[arg(long)]
    pub organization: bool,
    /// Also write the course the generated class can be graded against (SPEC
    /// §10) to this file, for `ctt course add`.
    #[arg(long, value_name = "FILE")]
    pub course: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080, or `server.listen`]. Any
    /// address but loopback needs an API token (`ctt token create`).
    #[arg(long, env = "CTT_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Generate a small realistic dataset ending now, load it, and serve it (into
    /// a temporary database unless --db is given).
    #[arg(long)]
    pub demo: bool,
    /// Sigma rule files or folders tried on every record loaded (besides the
    /// built-in ones and `[alerts] rules`). Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Keep loading new log files from this folder, or from `s3://bucket/prefix`
    /// (today's day prefixes, polled at least every 30 s), while serving.
    #[arg(long, value_name = "DIR|S3")]
    pub follow: Option<String>,
    /// With `--follow s3://…`: take new files from this SQS queue, which receives
    /// the bucket's notifications (S3 event notifications or EventBridge "Object
    /// Created"), instead of listing the bucket; each message is deleted once its
    /// files are stored.
    #[arg(long, value_name = "URL", requires = "follow")]
    pub sqs_queue_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it, once (only its hash is stored).
    Create {
        /// admin, viewer (every event) or self (only --user's events).
        #[arg(long)]
        role: ctt_store::Role,
        /// The user whose events a `self` token sees (as listed by `ctt users`).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// A unique label, to list and revoke it [default: the user or role and a
        /// short id].
        #[arg(long, value_name = "LABEL")]
        name: Option<String>,
    },
    /// List tokens (never their secrets).
    List {
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Revoke (delete) a token by name; servers refuse it within seconds.
    Revoke {
        /// The token's name, as listed by `ctt token list`.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    pub command: StoreCommand,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create a store: `dynamodb://TABLE` makes the table and its indexes
    /// (on-demand capacity); nothing is changed when it exists.
    Create {
        /// `dynamodb://TABLE[?region=…&endpoint=…&profile=…]`.
        uri: String,
    },
}

#[derive(Debug, Args)]
pub struct CourseArgs {
    #[command(subcommand)]
    pub command: CourseCommand,
}

#[derive(Debug, Subcommand)]
pub enum CourseCommand {
    /// Check a course file (TOML, SPEC §10) and store it; an existing course
    /// with its id is replaced.
    Add {
        /// The course file (see examples/courses/).
        file: PathBuf,
    },
    /// List the stored courses.
    List {
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// Remove a course (events are not touched).
    Rm {
        /// The course id, as listed by `ctt course list`.
        id: String,
    },
    /// Grade the class: each student's status, grade, completion and progress
    /// per lab; `--format csv` is the class export.
    Show {
        /// The course id.
        id: String,
        /// Replaces the start of the course window.
        #[arg(long)]
        from: Option<String>,
        /// Replaces the end of the course window (a date is the whole day).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
    /// One student: each lab's progress, what is missing, the credited events.
    Student {
        /// The course id.
        id: String,
        /// The student (a user as listed by `ctt users`).
        user: String,
        /// Replaces the start of the course window.
        #[arg(long)]
        from: Option<String>,
        /// Replaces the end of the course window (a date is the whole day).
        #[arg(long)]
        to: Option<String>,
        /// table or json.
        #[arg(long, value_enum)]
        format: Option<OutputFormat>,
    },
}
