//! The web portal through `tower::ServiceExt::oneshot`, over a fresh SQLite
//! store (the browser tests, in `tests/portal/`, drive the real binary).
//!
//! - `pages`: every page renders, with the numbers the API answers, links to
//!   the filtered lists, empty states, 404s and 400s as HTML.
//! - `courses`: a course's class, a student's page, role `self` (SPEC §10).
//! - `safety`: the Content-Security-Policy and other headers; strings from
//!   events (`<script>` in a user agent, `<img onerror>` in a parameter) are
//!   text, never markup.
//! - `login`: sign-in with a token, the session cookie's flags, sign-out,
//!   cross-site POSTs refused, revoked tokens, the API taking the cookie.
//! - `access`: a `self` user sees only its own events, everywhere.
//! - `jwt`: sign-in with a test issuer's JWT as viewer and as self; expired
//!   and foreign JWTs refused.

mod access;
mod courses;
mod jwt;
mod login;
mod pages;
mod safety;
mod support;
