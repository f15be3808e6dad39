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

/// The resources of `all` that `filter` selects, sorted by type then id
/// (then region, account).
pub fn select(
    all: Vec<ResourceTouches>,
    filter: &ResourceFilter,
    prices: &PriceTable,
) -> Vec<Resource> {
    let mut out: Vec<Resource> = all
        .into_iter()
        .filter(|r| filter.kind.as_ref().is_none_or(|k| *k == r.kind))
        .filter_map(|r| {
            let life = Lifecycle::of(&r.touches, filter.at)?;
            if filter.user.is_some() && life.owner != filter.user {
                return None;
            }
            if filter.state.is_some_and(|s| !s.admits(life.state)) {
                return None;
            }
            let running_hours = life.running_hours();
            let estimated_cost = prices.estimate(&r.kind, life.size.as_deref(), running_hours);
            Some(Resource {
                kind: r.kind,
                id: r.id,
                region: r.region,
                account: r.account,
                life,
                running_hours,
                estimated_cost,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.kind, &a.id, &a.region, &a.account).cmp(&(&b.kind, &b.id, &b.region, &b.account))
    });
    out
}
