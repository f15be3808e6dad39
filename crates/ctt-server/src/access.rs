//! The store, as handlers reach it: always on behalf of someone (SPEC §7).
//!
//! [`AppState`](crate::AppState) holds the store inside a [`StoreAccess`] whose
//! field is private to this module, so no handler — API, portal or Lambda —
//! can read the store directly. A handler takes a [`ScopedStore`] (an axum
//! extractor built from the caller's [`Identity`]) and every read goes through
//! it: event queries are narrowed to the caller's own user for role `self`,
//! single events and catalog entries of other users are hidden, and what is
//! only for operators (the store's totals) asks for an operator.
//!
//! An unscoped read therefore cannot be written by mistake: it does not
//! compile. The test `tests/api/scoping.rs` walks every route of the OpenAPI
//! document and every portal page as a `self` user and checks that nothing of
//! another user comes back.
//!
//! What role `self` sees of the catalog:
//! - users: itself only (when it has been seen);
//! - services: only those its own events used, with its own counts and dates;
//! - parameters: the names seen that are typed attributes or indexed
//!   parameters (fixed by configuration, not by anyone's data): names
//!   flattened from other users' records (tag keys, environment names) are
//!   user data and are not listed.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use ctt_core::course::{ClassProgress, Course, StudentScore, TimelineDay, Window};
use ctt_core::query::{Cursor, Format, MAX_LIMIT};
use ctt_core::resources::PriceTable;
use ctt_core::{EventQuery, EventSummary, GroupBy, Scope};
use ctt_store::{
    Alert, AlertQuery, CatalogEntry, EventDetail, EventPage, EventStore, GroupCount,
    IntegritySummary, PageLayout, Resource, ResourceFilter, ResourceQuery, ResourceTouches,
    StoreResult, StoreStatus, UserBaseline, WrittenPage,
};

/// Events from log files that are not valid: event ID → the file's status.
pub type Marks = std::collections::HashMap<String, String>;

use crate::{ApiError, AppState, Identity};

/// The store of an [`AppState`]: reachable only through [`StoreAccess::scoped`]
/// (and the public totals of [`StoreAccess::health`]).
#[derive(Clone)]
pub struct StoreAccess {
    store: Arc<dyn EventStore>,
}

impl StoreAccess {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    /// The store as `identity` may see it.
    pub fn scoped(&self, identity: &Identity) -> ScopedStore {
        ScopedStore {
            store: Arc::clone(&self.store),
            identity: identity.clone(),
        }
    }

    /// Totals for `/health` (public: counts of events and files, no user data).
    pub async fn health(&self) -> StoreResult<StoreStatus> {
        self.store.status().await
    }

    /// What verifications found, for `/health` (which shows counts only).
    pub async fn integrity(&self) -> StoreResult<IntegritySummary> {
        self.store.integrity().await
    }

    /// The notification outbox's counts, for `/health`; `None` when the store
    /// keeps none.
    pub async fn outbox_counts(&self) -> StoreResult<Option<ctt_store::OutboxCounts>> {
        match self.store.outbox() {
            Some(outbox) => outbox.outbox_counts().await.map(Some),
            None => Ok(None),
        }
    }
}

/// The store as one caller may see it. Cheap to clone.
#[derive(Clone)]
pub struct ScopedStore {
    store: Arc<dyn EventStore>,
    identity: Identity,
}

impl FromRequestParts<AppState> for ScopedStore {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let identity = Identity::from_request_parts(parts, state).await?;
        Ok(state.store.scoped(&identity))
    }
}

impl ScopedStore {
    /// Who the reads are for.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether this caller sees every user (not role `self`).
    pub fn sees_everyone(&self) -> bool {
        self.identity.only_user().is_none()
    }

    /// `query`, narrowed to what the caller may see.
    fn narrow(&self, query: &EventQuery) -> EventQuery {
        let mut query = query.clone();
        self.identity.restrict(&mut query);
        query
    }

    /// One page of matching events.
    pub async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage> {
        self.store.events(&self.narrow(query), limit, cursor).await
    }

    /// One page of matching events, serialised.
    pub async fn events_written(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
        layout: PageLayout,
    ) -> StoreResult<WrittenPage> {
        self.store
            .events_written(&self.narrow(query), limit, cursor, layout)
            .await
    }

    /// The number of matching events.
    pub async fn count(&self, query: &EventQuery) -> StoreResult<u64> {
        self.store.count(&self.narrow(query)).await
    }

