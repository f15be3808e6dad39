//! S3 as a source of log files: `ctt ingest s3://bucket/prefix`.
//!
//! [`S3Source::list`] lists a bucket the way the CloudTrail layout allows
//! ([`layout`]): with `--from`, it descends level by level with delimiter
//! listings (accounts, organisations, regions) and then lists only the day
//! prefixes of the range; otherwise, or where the layout does not apply, it
//! lists the whole prefix. Each file's ledger key is `s3://bucket/key` and its
//! version the object's ETag, so the ledger's exactly-once rules are the local
//! folder's.
//!
//! [`follow::S3Follower`] polls today's prefixes for new files (`ctt serve
//! --follow s3://…`, driven by `ctt_ingest::follow::follow`).
//!
//! [`S3Source`] implements [`Source`] for the ingest pipeline, whose workers are
//! plain threads: `fetch` runs the request on the runtime's [`Handle`], at most
//! `max_in_flight` at once.

pub mod follow;
pub mod layout;
pub mod uri;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use chrono::{NaiveDate, Utc};
use ctt_ingest::source::{Source, SourceError, SourceFile, classify, in_date_range, in_key_order};
use futures_util::{StreamExt, TryStreamExt, stream};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

pub use uri::{S3Uri, S3UriError};

use layout::Position;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Requests in flight while listing day prefixes.
const LIST_CONCURRENCY: usize = 16;
/// Above this many days per region, a region is listed whole (one request per
/// 1,000 keys) rather than day by day (one request per day at least).
const MAX_DAYS_PER_REGION: usize = 366;
/// How many levels above `AWSLogs/` (trail prefixes) are searched for it.
const MAX_ABOVE_DEPTH: usize = 2;
/// Objects larger than this are not downloaded (the reader's default cap).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = ctt_ingest::read::DEFAULT_MAX_FILE_BYTES;

/// Why S3 could not be read.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("cannot list s3://{bucket}/{prefix}")]
    List {
        bucket: String,
        prefix: String,
        #[source]
        source: BoxError,
    },
    #[error("cannot read s3://{bucket}/{key}")]
    Get {
        bucket: String,
        key: String,
        #[source]
        source: BoxError,
    },
    #[error("s3://{bucket}/{key} is {size} bytes, above the {limit}-byte limit")]
    TooLarge {
        bucket: String,
        key: String,
        size: u64,
        limit: u64,
    },
    #[error(transparent)]
    Uri(#[from] S3UriError),
}

