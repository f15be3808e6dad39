//! `ctt token create | list | revoke`: the API tokens of SPEC §7. A token is
//! printed once when it is created; the store keeps only its SHA-256.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;
use ctt_server::auth::{generate_token, hash_token};
use ctt_store::{Role, TokenRecord, TokenStore};

use crate::cli::{OutputFormat, TokenArgs, TokenCommand};
use crate::output;
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: TokenArgs) -> anyhow::Result<ExitCode> {
    let store = super::open_stores(settings).await?.tokens;
    match args.command {
        TokenCommand::Create { role, user, name } => {
            create(store.as_ref(), role, user, name).await?;
        }
        TokenCommand::List { format } => list(store.as_ref(), format).await?,
        TokenCommand::Revoke { name } => {
            if !store.revoke_token(&name).await? {
                bail!("no token named `{name}` (see `ctt token list`)");
            }
            println!("revoked token `{name}`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn create(
    store: &dyn TokenStore,
    role: Role,
    user: Option<String>,
    name: Option<String>,
) -> anyhow::Result<()> {
    if role == Role::OwnUser && user.as_deref().is_none_or(str::is_empty) {
        bail!("role `self` needs --user NAME: the user whose events the token may see");
    }
    let token = generate_token().context("cannot draw random bytes for a token")?;
    let hash = hash_token(&token);
    let name = name.unwrap_or_else(|| {
        let who = user.clone().unwrap_or_else(|| role.to_string());
        format!("{who}-{}", &hash[..8])
    });
    let created = store
        .create_token(TokenRecord {
            name: name.clone(),
            hash,
            role,
            user: user.clone(),
            created_at: Utc::now(),
        })
        .await?;
    if !created {
        bail!("a token named `{name}` already exists: choose another --name, or revoke it first");
    }
    println!("{token}");
    let whose = user.map(|u| format!(", user {u}")).unwrap_or_default();
    eprintln!(
        "created token `{name}` (role {role}{whose}). It is shown only this once: keep it \
         now. Send it as `Authorization: Bearer TOKEN`; revoke it with \
         `ctt token revoke {name}`."
    );
    Ok(())
}

async fn list(store: &dyn TokenStore, format: Option<OutputFormat>) -> anyhow::Result<()> {
    let tokens = store.tokens().await?;
    let format = output::resolve(format);
    let rows = tokens
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.role.to_string(),
                t.user.clone().unwrap_or_default(),
                ctt_core::time::format_event_time(t.created_at),
            ]
        })
        .collect();
    output::records(
        format,
        &["name", "role", "user", "created (UTC)"],
        rows,
        &tokens,
    )?;
    Ok(())
}
