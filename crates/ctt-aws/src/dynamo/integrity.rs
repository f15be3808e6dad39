//! Integrity verdicts (SPEC §14) in the table. Each ledger item keeps its
//! file's latest status (`integrity`). A file found not `valid` is also
//! flagged under `pk = INTEGRITY`: one head item (`sk` = its key: status and
//! how many events) and its events' IDs in chunk items (`sk` = key, newline,
//! chunk number), so a file of any size fits. Flags are few, so the summary and
//! the marks of a page of events are one `Query` of that partition; the last
//! verification recorded is `META`/`INTEGRITY`. No `Scan`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use ctt_store::{FlaggedFile, IntegritySummary, Verdict};

use super::items::{Item, get_n, get_s, n, s};
use super::read::query_partition;
use super::{DynamoError, Inner, item_key, keys};

/// The partition of flagged files.
pub const INTEGRITY_PK: &str = "INTEGRITY";
/// The item, under `META`, of the last verification recorded.
const LAST_SK: &str = "INTEGRITY";
/// Event IDs per chunk item: ~40 bytes each, far below the 400 KB item limit.
const IDS_PER_CHUNK: usize = 5_000;

fn chunk_sk(key: &str, chunk: usize) -> String {
    format!("{key}\n{chunk}")
}

/// Records `verdicts`: each ledger item's status (one conditional
/// `UpdateItem`; a key with no ledger item is left out), then the flags of
/// the files recorded. Returns how many files were recorded.
pub async fn record(inner: &Inner, verdicts: Vec<Verdict>) -> Result<u64, DynamoError> {
    // The flags now, by file: one `Query` (flags are few).
    let mut existing: HashMap<String, Vec<String>> = HashMap::new();
    for item in query_partition(inner, None, keys::PK, INTEGRITY_PK, Some(&[keys::SK])).await? {
        if let Some(sk) = get_s(&item, keys::SK) {
            let key = sk.split_once('\n').map_or(sk, |(key, _)| key);
            existing
                .entry(key.to_owned())
                .or_default()
                .push(sk.to_owned());
        }
    }
    let mut recorded = 0;
    for verdict in verdicts {
        let result = inner
            .client
            .update_item()
            .table_name(&inner.table)
            .set_key(Some(item_key(
                keys::ledger_pk(&verdict.key),
                keys::LEDGER_SK,
            )))
            .update_expression("SET integrity = :s")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":s", AttributeValue::S(verdict.status.clone()))
            .send()
            .await;
        match result {
            Ok(_) => recorded += 1,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                continue;
            }
            Err(e) => return Err(inner.error("UpdateItem", e)),
        }
        for sk in existing.remove(&verdict.key).unwrap_or_default() {
            delete(inner, &sk).await?;
        }
        if !verdict.is_valid() {
            flag(inner, &verdict).await?;
        }
    }
    if recorded > 0 {
        let mut item = item_key(keys::META_PK, LAST_SK);
        item.insert("at".into(), n(chrono::Utc::now().timestamp()));
        item.insert("files".into(), n(recorded));
        put(inner, item).await?;
    }
    Ok(recorded)
}

async fn delete(inner: &Inner, sk: &str) -> Result<(), DynamoError> {
    inner
        .client
        .delete_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(INTEGRITY_PK, sk)))
        .send()
        .await
        .map_err(|e| inner.error("DeleteItem", e))?;
    Ok(())
}

async fn flag(inner: &Inner, verdict: &Verdict) -> Result<(), DynamoError> {
    for (i, ids) in verdict.event_ids.chunks(IDS_PER_CHUNK).enumerate() {
        let mut item = item_key(INTEGRITY_PK, chunk_sk(&verdict.key, i));
        item.insert("ids".into(), AttributeValue::Ss(ids.to_vec()));
        put(inner, item).await?;
    }
    let mut head = item_key(INTEGRITY_PK, &verdict.key);
    head.insert("status".into(), s(&verdict.status));
    head.insert("events".into(), n(verdict.event_ids.len() as u64));
    put(inner, head).await
}

async fn put(inner: &Inner, item: Item) -> Result<(), DynamoError> {
    inner
        .client
        .put_item()
        .table_name(&inner.table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| inner.error("PutItem", e))?;
    Ok(())
}

/// Every flagged file, and the IDs of its events by file.
async fn flags(
    inner: &Inner,
) -> Result<(Vec<FlaggedFile>, HashMap<String, Vec<String>>), DynamoError> {
    let items = query_partition(inner, None, keys::PK, INTEGRITY_PK, None).await?;
    let mut flagged = Vec::new();
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for item in &items {
        let Some(sk) = get_s(item, keys::SK) else {
            continue;
        };
        match sk.split_once('\n') {
            Some((key, _)) => {
                if let Some(AttributeValue::Ss(chunk)) = item.get("ids") {
                    ids.entry(key.to_owned())
                        .or_default()
                        .extend(chunk.iter().cloned());
                }
            }
            None => flagged.push(FlaggedFile {
                key: sk.to_owned(),
                status: get_s(item, "status").unwrap_or_default().to_owned(),
                events: get_n(item, "events").unwrap_or(0),
            }),
        }
    }
    flagged.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((flagged, ids))
}

pub async fn summary(inner: &Inner) -> Result<IntegritySummary, DynamoError> {
    let (flagged, _) = flags(inner).await?;
    let last = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(keys::META_PK, LAST_SK)))
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    let last = last.item.as_ref();
    Ok(IntegritySummary {
        last_recorded_at: last
            .and_then(|i| get_n::<i64>(i, "at"))
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0)),
        last_recorded_files: last.and_then(|i| get_n(i, "files")).unwrap_or(0),
        flagged,
    })
}

pub async fn marks(
    inner: &Inner,
    event_ids: Vec<String>,
) -> Result<HashMap<String, String>, DynamoError> {
    let (flagged, ids) = flags(inner).await?;
    if flagged.is_empty() {
        return Ok(HashMap::new());
    }
    let wanted: std::collections::HashSet<&str> = event_ids.iter().map(String::as_str).collect();
    let mut marks = HashMap::new();
    for file in &flagged {
        for id in ids.get(&file.key).into_iter().flatten() {
            if wanted.contains(id.as_str()) {
                marks
                    .entry(id.clone())
                    .or_insert_with(|| file.status.clone());
            }
        }
    }
    Ok(marks)
}
