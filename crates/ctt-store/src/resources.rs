//! Resources (SPEC §11) as the stores keep them: every touch of every
//! resource, written with the event that made it; lifecycles are folded
//! when asked ([`ctt_core::resources::Lifecycle::of`]), so they never depend
//! on the order files were loaded in.

use chrono::{DateTime, Utc};
use ctt_core::resources::{Lifecycle, PriceTable, State, Touch};
use serde::Serialize;

/// Where a resource lives: the account the call was made in, and its region
/// (empty when the record does not say).
pub fn place(event: &ctt_core::Event) -> (&str, &str) {
    let account = event
        .recipient_account_id
        .as_deref()
        .or(event.account_id.as_deref())
        .unwrap_or_default();
    (account, event.aws_region.as_deref().unwrap_or_default())
}

/// One resource's touches, as a store returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTouches {
    /// The resource type's key (`ec2:instance`).
    pub kind: String,
    pub account: String,
    pub region: String,
    pub id: String,
    pub touches: Vec<Touch>,
}

/// Which resources: SPEC §11's filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFilter {
    /// Owned by (created by) this user.
    pub user: Option<String>,
    pub state: Option<StateFilter>,
    /// Of this type.
    pub kind: Option<String>,
    /// As they stood at this time.
    pub at: DateTime<Utc>,
}

/// The resources running at a time, of one type and size, summed: what the
/// dashboard's "left running" tile shows (priced by the caller: a price is
/// per hour of a type and size, so a group's cost is its hours' cost).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RunningGroup {
    pub kind: String,
    pub size: Option<String>,
    pub resources: u64,
    /// Their running seconds up to the time asked, summed.
    pub running_seconds: i64,
}

/// `lives` (as they stood at one time) grouped into [`RunningGroup`]s,
/// running ones only, in (type, size) order.
pub fn running_groups(lives: impl IntoIterator<Item = ResourceLife>) -> Vec<RunningGroup> {
    let mut groups: std::collections::BTreeMap<(String, Option<String>), (u64, i64)> =
        std::collections::BTreeMap::new();
    for life in lives {
        if life.life.state == State::Running {
            let group = groups.entry((life.kind, life.life.size)).or_default();
            group.0 += 1;
            group.1 += life.life.running_seconds;
        }
    }
    groups
        .into_iter()
        .map(
            |((kind, size), (resources, running_seconds))| RunningGroup {
                kind,
                size,
                resources,
                running_seconds,
            },
        )
        .collect()
}

impl ResourceFilter {
    /// The resources open (running or stopped) at `at`: everyone's, or
    /// `user`'s.
    pub fn open_at(user: Option<String>, at: DateTime<Utc>) -> Self {
        Self {
            user,
            state: Some(StateFilter::Open),
            kind: None,
            at,
        }
    }
}

/// `--state`: one state, or `open` (running or stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateFilter {
    Open,
    Is(State),
}

impl StateFilter {
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "open" => Self::Open,
            "running" => Self::Is(State::Running),
            "stopped" => Self::Is(State::Stopped),
            "deleted" => Self::Is(State::Deleted),
            _ => return None,
        })
    }

    fn admits(self, state: State) -> bool {
        match self {
            Self::Open => state.is_open(),
            Self::Is(s) => s == state,
        }
    }
}

/// A resource as SPEC §11 lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub region: String,
    pub account: String,
    #[serde(flatten)]
    pub life: Lifecycle,
    pub running_hours: f64,
    /// Running hours × the price table's hourly price: an estimate, never a
    /// bill; `None` when the type has no price.
    pub estimated_cost: Option<f64>,
}

/// The CSV header of SPEC §11 (`ctt resources`, `/resources?format=csv`).
pub const CSV_HEADER: [&str; 11] = [
    "type",
    "id",
    "region",
    "account",
    "owner",
    "state",
    "created",
    "deleted",
    "deleted_by",
    "running_hours",
    "estimated_cost",
];

