//! Resources (SPEC §11): which records create, stop, start and delete which
//! resources, and the lifecycle those changes make.
//!
//! ```text
//! record ──► Catalogue::changes ──► [Change]      (one record, several resources)
//! a resource's changes, any order ──► Lifecycle::of ──► state, owner, hours
//! ```
//!
//! The catalogue is data ([`catalogue.toml`](../../src/resources/catalogue.toml),
//! extendable in the configuration), not code. A lifecycle is a function of the
//! *set* of a resource's changes: they are sorted by time, then eventID, before
//! they are folded, so the order files were loaded in never matters.

use std::collections::HashMap;

mod prices;
pub use prices::{BUILTIN_PRICES, PriceOverrides, PriceTable};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The built-in catalogue's text.
pub const BUILTIN_CATALOGUE: &str = include_str!("catalogue.toml");

/// What an event does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Stop,
    Start,
    Delete,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Create => "create",
            ChangeKind::Stop => "stop",
            ChangeKind::Start => "start",
            ChangeKind::Delete => "delete",
        }
    }

    /// What [`ChangeKind::as_str`] wrote.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Create, Self::Stop, Self::Start, Self::Delete]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// Events of one kind and where their records hold the resource's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventIds {
    /// `eventName`s.
    pub events: Vec<String>,
    /// Dotted paths; the first that yields an id is used.
    pub ids: Vec<String>,
}

/// A resource type of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceType {
    /// Its key: `ec2:instance`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For people: `EC2 instance`.
    pub name: String,
    /// The `eventSource` of its events.
    pub source: String,
    /// Where a create event says the size its price depends on.
    #[serde(default)]
    pub size: Option<String>,
    /// Ids written as ARNs are reduced to the resource's name.
    #[serde(default)]
    pub id_from_arn: bool,
    #[serde(default)]
    pub create: Vec<EventIds>,
    #[serde(default)]
    pub delete: Vec<EventIds>,
    #[serde(default)]
    pub stop: Vec<EventIds>,
    #[serde(default)]
    pub start: Vec<EventIds>,
}

impl ResourceType {
    fn kinds(&self) -> [(ChangeKind, &[EventIds]); 4] {
        [
            (ChangeKind::Create, &self.create),
            (ChangeKind::Stop, &self.stop),
            (ChangeKind::Start, &self.start),
            (ChangeKind::Delete, &self.delete),
        ]
    }
}

/// A catalogue that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("the resource catalogue is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("resource type `{0}`: {1}")]
    Invalid(String, String),
}

/// Where an event is in the catalogue: its type, what it does, and which
/// entry of that kind says where its ids are.
#[derive(Debug, Clone, Copy)]
struct EventEntry {
    resource_type: usize,
    change: ChangeKind,
    entry: usize,
}

/// The resource types, indexed by `eventSource`, then `eventName` (looked up
/// by `&str`, without allocating: every stored event is looked up).
#[derive(Debug, Clone)]
pub struct Catalogue {
    types: Vec<ResourceType>,
    by_event: HashMap<String, HashMap<String, Vec<EventEntry>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    types: Vec<ResourceType>,
}

