//! Resource touches (SPEC §11) in the table, written by the ingest Lambda
//! with the events that make them and folded when asked, as SQLite does.
//!
//! | item | `pk` | `sk` |
//! |---|---|---|
//! | a touch | `R#<type>` | `<account>#<region>#<id>#<time>#<eventID>` |
//! | a type with touches | `RTYPES` | the type |
//! | a resource a user touched | `RU#<user>` | `<type>#<account>#<region>#<id>` |
//!
//! Every key is a function of the event, so concurrent Lambdas, re-runs and
//! files delivered out of order only ever add the same items again: plain
//! idempotent puts, before the file's ledger entry, and no item is ever
//! updated in place — there is no read-modify-write to lose. State is folded
//! from the touches at read time ([`ctt_core::resources::Lifecycle::of`]).
//! Reading every resource is one `Query` per type with touches; one user's
//! is one `Query` of their pointers and one per resource. No `Scan`.
//!
//! Ids are matched exactly on their attributes after a `begins_with`, so an
//! id that happens to contain `#` cannot borrow another resource's touches.

use std::collections::{BTreeMap, BTreeSet};

use ctt_core::resources::{ChangeKind, Touch};
use ctt_core::time::{format_event_time, parse_event_time};
use ctt_store::{IndexedEvent, ResourceTouches};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::items::{Item, get_s, s};
use super::write::put_all;
use super::{DynamoError, Inner, item_key, keys, read};

const TYPES_PK: &str = "RTYPES";
/// Resources of one user read at once.
const READ_CONCURRENCY: usize = 8;

fn type_pk(kind: &str) -> String {
    format!("R#{kind}")
}

fn user_pk(user: &str) -> String {
    format!("RU#{user}")
}

/// Which resource: type, account, region, id.
type Key = (String, String, String, String);

fn resource_prefix(account: &str, region: &str, id: &str) -> String {
    format!("{account}#{region}#{id}#")
}

/// The items for `events`' touches: each touch, its type, its user's pointer.
fn items_of(events: &[&IndexedEvent]) -> Vec<Item> {
    let mut items = Vec::new();
    for indexed in events {
        let event = &indexed.event;
        let (account, region) = ctt_store::resources::place(event);
        let time = format_event_time(event.event_time);
        for touch in &indexed.touches {
            let sk = format!(
                "{}{time}#{}",
                resource_prefix(account, region, &touch.id),
                event.event_id
            );
            let mut item = item_key(type_pk(&touch.kind), sk);
            for (name, value) in [
                ("kind", touch.kind.as_str()),
                ("account", account),
                ("region", region),
                ("id", touch.id.as_str()),
                ("event_time", time.as_str()),
                ("event_id", event.event_id.as_str()),
                ("user", event.user.as_str()),
                ("change", touch.change.as_str()),
            ] {
                item.insert(name.into(), s(value));
            }
            if let Some(size) = &touch.size {
                item.insert("size".into(), s(size));
            }
            items.push(item);
            items.push(item_key(TYPES_PK, touch.kind.as_str()));
            let mut pointer = item_key(
                user_pk(&event.user),
                format!("{}#{account}#{region}#{}", touch.kind, touch.id),
            );
            for (name, value) in [
                ("kind", touch.kind.as_str()),
                ("account", account),
                ("region", region),
                ("id", touch.id.as_str()),
            ] {
                pointer.insert(name.into(), s(value));
            }
            items.push(pointer);
        }
    }
    items
}

/// Stores the touches of `events` (stored or about to be).
pub async fn put(inner: &Inner, events: &[&IndexedEvent]) -> Result<(), DynamoError> {
    put_all(inner, items_of(events)).await
}

fn key_of(item: &Item) -> Option<Key> {
    Some((
        get_s(item, "kind")?.to_owned(),
        get_s(item, "account")?.to_owned(),
        get_s(item, "region")?.to_owned(),
        get_s(item, "id")?.to_owned(),
    ))
}

fn touch_of(item: &Item) -> Option<Touch> {
    Some(Touch {
        time: parse_event_time(get_s(item, "event_time")?)?,
        event_id: get_s(item, "event_id")?.to_owned(),
        user: get_s(item, "user")?.to_owned(),
        // A change this ctt does not know (a newer writer's) is left out.
        change: ChangeKind::parse(get_s(item, "change")?)?,
        size: get_s(item, "size").map(str::to_owned),
    })
}