impl Resource {
    /// Its CSV cells, in [`CSV_HEADER`]'s order: times as SPEC §5 writes
    /// them, empty when unknown; hours and cost to the cent.
    pub fn csv_row(&self) -> [String; 11] {
        let time =
            |t: Option<DateTime<Utc>>| t.map(ctt_core::time::format_event_time).unwrap_or_default();
        [
            self.kind.clone(),
            self.id.clone(),
            self.region.clone(),
            self.account.clone(),
            self.life.owner.clone().unwrap_or_default(),
            self.life.state.as_str().to_owned(),
            time(self.life.created),
            time(self.life.deleted),
            self.life.deleted_by.clone().unwrap_or_default(),
            format!("{:.2}", self.running_hours),
            self.estimated_cost
                .map(|c| format!("{c:.2}"))
                .unwrap_or_default(),
        ]
    }
}

/// A resource's place in every list: (type, id, region, account).
pub type ResourceKey = (String, String, String, String);

/// A page of resources: those `filter` selects, in list order, after
/// `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceQuery {
    pub filter: ResourceFilter,
    pub after: Option<ResourceKey>,
    pub limit: usize,
}

impl ResourceQuery {
    /// Every resource `filter` selects.
    pub fn all(filter: ResourceFilter) -> Self {
        Self {
            filter,
            after: None,
            limit: usize::MAX,
        }
    }
}

/// A resource as it stood at a query's time, before prices.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceLife {
    pub kind: String,
    pub id: String,
    pub region: String,
    pub account: String,
    pub life: Lifecycle,
}

impl ResourceLife {
    pub fn key(&self) -> ResourceKey {
        (
            self.kind.clone(),
            self.id.clone(),
            self.region.clone(),
            self.account.clone(),
        )
    }

    /// With its running hours and estimated cost from `prices`.
    pub fn priced(self, prices: &PriceTable) -> Resource {
        let running_hours = self.life.running_hours();
        let estimated_cost = prices.estimate(&self.kind, self.life.size.as_deref(), running_hours);
        Resource {
            kind: self.kind,
            id: self.id,
            region: self.region,
            account: self.account,
            life: self.life,
            running_hours,
            estimated_cost,
        }
    }
}

impl ResourceFilter {
    /// Whether a resource of type `kind` with lifecycle `life` is selected.
    pub fn admits(&self, kind: &str, life: &Lifecycle) -> bool {
        self.kind.as_deref().is_none_or(|k| k == kind)
            && (self.user.is_none() || life.owner == self.user)
            && self.state.is_none_or(|s| s.admits(life.state))
    }
}

/// The page `query` selects from every touch of `all`: each resource folded
/// at the query's time, filtered, sorted, paged. What a store without a
/// faster way answers [`crate::EventStore::resources`] with.
pub fn fold_page(all: Vec<ResourceTouches>, query: &ResourceQuery) -> Vec<ResourceLife> {
    let filter = &query.filter;
    let mut out: Vec<ResourceLife> = all
        .into_iter()
        .filter_map(|r| {
            let life = Lifecycle::of(&r.touches, filter.at)?;
            filter.admits(&r.kind, &life).then_some(ResourceLife {
                kind: r.kind,
                id: r.id,
                region: r.region,
                account: r.account,
                life,
            })
        })
        .filter(|r| query.after.as_ref().is_none_or(|after| r.key() > *after))
        .collect();
    out.sort_by(|a, b| {
        (&a.kind, &a.id, &a.region, &a.account).cmp(&(&b.kind, &b.id, &b.region, &b.account))
    });
    out.truncate(query.limit);
    out
}

/// The resources of `all` that `filter` selects, sorted by type then id
/// (then region, account), priced.
pub fn select(
    all: Vec<ResourceTouches>,
    filter: &ResourceFilter,
    prices: &PriceTable,
) -> Vec<Resource> {
    fold_page(all, &ResourceQuery::all(filter.clone()))
        .into_iter()
        .map(|r| r.priced(prices))
        .collect()
}