/// One resource an event changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Change {
    /// The resource type's key.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub change: ChangeKind,
    /// The size the create event asked for (`t2.micro`, `db.t3.micro`, `8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Self {
        Self::from_toml(BUILTIN_CATALOGUE).expect("the built-in catalogue is valid")
    }

    /// A catalogue from its TOML text (`[[types]]`).
    pub fn from_toml(text: &str) -> Result<Self, CatalogueError> {
        let file: CatalogueFile = toml::from_str(text)?;
        Self::new(file.types)
    }

    /// The built-in catalogue with `extra` added: a type with the key of a
    /// built-in one replaces it.
    pub fn builtin_with(extra: Vec<ResourceType>) -> Result<Self, CatalogueError> {
        let mut types: Vec<ResourceType> = Self::builtin().types;
        for t in extra {
            match types.iter_mut().find(|b| b.kind == t.kind) {
                Some(known) => *known = t,
                None => types.push(t),
            }
        }
        Self::new(types)
    }

    /// A catalogue of `types` only (`[resources] builtin = false`): may be
    /// empty, and then no event touches a resource.
    pub fn of_types(types: Vec<ResourceType>) -> Result<Self, CatalogueError> {
        Self::new(types)
    }

    fn new(types: Vec<ResourceType>) -> Result<Self, CatalogueError> {
        let mut by_event: HashMap<String, HashMap<String, Vec<EventEntry>>> = HashMap::new();
        for (t, rt) in types.iter().enumerate() {
            let invalid = |why: &str| CatalogueError::Invalid(rt.kind.clone(), why.to_owned());
            if rt.kind.is_empty() || rt.source.is_empty() {
                return Err(invalid("`type` and `source` must not be empty"));
            }
            if rt.create.is_empty() && rt.delete.is_empty() {
                return Err(invalid("needs at least a `create` or a `delete`"));
            }
            for (kind, specs) in rt.kinds() {
                for (s, spec) in specs.iter().enumerate() {
                    if spec.events.is_empty() || spec.ids.is_empty() {
                        return Err(invalid("each entry needs `events` and `ids`"));
                    }
                    for event in &spec.events {
                        by_event
                            .entry(rt.source.clone())
                            .or_default()
                            .entry(event.clone())
                            .or_default()
                            .push(EventEntry {
                                resource_type: t,
                                change: kind,
                                entry: s,
                            });
                    }
                }
            }
        }
        Ok(Self { types, by_event })
    }

    fn entries(&self, event_source: &str, event_name: &str) -> Option<&Vec<EventEntry>> {
        self.by_event.get(event_source)?.get(event_name)
    }

    pub fn types(&self) -> &[ResourceType] {
        &self.types
    }

    /// The type of key `kind`.
    pub fn get(&self, kind: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.kind == kind)
    }

    /// Whether an event of this source and name may change a resource (so
    /// most records are never looked into).
    pub fn concerns(&self, event_source: &str, event_name: &str) -> bool {
        self.entries(event_source, event_name).is_some()
    }

    /// The resources `record` changes. A failed call (`errorCode`) changes
    /// nothing (SPEC §11).
    pub fn changes(&self, record: &Value) -> Vec<Change> {
        let text = |key: &str| record.get(key).and_then(Value::as_str);
        if record.get("errorCode").is_some_and(|e| !e.is_null()) {
            return Vec::new();
        }
        let (Some(source), Some(name)) = (text("eventSource"), text("eventName")) else {
            return Vec::new();
        };
        let Some(entries) = self.entries(source, name) else {
            return Vec::new();
        };
        let mut out: Vec<Change> = Vec::new();
        for &EventEntry {
            resource_type,
            change: kind,
            entry,
        } in entries
        {
            let rt = &self.types[resource_type];
            let spec = &rt.kinds()[kind_index(kind)].1[entry];
            let ids = spec
                .ids
                .iter()
                .map(|path| texts_at(record, path))
                .find(|ids| !ids.is_empty())
                .unwrap_or_default();
            let size = match (&rt.size, kind) {
                (Some(path), ChangeKind::Create) => texts_at(record, path).into_iter().next(),
                _ => None,
            };
            for id in ids {
                let id = if rt.id_from_arn {
                    name_of_arn(&id).to_owned()
                } else {
                    id
                };
                let change = Change {
                    kind: rt.kind.clone(),
                    id,
                    change: kind,
                    size: size.clone(),
                };
                if !out.contains(&change) {
                    out.push(change);
                }
            }
        }
        out
    }
}

fn kind_index(kind: ChangeKind) -> usize {
    match kind {
        ChangeKind::Create => 0,
        ChangeKind::Stop => 1,
        ChangeKind::Start => 2,
        ChangeKind::Delete => 3,
    }
}

/// The texts at a dotted `path` of `value`: through every element of a list
/// on the way; strings and numbers at its end (a list there: each of them).
pub fn texts_at(value: &Value, path: &str) -> Vec<String> {
    fn walk(value: &Value, path: &[&str], out: &mut Vec<String>) {
        match (value, path.split_first()) {
            (Value::Array(items), _) => items.iter().for_each(|i| walk(i, path, out)),
            (Value::String(s), None) if !s.is_empty() => out.push(s.clone()),
            (Value::Number(n), None) => out.push(n.to_string()),
            (Value::Object(map), Some((key, rest))) => {
                if let Some(next) = map.get(*key) {
                    walk(next, rest, out);
                }
            }
            _ => {}
        }
    }
    let segments: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    walk(value, &segments, &mut out);
    out
}