/// Touch items grouped by resource, sorted by type, account, region, id.
fn group(items: impl IntoIterator<Item = Item>, only: Option<&Key>) -> Vec<ResourceTouches> {
    let mut by: BTreeMap<Key, Vec<Touch>> = BTreeMap::new();
    for item in items {
        let (Some(key), Some(touch)) = (key_of(&item), touch_of(&item)) else {
            continue;
        };
        if only.is_some_and(|only| *only != key) {
            continue;
        }
        by.entry(key).or_default().push(touch);
    }
    by.into_iter()
        .map(|((kind, account, region, id), touches)| ResourceTouches {
            kind,
            account,
            region,
            id,
            touches,
        })
        .collect()
}

/// Every resource's touches, or those of the resources `user` touched.
pub async fn touches(
    inner: &Inner,
    user: Option<&str>,
) -> Result<Vec<ResourceTouches>, DynamoError> {
    match user {
        None => {
            let kinds: Vec<String> = read::query_partition(inner, None, keys::PK, TYPES_PK, None)
                .await?
                .iter()
                .filter_map(|i| get_s(i, keys::SK).map(str::to_owned))
                .collect();
            let mut items = Vec::new();
            for kind in kinds {
                items.extend(
                    read::query_partition(inner, None, keys::PK, &type_pk(&kind), None).await?,
                );
            }
            Ok(group(items, None))
        }
        Some(user) => {
            let resources: BTreeSet<Key> =
                read::query_partition(inner, None, keys::PK, &user_pk(user), None)
                    .await?
                    .iter()
                    .filter_map(key_of)
                    .collect();
            let each: Vec<Vec<ResourceTouches>> = stream::iter(resources)
                .map(|key| async move {
                    let prefix = resource_prefix(&key.1, &key.2, &key.3);
                    let items = read::query_prefix(inner, &type_pk(&key.0), &prefix).await?;
                    Ok::<_, DynamoError>(group(items, Some(&key)))
                })
                .buffered(READ_CONCURRENCY)
                .try_collect()
                .await?;
            Ok(each.into_iter().flatten().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctt_core::resources::Change;

    fn event(id: &str, user: &str, touches: Vec<Change>) -> IndexedEvent {
        let record = serde_json::json!({
            "eventVersion": "1.08", "eventID": id, "eventTime": "2018-03-05T10:00:00Z",
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "awsRegion": "us-east-1", "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "userName": user},
        });
        let mut indexed = IndexedEvent::new(
            ctt_core::normalise(record).expect("normalises"),
            &[],
            &mut |_| {},
        );
        indexed.touches = touches;
        indexed
    }

    fn change(id: &str) -> Change {
        Change {
            kind: "ec2:instance".into(),
            id: id.into(),
            change: ChangeKind::Create,
            size: Some("t2.micro".into()),
        }
    }

    /// Keys are functions of the event and the resource: a touch written
    /// twice (two events in a batch, a re-run) is one item, and an id
    /// containing `#` is told apart from its neighbour when read back.
    #[test]
    fn items_are_keyed_by_event_and_resource() {
        let a = event("e-1", "alice", vec![change("i-1"), change("i-1#x")]);
        let b = event("e-1", "alice", vec![change("i-1")]);
        // As `put` sends them: each key once.
        let items = crate::dynamo::write::unique_keys(items_of(&[&a, &b]));
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|i| {
                (
                    get_s(i, keys::PK).unwrap_or_default().to_owned(),
                    get_s(i, keys::SK).unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "R#ec2:instance",
                    "111122223333#us-east-1#i-1#2018-03-05T10:00:00Z#e-1"
                ),
                ("RTYPES", "ec2:instance"),
                ("RU#alice", "ec2:instance#111122223333#us-east-1#i-1"),
                (
                    "R#ec2:instance",
                    "111122223333#us-east-1#i-1#x#2018-03-05T10:00:00Z#e-1"
                ),
                ("RU#alice", "ec2:instance#111122223333#us-east-1#i-1#x"),
            ]
            .map(|(p, s)| (p.to_owned(), s.to_owned()))
        );
        let key = (
            "ec2:instance".to_owned(),
            "111122223333".to_owned(),
            "us-east-1".to_owned(),
            "i-1".to_owned(),
        );
        let grouped = group(items.clone(), Some(&key));
        assert_eq!(grouped.len(), 1);
        assert_eq!(grouped[0].id, "i-1");
        assert_eq!(grouped[0].touches.len(), 1);
        assert_eq!(grouped[0].touches[0].size.as_deref(), Some("t2.micro"));
        assert_eq!(group(items, None).len(), 2);
    }
}