    /// Matching events counted by group.
    pub async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        self.store.stats(&self.narrow(query), group_by, limit).await
    }

    /// The whole result of `query` as a streamed NDJSON or CSV body.
    pub fn export(&self, query: &EventQuery, cursor: Option<Cursor>, format: Format) -> Response {
        crate::api::export::response(self.clone(), self.narrow(query), cursor, format)
    }

    /// One event with its record; `None` when it is another user's.
    pub async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>> {
        Ok(self
            .store
            .event(event_id)
            .await?
            .filter(|detail| self.identity.may_see_user(&detail.summary.user)))
    }

    /// Users this caller may see, by name.
    pub async fn users(&self) -> StoreResult<Vec<CatalogEntry>> {
        Ok(self
            .store
            .users()
            .await?
            .into_iter()
            .filter(|entry| self.identity.may_see_user(&entry.name))
            .collect())
    }

    /// The catalog entry of `user`, if this caller may see it.
    pub async fn user(&self, user: &str) -> StoreResult<Option<CatalogEntry>> {
        Ok(self.users().await?.into_iter().find(|e| e.name == user))
    }

    /// Names of the services this caller may see, sorted.
    pub async fn service_names(&self) -> StoreResult<Vec<String>> {
        match self.identity.only_user() {
            None => Ok(self
                .store
                .services()
                .await?
                .into_iter()
                .map(|e| e.name)
                .collect()),
            Some(user) => {
                let mut names: Vec<String> = self
                    .own_services(user)
                    .await?
                    .into_iter()
                    .map(|g| g.key)
                    .collect();
                names.sort();
                Ok(names)
            }
        }
    }

    /// Services this caller may see, by name. For role `self`: those its own
    /// events used, with its own counts, first and last events.
    pub async fn services(&self) -> StoreResult<Vec<CatalogEntry>> {
        let Some(user) = self.identity.only_user() else {
            return self.store.services().await;
        };
        let Some(history) = self.own_history(user).await? else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        for group in self.own_services(user).await? {
            let query = EventQuery {
                scope: Scope::Service(group.key.clone()),
                ..history.clone()
            };
            let first = self.events(&query, 1, None).await?.events;
            let last = self.latest(&query, group.count, 1).await?;
            let (Some(first), Some(last)) = (first.first(), last.first()) else {
                continue; // loaded meanwhile: shown at the next request
            };
            entries.push(CatalogEntry {
                name: group.key,
                events: group.count,
                first_seen: event_time(first),
                last_seen: event_time(last),
            });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The services of `user`'s events, with their counts.
    async fn own_services(&self, user: &str) -> StoreResult<Vec<GroupCount>> {
        let Some(query) = self.own_history(user).await? else {
            return Ok(Vec::new());
        };
        self.store.stats(&query, GroupBy::Service, MAX_LIMIT).await
    }

    /// All of `user`'s events: the window from its first to its last event
    /// (`None` when it has none).
    async fn own_history(&self, user: &str) -> StoreResult<Option<EventQuery>> {
        Ok(self.user(user).await?.map(|entry| EventQuery {
            only_user: Some(user.to_owned()),
            ..EventQuery::between(entry.first_seen, entry.last_seen)
        }))
    }

    /// Parameter names usable in `param`, sorted. Role `self` is listed the
    /// typed attributes and indexed parameters only (see the module's notes).
    pub async fn parameters(&self) -> StoreResult<Vec<String>> {
        let names = self.store.parameters().await?;
        if self.sees_everyone() {
            return Ok(names);
        }
        let indexed = self.store.indexed_parameters();
        Ok(names
            .into_iter()
            .filter(|name| {
                EventSummary::COLUMNS.contains(&name.as_str()) || indexed.iter().any(|i| i == name)
            })
            .collect())
    }

    /// The parameters the store indexes (configuration, not data).
    pub fn indexed_parameters(&self) -> &[String] {
        self.store.indexed_parameters()
    }

    /// The time of the latest event this caller may see, if any.
    pub async fn last_event_time(&self) -> StoreResult<Option<DateTime<Utc>>> {
        match self.identity.only_user() {
            None => Ok(self.store.status().await?.last_event_time),
            Some(user) => Ok(self.user(user).await?.map(|e| e.last_seen)),
        }
    }

    /// What verifications found (SPEC §14). Counts are for everyone; the
    /// flagged files' keys are for operators only.
    pub async fn integrity(&self) -> StoreResult<IntegritySummary> {
        let mut summary = self.store.integrity().await?;
        if self.identity.require_operator().is_err() {
            for file in &mut summary.flagged {
                file.key.clear();
            }
        }
        Ok(summary)
    }

    /// Which of `events` (already read through this scope) came from a log
    /// file that is not valid, with its status, by event ID.
    pub async fn integrity_marks(&self, events: &[EventSummary]) -> StoreResult<Marks> {
        if events.is_empty() {
            return Ok(Marks::new());
        }
        let ids = events.iter().map(|e| e.event_id.clone()).collect();
        self.store.integrity_marks(ids).await
    }

    /// Alerts as `query` selects; role `self`, those on its own events only.
    pub async fn alerts(&self, query: &AlertQuery) -> StoreResult<Vec<Alert>> {
        let mut query = query.clone();
        if let Some(own) = self.identity.only_user() {
            if query.user.as_deref().is_some_and(|asked| asked != own) {
                return Ok(Vec::new());
            }
            query.user = Some(own.to_owned());
        }
        self.store.alerts(&query).await
    }

    /// The page of resources `query` selects (SPEC §11), priced: role `self`
    /// sees only what it owns (created).
    pub async fn resources(
        &self,
        mut query: ResourceQuery,
        prices: &PriceTable,
    ) -> StoreResult<Vec<Resource>> {
        if let Some(own) = self.identity.only_user() {
            if query
                .filter
                .user
                .as_deref()
                .is_some_and(|asked| asked != own)
            {
                return Ok(Vec::new());
            }
            query.filter.user = Some(own.to_owned());
        }
        let page = self.store.resources(&query).await?;
        Ok(page.into_iter().map(|r| r.priced(prices)).collect())
    }

    /// How many resources are running at `at` and their estimated cost
    /// (SPEC §11, the dashboard's "left running"): everyone's summed by the
    /// store by type and size; role `self`'s from its own resources.
    pub async fn running(&self, at: DateTime<Utc>, prices: &PriceTable) -> StoreResult<(u64, f64)> {
        let groups = if let Some(own) = self.identity.only_user() {
            let query = ResourceQuery::all(ResourceFilter::open_at(Some(own.to_owned()), at));
            ctt_store::resources::running_groups(self.store.resources(&query).await?)
        } else {
            self.store.running_groups(at).await?
        };
        Ok(groups.iter().fold((0, 0.0), |(count, cost), g| {
            let hours = g.running_seconds as f64 / 3600.0;
            let priced = prices.estimate(&g.kind, g.size.as_deref(), hours);
            (count + g.resources, cost + priced.unwrap_or_default())
        }))
    }

    /// [`ScopedStore::resources`] for several filters at once, the touches
    /// read once: a course page asks for each lab's end.
    pub async fn resources_each(
        &self,
        filters: &[ResourceFilter],
        prices: &PriceTable,
    ) -> StoreResult<Vec<Vec<Resource>>> {
        let own = self.identity.only_user();
        let touches = self.store.resource_touches(own).await?;
        Ok(filters
            .iter()
            .map(|filter| {
                let mut filter = filter.clone();
                if let Some(own) = own {
                    if filter.user.as_deref().is_some_and(|asked| asked != own) {
                        return Vec::new();
                    }
                    filter.user = Some(own.to_owned());
                }
                ctt_store::resources::select(touches.clone(), &filter, prices)
            })
            .collect())
    }

    /// The resources of type `kind` and id `id` (one per region and account
    /// that has one), each with its touches, as they stood at `at`; role
    /// `self` sees only those it owns.
    pub async fn resource(
        &self,
        kind: &str,
        id: &str,
        at: DateTime<Utc>,
        prices: &PriceTable,
    ) -> StoreResult<Vec<(Resource, Vec<ctt_core::resources::Touch>)>> {
        let own = self.identity.only_user();
        let touches = self.store.resource_touches(own).await?;
        let wanted: Vec<ResourceTouches> = touches
            .into_iter()
            .filter(|r| r.kind == kind && r.id == id)
            .collect();
        let filter = ResourceFilter {
            user: own.map(str::to_owned),
            state: None,
            kind: Some(kind.to_owned()),
            at,
        };
        let selected = ctt_store::resources::select(wanted.clone(), &filter, prices);
        Ok(selected
            .into_iter()
            .map(|r| {
                let mut touches = wanted
                    .iter()
                    .find(|w| w.region == r.region && w.account == r.account)
                    .map(|w| w.touches.clone())
                    .unwrap_or_default();
                touches.retain(|t| t.time <= at);
                touches.sort_by(|a, b| (a.time, &a.event_id).cmp(&(b.time, &b.event_id)));
                (r, touches)
            })
            .collect())
    }

    /// How many alerts `query` selects, as [`ScopedStore::alerts`] would.
    pub async fn count_alerts(&self, query: &AlertQuery) -> StoreResult<u64> {
        let mut query = query.clone();
        if let Some(own) = self.identity.only_user() {
            if query.user.as_deref().is_some_and(|asked| asked != own) {
                return Ok(0);
            }
            query.user = Some(own.to_owned());
        }
        self.store.count_alerts(&query).await
    }

    /// The alert `id`, if stored and (role `self`) on its own events.
    pub async fn alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        let alert = self.store.alert(id).await?;
        Ok(match self.identity.only_user() {
            Some(own) => alert.filter(|a| a.user == own),
            None => alert,
        })
    }

    /// `user`'s baseline (SPEC §13), if this identity may see that user;
    /// `None` as well from a store that does not keep baselines.
    pub async fn user_baseline(&self, user: &str) -> StoreResult<Option<UserBaseline>> {
        if !self.identity.may_see_user(user) {
            return Ok(None);
        }
        match self.store.user_baseline(user).await {
            Err(ctt_store::StoreError::Unsupported(_)) => Ok(None),
            other => other,
        }
    }

    /// The store's totals and latest file: operators only (`/metrics`).
    pub async fn status(&self) -> Result<StoreStatus, ApiError> {
        self.identity.require_operator()?;
        Ok(self.store.status().await?)
    }

    /// The `n` latest events of `query` (which holds `total`), newest first.
    ///
    /// Stores answer in time order, from the start: this narrows the start by
    /// halves with counts until the tail holds at least `n` events and few
    /// enough to read in one page — a handful of index-range counts.
    pub async fn latest(
        &self,
        query: &EventQuery,
        total: u64,
        n: u32,
    ) -> StoreResult<Vec<EventSummary>> {
        const TAIL: u64 = 500;
        if total == 0 || n == 0 {
            return Ok(Vec::new());
        }
        let mut tail = self.narrow(query);
        let mut in_tail = total;
        let mut high = query.to + Duration::seconds(1);
        while in_tail > TAIL && high - tail.from > Duration::seconds(1) {
            let middle = tail.from + (high - tail.from) / 2;
            let candidate = EventQuery {
                from: middle,
                ..tail.clone()
            };
            let count = self.store.count(&candidate).await?;
            if count >= u64::from(n) {
                tail = candidate;
                in_tail = count;
            } else {
                high = middle;
            }
        }
        let limit = u32::try_from(in_tail)
            .unwrap_or(MAX_LIMIT)
            .clamp(1, MAX_LIMIT);
        let page = self.store.events(&tail, limit, None).await?;
        Ok(page.events.into_iter().rev().take(n as usize).collect())
    }
}

