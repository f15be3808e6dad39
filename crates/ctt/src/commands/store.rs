//! `ctt store create dynamodb://TABLE`: make a store before loading into it.

use std::process::ExitCode;

use crate::cli::{StoreArgs, StoreCommand};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: StoreArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        StoreCommand::Create { uri } => create(settings, &uri).await,
    }
}

#[cfg(feature = "aws")]
async fn create(settings: &Settings, uri: &str) -> anyhow::Result<ExitCode> {
    let created = crate::aws::create_store(settings, uri).await?;
    match created {
        ctt_aws::dynamo::Created::Created => println!("created {uri}"),
        ctt_aws::dynamo::Created::AlreadyExisted => println!("{uri} already exists"),
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "aws"))]
async fn create(_settings: &Settings, uri: &str) -> anyhow::Result<ExitCode> {
    anyhow::bail!("cannot create {uri}: this ctt was built without the `aws` feature")
}