/// An S3 client for `sdk`: `endpoint_url` overrides its endpoint, and any custom
/// endpoint (this one, `AWS_ENDPOINT_URL[_S3]`, a profile's) is addressed
/// path-style.
pub fn client(sdk: &SdkConfig, endpoint_url: Option<&str>) -> Client {
    let env = |name: &str| std::env::var(name).ok();
    let path_style = crate::config::s3_path_style(
        endpoint_url,
        sdk.endpoint_url(),
        env("AWS_ENDPOINT_URL_S3").as_deref(),
        env("AWS_ENDPOINT_URL").as_deref(),
    );
    let mut config = aws_sdk_s3::config::Builder::from(sdk).force_path_style(path_style);
    if let Some(endpoint) = endpoint_url {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

/// The parts of a bucket's listing ([`S3Source::list_in_parts`]).
pub struct S3ListingParts {
    source: S3Source,
    bucket: String,
    /// The prefixes left to list, each with where its listing stopped.
    pending: VecDeque<(String, Option<String>)>,
    /// Met above the prefixes: in the first part.
    found: Vec<SourceFile>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    part_files: usize,
}

impl Iterator for S3ListingParts {
    type Item = Result<Vec<SourceFile>, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.found.is_empty() && self.pending.is_empty() {
            return None;
        }
        let (from, to) = (self.from, self.to);
        let mut files = std::mem::take(&mut self.found);
        files.retain(|f| in_date_range(&f.key, from, to));
        while files.len() < self.part_files && !self.pending.is_empty() {
            let round: Vec<(String, Option<String>)> = self
                .pending
                .drain(..self.pending.len().min(LIST_CONCURRENCY))
                .collect();
            let (source, bucket) = (&self.source, self.bucket.as_str());
            let part_files = self.part_files;
            let pages: Vec<_> = source.handle.block_on(
                stream::iter(round.into_iter().map(|(prefix, token)| async move {
                    let page = source.page(bucket, &prefix, token, part_files).await;
                    (prefix, page)
                }))
                .buffered(LIST_CONCURRENCY)
                .collect(),
            );
            // A prefix with more pages goes on first, in order.
            let mut more = Vec::new();
            for (prefix, page) in pages {
                match page {
                    Ok((found, next)) => {
                        files.extend(
                            found
                                .into_iter()
                                .filter(|f| in_date_range(&f.key, from, to)),
                        );
                        if let Some(token) = next {
                            more.push((prefix, Some(token)));
                        }
                    }
                    Err(e) => {
                        return Some(Err(SourceError::List {
                            location: format!("s3://{}/{prefix}", self.bucket),
                            source: Box::new(e),
                        }));
                    }
                }
            }
            for next in more.into_iter().rev() {
                self.pending.push_front(next);
            }
        }
        in_key_order(&mut files);
        Some(Ok(files))
    }
}

/// Log files in S3.
#[derive(Clone)]
pub struct S3Source {
    client: Client,
    handle: Handle,
    permits: Arc<Semaphore>,
    max_object_bytes: u64,
    /// Whether a listing by days walks the digests' day folders too.
    digests: bool,
}

impl S3Source {
    /// A source whose blocking `fetch` runs on `handle`, `max_in_flight` at once.
    pub fn new(client: Client, handle: Handle, max_in_flight: usize) -> Self {
        Self {
            client,
            handle,
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            digests: false,
        }
    }

    /// Objects above `limit` bytes fail instead of being downloaded.
    pub fn with_max_object_bytes(mut self, limit: u64) -> Self {
        self.max_object_bytes = limit;
        self
    }

    /// Listings by days (`from`) walk the digests' day folders
    /// (`…/CloudTrail-Digest/REGION/YYYY/MM/DD/`) as well as the logs': a
    /// window of days can be verified (SPEC §14) without listing every digest.
    /// A listing without days holds the digests anyway.
    pub fn with_digests(mut self) -> Self {
        self.digests = true;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The files under `location`, in key order; with `from`, only the days
    /// `from..=to` (`to` defaults to today, UTC). Keys without a date in them
    /// are kept, as for local folders.
    pub async fn list(
        &self,
        location: &S3Uri,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<SourceFile>, S3Error> {
        let bucket = location.bucket.as_str();
        let prefix = layout::normalise(&location.key);
        let mut found: BTreeMap<String, SourceFile> = BTreeMap::new();
        let prefixes = match from {
            Some(from) => {
                let to = to.unwrap_or_else(|| Utc::now().date_naive());
                let (prefixes, files) = self.plan(bucket, &prefix, from, to).await?;
                found.extend(files.into_iter().map(|f| (f.key.clone(), f)));
                prefixes
            }
            None => vec![prefix],
        };
        let listed: Vec<Vec<SourceFile>> = stream::iter(
            prefixes
                .iter()
                .map(|p| self.list_all(bucket, p))
                .collect::<Vec<_>>(),
        )
        .buffer_unordered(LIST_CONCURRENCY)
        .try_collect()
        .await?;
        found.extend(listed.into_iter().flatten().map(|f| (f.key.clone(), f)));
        Ok(found
            .into_values()
            .filter(|f| in_date_range(&f.key, from, to))
            .collect())
    }

    /// [`S3Source::list`] in parts of at least `part_files` files each (but
    /// the last), each listed when asked for, page by page, so that a load of
    /// any size holds a part of the listing at a time (see
    /// `ctt_ingest::ingest_parts`). The range's day prefixes are found first,
    /// as `list` finds them; the parts then list up to 16 of them a page (of
    /// at most `part_files` objects) at a time. Each part is in key order; together they list what `list` does.
    /// Asking for a part blocks on the runtime: ask from a blocking thread.
    pub async fn list_in_parts(
        &self,
        location: &S3Uri,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        part_files: usize,
    ) -> Result<S3ListingParts, S3Error> {
        let bucket = location.bucket.clone();
        let prefix = layout::normalise(&location.key);
        let (prefixes, found) = match from {
            Some(from) => {
                let to = to.unwrap_or_else(|| Utc::now().date_naive());
                self.plan(&bucket, &prefix, from, to).await?
            }
            None => (vec![prefix], Vec::new()),
        };
        Ok(S3ListingParts {
            source: self.clone(),
            bucket,
            pending: prefixes.into_iter().map(|p| (p, None)).collect(),
            found,
            from,
            to,
            part_files: part_files.max(1),
        })
    }

    /// One page of at most `size` objects (S3 gives 1,000 at most) under
    /// `prefix` from `token`, and the token of the next page, if any.
    async fn page(
        &self,
        bucket: &str,
        prefix: &str,
        token: Option<String>,
        size: usize,
    ) -> Result<(Vec<SourceFile>, Option<String>), S3Error> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(i32::try_from(size.min(1000)).unwrap_or(1000))
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| list_error(bucket, prefix, e))?;
        let files = out
            .contents()
            .iter()
            .filter_map(|o| source_file(bucket, o))
            .collect();
        let next = match out.next_continuation_token() {
            Some(next) if out.is_truncated() == Some(true) => Some(next.to_owned()),
            _ => None,
        };
        Ok((files, next))
    }

    /// The prefixes to list for `from..=to` under `prefix`, found by descending
    /// the layout, and the files met on the way down.
    async fn plan(
        &self,
        bucket: &str,
        prefix: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<String>, Vec<SourceFile>), S3Error> {
        let mut prefixes = Vec::new();
        let mut files = Vec::new();
        let mut frontier = vec![(prefix.to_owned(), 0usize)];
        while let Some((prefix, above)) = frontier.pop() {
            match layout::position(&prefix) {
                Position::Days { region } => {
                    let days = layout::day_prefixes(&region, &prefix, from, to);
                    if days.len() > MAX_DAYS_PER_REGION {
                        prefixes.push(prefix);
                    } else {
                        prefixes.extend(days);
                    }
                }
                Position::Elsewhere => prefixes.push(prefix),
                Position::Above if above >= MAX_ABOVE_DEPTH => prefixes.push(prefix),
                position => {
                    let (dirs, here) = self.list_level(bucket, &prefix).await?;
                    files.extend(here);
                    for dir in dirs {
                        let depth = if position == Position::Above {
                            above + 1
                        } else {
                            above
                        };
                        let wanted = match (&position, layout::position(&dir)) {
                            // Other account folders are not listed, nor
                            // the digests' unless asked for.
                            (Position::Account, p) => {
                                p == Position::Regions
                                    && (self.digests || !layout::is_digest_folder(&dir))
                            }
                            _ => true,
                        };
                        if wanted {
                            frontier.push((dir, depth));
                        }
                    }
                }
            }
        }
        prefixes.sort();
        Ok((prefixes, files))
    }

    /// The sub-folders (common prefixes) and files directly under `prefix`.
    async fn list_level(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<(Vec<String>, Vec<SourceFile>), S3Error> {
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| list_error(bucket, prefix, e))?;
            dirs.extend(
                out.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_owned)),
            );
            files.extend(out.contents().iter().filter_map(|o| source_file(bucket, o)));
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok((dirs, files)),
            }
        }
    }

    /// Every object under `prefix`.
    async fn list_all(&self, bucket: &str, prefix: &str) -> Result<Vec<SourceFile>, S3Error> {
        let mut files = Vec::new();
        let mut token = None;
        loop {
            let (found, next) = self.page(bucket, prefix, token, 1000).await?;
            files.extend(found);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(files),
            }
        }
    }

    /// The bytes of one object.
    pub async fn get(&self, location: &S3Uri) -> Result<Vec<u8>, S3Error> {
        self.get_with_version(location)
            .await
            .map(|(bytes, _)| bytes)
    }

    /// The bytes of one object and its version (ETag, unquoted).
    pub async fn get_with_version(
        &self,
        location: &S3Uri,
    ) -> Result<(Vec<u8>, Option<String>), S3Error> {
        self.get_object(location)
            .await
            .map(|object| (object.bytes, object.version))
    }

    /// The bytes of one object, its version and its `signature` metadata
    /// (what CloudTrail signs a digest file with, in hex).
    pub async fn get_object(&self, location: &S3Uri) -> Result<Object, S3Error> {
        let (bucket, key) = (&location.bucket, &location.key);
        let get_error = |source: BoxError| S3Error::Get {
            bucket: bucket.clone(),
            key: key.clone(),
            source,
        };
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| get_error(Box::new(e)))?;
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if size > self.max_object_bytes {
            return Err(S3Error::TooLarge {
                bucket: bucket.clone(),
                key: key.clone(),
                size,
                limit: self.max_object_bytes,
            });
        }
        let version = out.e_tag().map(etag_version);
        let signature = out.metadata().and_then(|m| m.get("signature")).cloned();
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| get_error(Box::new(e)))?;
        Ok(Object {
            bytes: body.into_bytes().to_vec(),
            version,
            signature,
        })
    }

    /// The version of one object, without reading it: its ETag (unquoted), or
    /// `size:last-modified` if S3 gives none.
    pub async fn version(&self, location: &S3Uri) -> Result<String, S3Error> {
        let out = self
            .client
            .head_object()
            .bucket(&location.bucket)
            .key(&location.key)
            .send()
            .await
            .map_err(|e| S3Error::Get {
                bucket: location.bucket.clone(),
                key: location.key.clone(),
                source: Box::new(e),
            })?;
        Ok(match out.e_tag() {
            Some(etag) => etag_version(etag),
            None => format!(
                "{}:{}",
                out.content_length().unwrap_or(0),
                out.last_modified().map_or(0, |t| t.secs())
            ),
        })
    }

    /// [`get_object`](Self::get_object), waiting for one of the `max_in_flight` permits.
    pub async fn get_object_bounded(&self, location: &S3Uri) -> Result<Object, S3Error> {
        let _permit = self.permits.acquire().await;
        self.get_object(location).await
    }

    /// [`get`](Self::get), waiting for one of the `max_in_flight` permits.
    pub async fn get_bounded(&self, location: &S3Uri) -> Result<Vec<u8>, S3Error> {
        let _permit = self.permits.acquire().await;
        self.get(location).await
    }
}