/// Courses (SPEC §10), as the caller may see them: role `self` sees only the
/// courses it is a student of, only its own row of a class, only its own
/// student page, and its own line for the band (a class of one).
impl ScopedStore {
    /// Every course this caller may see, by id.
    pub async fn courses(&self) -> StoreResult<Vec<Course>> {
        let mut courses = Vec::new();
        for stored in self.store.courses().await? {
            if let Some(course) = self.course(&stored.id).await? {
                courses.push(course);
            }
        }
        Ok(courses)
    }

    /// The course `id`, if this caller may see it.
    pub async fn course(&self, id: &str) -> StoreResult<Option<Course>> {
        let course = ctt_store::course::find(self.store.as_ref(), id).await?;
        Ok(course.filter(|c| {
            self.identity
                .only_user()
                .is_none_or(|user| c.students.includes(user))
        }))
    }

    /// The class's progress (role `self`: its own row only).
    pub async fn course_progress(
        &self,
        course: &Course,
        window: &Window,
    ) -> StoreResult<ClassProgress> {
        let only = self.identity.only_user();
        ctt_store::course::progress(self.store.as_ref(), course, window, only).await
    }

    /// One student's progress, if they are a student of `course` this caller
    /// may see.
    pub async fn course_student(
        &self,
        course: &Course,
        window: &Window,
        user: &str,
    ) -> StoreResult<Option<StudentScore>> {
        if !self.identity.may_see_user(user) || !course.students.includes(user) {
            return Ok(None);
        }
        ctt_store::course::student(self.store.as_ref(), course, window, user)
            .await
            .map(Some)
    }

    /// The class band for each day (role `self`: its own completion).
    pub async fn course_timeline(
        &self,
        course: &Course,
        window: &Window,
    ) -> StoreResult<Vec<TimelineDay>> {
        let only = self.identity.only_user();
        ctt_store::course::band(self.store.as_ref(), course, window, only).await
    }
}

fn event_time(event: &EventSummary) -> DateTime<Utc> {
    ctt_core::time::parse_event_time(&event.event_time).unwrap_or_default()
}
