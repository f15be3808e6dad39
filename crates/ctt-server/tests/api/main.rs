//! The REST API end to end: the router through `tower::ServiceExt::oneshot`,
//! and a real server on a free port (`spawn_app`), over a fresh SQLite store.
//!
//! - `routes`: every route answers, in the original's shapes; 404, 405, docs.
//! - `parameters`: every time format, param encoding, count spelling; every
//!   400 names its parameter.
//! - `paging`: pages return every event exactly once, even while loading;
//!   NDJSON and CSV exports equal the pages.
//! - `stats`: groups add up to the count.
//! - `access`: tokens, roles (admin, viewer, self), 401 and 403.
//! - `original`: the original system's documented queries on generated data,
//!   against counts computed here from the log files.
//! - `server`: a real socket: compression, CORS, timeouts, metrics.
//! - `openapi`: the document is complete and every `$ref` resolves.
//! - `security`: an open server answers only loopback (and configured) hosts;
//!   `nosniff` and a CSP on every response; JSON on every API error; what
//!   hyper refuses itself (oversized URIs and heads).

mod access;
mod openapi;
mod original;
mod paging;
mod parameters;
mod routes;
mod security;
mod server;
mod stats;
mod support;