/// An object read whole.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    /// The ETag, unquoted.
    pub version: Option<String>,
    /// The `signature` user metadata (`x-amz-meta-signature`), if any.
    pub signature: Option<String>,
}

fn list_error(
    bucket: &str,
    prefix: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> S3Error {
    S3Error::List {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
        source: Box::new(e),
    }
}

/// An ETag as a version: without its quotes.
pub fn etag_version(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

fn source_file(bucket: &str, object: &aws_sdk_s3::types::Object) -> Option<SourceFile> {
    let key = object.key()?;
    let ledger_key = S3Uri::new(bucket, key).to_string();
    Some(SourceFile {
        kind: classify(&ledger_key),
        size: object.size().unwrap_or(0).max(0) as u64,
        version: etag_version(object.e_tag().unwrap_or_default()),
        key: ledger_key,
    })
}

impl S3Source {
    /// The object a listed file names, and how a failure to fetch it reads.
    fn located(file: &SourceFile) -> Result<S3Uri, SourceError> {
        file.key
            .parse()
            .map_err(|e: S3UriError| fetch_error(file, e))
    }
}

fn fetch_error(
    file: &SourceFile,
    source: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::Fetch {
        key: file.key.clone(),
        source: Box::new(source),
    }
}

impl Source for S3Source {
    /// Blocks the calling thread (a pipeline worker, never a runtime thread).
    fn fetch(&self, file: &SourceFile) -> Result<Vec<u8>, SourceError> {
        let location = Self::located(file)?;
        self.handle
            .block_on(self.get_bounded(&location))
            .map_err(|e| fetch_error(file, e))
    }

    /// A digest's bytes and its `signature` metadata.
    fn fetch_with_signature(
        &self,
        file: &SourceFile,
    ) -> Result<(Vec<u8>, Option<String>), SourceError> {
        let location = Self::located(file)?;
        self.handle
            .block_on(self.get_object_bounded(&location))
            .map(|object| (object.bytes, object.signature))
            .map_err(|e| fetch_error(file, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_lose_their_quotes() {
        for (raw, version) in [
            (
                "\"d41d8cd98f00b204e9800998ecf8427e\"",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            ("\"abc-12\"", "abc-12"),
            ("plain", "plain"),
        ] {
            assert_eq!(etag_version(raw), version);
        }
    }
}
