//! The texts an event holds by id (schema 46): its user and role
//! (`user_names`), service (`service_names`) and eventName (`event_names`),
//! named in Rust for the reads that name many rows — pages, exports, a
//! class's hits — where a subquery per column per row (`user!` and the
//! others, ~0.2 µs each) took a quarter of an export's time.

use std::collections::hash_map::Entry;
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

/// The names one read has met, each looked up once. Names are never changed
/// nor deleted, so a cache is right for as long as it lives; it lives for one
/// read (a page, a class's hits), as the names a writer adds meanwhile are
/// looked up when first met.
#[derive(Default)]
pub struct NameCache {
    texts: FxHashMap<(Names, i64), Arc<str>>,
    /// A service's own `eventSource` (`SERVICE.amazonaws.com`, or empty for
    /// an empty service), by the service's id.
    sources: FxHashMap<i64, Arc<str>>,
}

impl NameCache {
    /// The text of `id` in `names`, looked up if not met yet.
    pub fn named(
        &mut self,
        conn: &Connection,
        names: Names,
        id: i64,
    ) -> rusqlite::Result<Arc<str>> {
        self.ensure(conn, names, id)?;
        Ok(self.texts[&(names, id)].clone())
    }

    /// Looks the text of `id` in `names` up, if not met yet: [`Self::text`]
    /// then has it.
    pub fn ensure(&mut self, conn: &Connection, names: Names, id: i64) -> rusqlite::Result<()> {
        if let Entry::Vacant(slot) = self.texts.entry((names, id)) {
            let text: String = conn
                .prepare_cached(names.select())?
                .query_row([id], |r| r.get(0))?;
            slot.insert(Arc::from(text));
        }
        Ok(())
    }

    /// Looks up the `eventSource` of a service's own calls, if not met yet:
    /// [`Self::source`] then has it.
    pub fn ensure_source(&mut self, conn: &Connection, service: i64) -> rusqlite::Result<()> {
        if !self.sources.contains_key(&service) {
            self.ensure(conn, Names::Service, service)?;
            let name = self.text(Names::Service, service);
            let source = if name.is_empty() {
                String::new()
            } else {
                format!("{name}.amazonaws.com")
            };
            self.sources.insert(service, Arc::from(source));
        }
        Ok(())
    }

    /// The text of `id` in `names`, met before ([`Self::ensure`]); empty if not.
    pub fn text(&self, names: Names, id: i64) -> &str {
        self.texts.get(&(names, id)).map_or("", |t| t)
    }

    /// The `eventSource` of the service `service`'s own calls, met before
    /// ([`Self::ensure_source`]); empty if not.
    pub fn source(&self, service: i64) -> &str {
        self.sources.get(&service).map_or("", |t| t)
    }
}
