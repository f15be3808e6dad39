//! The texts an event holds by id (schema 46): its user and role
//! (`user_names`), service (`service_names`) and eventName (`event_names`),
//! named in Rust for the reads that name many rows — pages, exports, a
//! class's hits — where a subquery per column per row (`user!` and the
//! others, ~0.2 µs each) took a quarter of an export's time.

use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

/// A table of names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Names {
    /// `user_names`: users and roles.
    User,
    /// `service_names`.
    Service,
    /// `event_names`.
    EventName,
}

impl Names {
    fn select(self) -> &'static str {
        match self {
            Names::User => "SELECT text FROM user_names WHERE id = ?1",
            Names::Service => "SELECT text FROM service_names WHERE id = ?1",
            Names::EventName => "SELECT text FROM event_names WHERE id = ?1",
        }
    }
}

/// A name [`NameCache::ensure`] has met: [`NameCache::text`] reads it
/// without looking it up again.
#[derive(Debug, Clone, Copy)]
pub struct Met(usize);

/// The names one read has met, each looked up once. Names are never changed
/// nor deleted, so a cache is right for as long as it lives; it lives for one
/// read (a page, a class's hits), as the names a writer adds meanwhile are
/// looked up when first met.
#[derive(Default)]
pub struct NameCache {
    met: FxHashMap<(Names, i64), Met>,
    /// A service's own `eventSource` (`SERVICE.amazonaws.com`, or empty for
    /// an empty service), by the service's id.
    sources: FxHashMap<i64, Met>,
    texts: Vec<Arc<str>>,
}

impl NameCache {
    /// The text of `id` in `names`, looked up if not met yet.
    pub fn named(
        &mut self,
        conn: &Connection,
        names: Names,
        id: i64,
    ) -> rusqlite::Result<Arc<str>> {
        let met = self.ensure(conn, names, id)?;
        Ok(self.texts[met.0].clone())
    }

    /// Looks the text of `id` in `names` up, if not met yet.
    pub fn ensure(&mut self, conn: &Connection, names: Names, id: i64) -> rusqlite::Result<Met> {
        if let Some(&met) = self.met.get(&(names, id)) {
            return Ok(met);
        }
        let text: String = conn
            .prepare_cached(names.select())?
            .query_row([id], |r| r.get(0))?;
        let met = self.add(Arc::from(text));
        self.met.insert((names, id), met);
        Ok(met)
    }

    /// The `eventSource` of the service `service`'s own calls, looked up if
    /// not met yet.
    pub fn ensure_source(&mut self, conn: &Connection, service: i64) -> rusqlite::Result<Met> {
        if let Some(&met) = self.sources.get(&service) {
            return Ok(met);
        }
        let name = self.ensure(conn, Names::Service, service)?;
        let source = super::own_event_source(self.text(name));
        let met = self.add(Arc::from(source));
        self.sources.insert(service, met);
        Ok(met)
    }

    /// A text met before.
    pub fn text(&self, met: Met) -> &str {
        &self.texts[met.0]
    }

    fn add(&mut self, text: Arc<str>) -> Met {
        self.texts.push(text);
        Met(self.texts.len() - 1)
    }
}
