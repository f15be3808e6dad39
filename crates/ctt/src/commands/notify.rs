//! The notifier of `[[alerts.notify]]` (SPEC §12), for `ingest` and `serve`.

use std::sync::Arc;

use anyhow::anyhow;
use ctt_notify::{Destination, Notifier, Sender};
use ctt_store::EventStore;

use crate::settings::Settings;

/// The notifier of the configured destinations, or `None` when there are
/// none. A destination that cannot work stops the command now.
pub async fn notifier(
    settings: &Settings,
    store: &Arc<dyn EventStore>,
) -> anyhow::Result<Option<Arc<Notifier>>> {
    if settings.alerts.notify.is_empty() {
        return Ok(None);
    }
    let policy = settings.alerts.policy()?;
    let sns = sns_factory(settings).await?;
    let targets = Notifier::senders(&settings.alerts.notify, &*sns).map_err(|e| anyhow!(e))?;
    let notifier = Notifier::new(store.clone(), targets, policy).map_err(|e| anyhow!(e))?;
    Ok(Some(Arc::new(notifier)))
}

type Factory = Box<dyn Fn(&Destination) -> Result<Arc<dyn Sender>, String> + Send + Sync>;

#[cfg(feature = "aws")]
async fn sns_factory(settings: &Settings) -> anyhow::Result<Factory> {
    if !settings
        .alerts
        .notify
        .iter()
        .any(|d| d.kind == ctt_notify::Kind::Sns)
    {
        return Ok(Box::new(|_| Err("no SNS destination".into())));
    }
    let client = crate::aws::sns_client(settings).await?;
    Ok(Box::new(move |destination: &Destination| {
        let topic = destination.config.topic_arn.clone().unwrap_or_default();
        Ok(Arc::new(ctt_aws::sns::Topic::new(client.clone(), topic)) as Arc<dyn Sender>)
    }))
}

#[cfg(not(feature = "aws"))]
async fn sns_factory(_settings: &Settings) -> anyhow::Result<Factory> {
    Ok(Box::new(|_| {
        Err("kind = \"sns\" needs a ctt built with the `aws` feature".into())
    }))
}
