//! Courses (SPEC §10) in the table: one item per course under `pk = COURSE`,
//! `sk` its id, holding the course file as its teacher wrote it. Listed with
//! one `Query` of that partition, read with `GetItem`; a course's events are
//! read through the event indexes (`EventStore::course_hits`' default: `Query`s
//! by user or by service and name prefix), never a `Scan`.

use aws_sdk_dynamodb::types::ReturnValue;
use chrono::DateTime;
use ctt_store::StoredCourse;

use super::items::{Item, get_n, get_s, n, s};
use super::read::query_partition;
use super::{DynamoError, Inner, item_key, keys};

/// The partition of course items.
pub const COURSE_PK: &str = "COURSE";

fn course_item(course: &StoredCourse) -> Item {
    let mut item = item_key(COURSE_PK, &course.id);
    item.insert("source".into(), s(&course.source));
    item.insert("added_at".into(), n(course.added_at.timestamp()));
    item
}

fn stored_course(item: &Item) -> Option<StoredCourse> {
    Some(StoredCourse {
        id: get_s(item, keys::SK)?.to_owned(),
        source: get_s(item, "source")?.to_owned(),
        added_at: DateTime::from_timestamp(get_n(item, "added_at").unwrap_or(0), 0)
            .unwrap_or_default(),
    })
}

pub async fn put(inner: &Inner, course: &StoredCourse) -> Result<(), DynamoError> {
    inner
        .client
        .put_item()
        .table_name(&inner.table)
        .set_item(Some(course_item(course)))
        .send()
        .await
        .map_err(|e| inner.error("PutItem", e))?;
    Ok(())
}

pub async fn list(inner: &Inner) -> Result<Vec<StoredCourse>, DynamoError> {
    let items = query_partition(inner, None, keys::PK, COURSE_PK, None).await?;
    Ok(items.iter().filter_map(stored_course).collect())
}

pub async fn get(inner: &Inner, id: &str) -> Result<Option<StoredCourse>, DynamoError> {
    let out = inner
        .client
        .get_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(COURSE_PK, id)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| inner.error("GetItem", e))?;
    Ok(out.item.as_ref().and_then(stored_course))
}

pub async fn remove(inner: &Inner, id: &str) -> Result<bool, DynamoError> {
    let out = inner
        .client
        .delete_item()
        .table_name(&inner.table)
        .set_key(Some(item_key(COURSE_PK, id)))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .map_err(|e| inner.error("DeleteItem", e))?;
    Ok(out.attributes().is_some_and(|a| !a.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_course_item_reads_back() {
        let course = StoredCourse {
            id: "cloud-2026".into(),
            source: "id = \"cloud-2026\"\n".into(),
            added_at: DateTime::from_timestamp(1_760_000_000, 0).unwrap_or_default(),
        };
        assert_eq!(stored_course(&course_item(&course)), Some(course));
    }
}