/// The resource's name in an ARN (`arn:aws:cloudformation:r:a:stack/NAME/uuid`
/// → `NAME`, `arn:aws:lambda:r:a:function:NAME` → `NAME`); anything else as it is.
pub fn name_of_arn(id: &str) -> &str {
    if !id.starts_with("arn:") {
        return id;
    }
    // arn:partition:service:region:account:resource
    let Some(resource) = id.splitn(6, ':').nth(5) else {
        return id;
    };
    let mut parts = resource.split(['/', ':']);
    match (parts.next(), parts.next()) {
        (Some(_kind), Some(name)) if !name.is_empty() => name,
        (Some(only), None) => only,
        _ => id,
    }
}

/// Where a resource stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Stopped,
    Deleted,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => State::Running,
            "stopped" => State::Stopped,
            "deleted" => State::Deleted,
            _ => return None,
        })
    }

    /// `running` or `stopped`: still there, maybe still costing.
    pub fn is_open(self) -> bool {
        self != State::Deleted
    }
}

/// One stored event's change to one resource: what a lifecycle is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    pub time: DateTime<Utc>,
    pub event_id: String,
    pub user: String,
    pub change: ChangeKind,
    pub size: Option<String>,
}

/// A resource's lifecycle at a time: a function of its touches up to then.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lifecycle {
    pub state: State,
    /// The creator (`None`: created before the history).
    pub owner: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub deleted: Option<DateTime<Utc>>,
    pub deleted_by: Option<String>,
    /// The size its create event asked for.
    pub size: Option<String>,
    /// Seconds spent running, from a known create or start to a stop, a
    /// delete or the time asked.
    pub running_seconds: i64,
    /// The last touch counted.
    pub last_change: DateTime<Utc>,
}

impl Lifecycle {
    /// The lifecycle `touches` make by `at` (`None`: no touch by then).
    /// Sorted by time, then eventID, first: any order in, one answer out.
    pub fn of(touches: &[Touch], at: DateTime<Utc>) -> Option<Lifecycle> {
        let mut sorted: Vec<&Touch> = touches.iter().filter(|t| t.time <= at).collect();
        sorted.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
        let first = sorted.first()?;
        let mut life = Lifecycle {
            state: State::Running,
            owner: None,
            created: None,
            deleted: None,
            deleted_by: None,
            size: None,
            running_seconds: 0,
            last_change: first.time,
        };
        // Running since (known only from a create or a start).
        let mut since: Option<DateTime<Utc>> = None;
        let stop_clock =
            |since: &mut Option<DateTime<Utc>>, life: &mut Lifecycle, t: DateTime<Utc>| {
                if let Some(s) = since.take() {
                    life.running_seconds += (t - s).num_seconds().max(0);
                }
            };
        for touch in sorted {
            life.last_change = touch.time;
            match touch.change {
                ChangeKind::Create => {
                    if life.state == State::Deleted {
                        // The same name created again (a bucket, a stack): a
                        // new resource, whose life starts here.
                        life.deleted = None;
                        life.deleted_by = None;
                        life.created = None;
                        life.running_seconds = 0;
                    }
                    if life.created.is_none() {
                        life.created = Some(touch.time);
                        life.owner = Some(touch.user.clone());
                        life.size = touch.size.clone();
                    }
                    life.state = State::Running;
                    since.get_or_insert(touch.time);
                }
                ChangeKind::Start if life.state != State::Deleted => {
                    life.state = State::Running;
                    since.get_or_insert(touch.time);
                }
                ChangeKind::Stop if life.state != State::Deleted => {
                    stop_clock(&mut since, &mut life, touch.time);
                    life.state = State::Stopped;
                }
                ChangeKind::Delete if life.state != State::Deleted => {
                    stop_clock(&mut since, &mut life, touch.time);
                    life.state = State::Deleted;
                    life.deleted = Some(touch.time);
                    life.deleted_by = Some(touch.user.clone());
                }
                // A start, stop or delete of a deleted resource: ignored.
                _ => {}
            }
        }
        stop_clock(&mut since, &mut life, at);
        Some(life)
    }

    /// This lifecycle, folded at its last change, as it stands at `at`
    /// (not earlier than the last change): what [`Lifecycle::of`] gives at
    /// `at`, since only a running resource's clock moves between changes.
    pub fn extended_to(mut self, at: DateTime<Utc>) -> Lifecycle {
        if self.state == State::Running && at > self.last_change {
            self.running_seconds += (at - self.last_change).num_seconds();
        }
        self
    }

    /// Running hours, as shown (two decimals' worth of precision).
    pub fn running_hours(&self) -> f64 {
        self.running_seconds as f64 / 3600.0
    }
}

#[cfg(test)]
mod tests;
