//! `ctt`: CloudTrail-Tracker's one binary. The composition root: it reads the
//! settings, opens the store and hands them to the libraries; one module per
//! subcommand under `commands/`.
//!
//! Exit codes: 0 success; 1 error; 2 bad usage; 3 a load finished but some files
//! failed (listed by `ctt files --failed`).

#[cfg(feature = "aws")]
mod aws;
mod cli;
mod commands;
mod output;
mod progress;
mod settings;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc: the load allocates and frees millions of small JSON values across
/// threads, where it is markedly faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status of a load where some files failed.
pub const EXIT_FILES_FAILED: u8 = 3;

/// Exit status of `ctt verify` when a file checked is not valid.
pub const EXIT_NOT_VALID: u8 = 4;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs its requests (info) unless told otherwise.
    let serving = matches!(cli.command, Command::Serve(_));
    init_logging(if serving {
        cli.verbose.max(1)
    } else {
        cli.verbose
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = cli.settings()?;
    let db_given = cli.db.is_some();
    match cli.command {
        Command::Ingest(args) => commands::ingest::run(&settings, args).await,
        Command::Files(args) => commands::files::run(&settings, args).await,
        Command::Scan(args) => commands::query::scan(&settings, args).await,
        Command::Users(args) => commands::query::users(&settings, args).await,
        Command::Services(args) => commands::query::services(&settings, args).await,
        Command::Parameters(args) => commands::query::parameters(&settings, args).await,
        Command::Gen(args) => commands::generate::run(args),
        Command::Serve(args) => commands::serve::run(&settings, args, db_given).await,
        Command::Token(args) => commands::token::run(&settings, args).await,
        Command::Store(args) => commands::store::run(&settings, args).await,
        Command::Course(args) => commands::course::run(&settings, args).await,
        Command::Verify(args) => commands::verify::run(&settings, args).await,
        Command::Rules(args) => commands::rules::run(&settings, args).await,
        Command::Alerts(args) => commands::alerts::run(&settings, args).await,
        Command::Resources(args) => commands::resources::run(&settings, args).await,
        Command::Config => {
            println!("{}", settings.to_commented_toml());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CTT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a terminal: a log kept in a file or a journal
    // stays plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
