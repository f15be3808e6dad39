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
//! - `courses`: a class scored over the API (SPEC §10), the CSV byte for byte,
//!   bad parameters named, role `self` seeing only itself.
//! - `scoping`: role `self` sees nothing of other users on any route or page
//!   (routes discovered from the OpenAPI document and the portal's table).
//! - `jwt`: JWTs of a test issuer (its JWKS on 127.0.0.1) as `viewer` and
//!   `self`; expired, foreign and forged tokens refused; key rotation.
//! - `original`: the original system's documented queries on generated data,
//!   against counts computed here from the log files.
//! - `server`: a real socket: compression, CORS, timeouts, metrics.
//! - `openapi`: the document is complete and every `$ref` resolves.
//! - `security`: an open server answers only loopback (and configured) hosts;
//!   `nosniff` and a CSP on every response; JSON on every API error; what
//!   hyper refuses itself (oversized URIs and heads).

mod access;
mod alerts;
mod courses;
mod jwt;
mod openapi;
mod original;
mod paging;
mod parameters;
mod resources;
mod routes;
mod scoping;
mod security;
mod server;
mod stats;
mod support;
