//! `ctt gen OUT_DIR`: a deterministic, realistic CloudTrail log tree.

use std::process::ExitCode;

use anyhow::Context;
use ctt_core::time::{Bound, parse_bound};
use ctt_gen::{GenConfig, Preset};

use crate::cli::GenArgs;

pub fn run(args: GenArgs) -> anyhow::Result<ExitCode> {
    let preset: Preset = args
        .preset
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid --preset: {e}"))?;
    let end = match &args.end {
        Some(raw) => parse_bound(raw, Bound::To).context("invalid --end")?,
        None => chrono::Utc::now(),
    };
    let mut config = GenConfig::new(preset, args.seed, end);
    config.days = args.days.or(config.days);
    config.organization = args.organization;
    let summary = ctt_gen::generate(&args.out_dir, &config)
        .with_context(|| format!("cannot generate into {}", args.out_dir.display()))?;
    println!(
        "generated {} files, {} records, {} bytes gzipped, {} .. {} in {}",
        summary.files,
        summary.records,
        summary.bytes_gz,
        ctt_core::time::format_event_time(summary.first),
        ctt_core::time::format_event_time(summary.last),
        args.out_dir.display()
    );
    if let Some(file) = &args.course {
        std::fs::write(file, ctt_gen::course_toml(&config))
            .with_context(|| format!("cannot write {}", file.display()))?;
        println!(
            "wrote the class's course to {} (ctt course add {0})",
            file.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
