//! `s3://` as a source: a generated tree uploaded to an emulated bucket loads
//! exactly the events the same tree loads from a folder, and `--from`/`--to`
//! select the same files. A followed bucket yields each new file once, and the
//! follow driver loads it asking the ledger about that file alone.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use ctt_aws::S3Uri;
use ctt_aws::s3::{self, S3Source};
use ctt_core::EventQuery;
use ctt_core::GroupBy;
use ctt_core::query::Cursor;
use ctt_gen::{GenConfig, Preset};
use ctt_ingest::pipeline::Silent;
use ctt_ingest::source::classify;
use ctt_ingest::{
    FileKind, IngestOptions, IngestReport, LocalSource, Source, SourceFile, ingest, ingest_parts,
};
use ctt_store::sqlite::{SqliteOptions, SqliteStore};
use ctt_store::{
    CatalogEntry, EventDetail, EventPage, EventStore, FileCounts, GroupCount, LedgerEntry,
    LedgerFilter, LoadedFile, StoreResult, StoreStatus, StoredCourse,
};
use futures_util::{StreamExt, TryStreamExt, stream};

use crate::support::{corpus, fresh_bucket, gzip, sdk};

/// A small generated tree (organisation layout: two accounts, three regions).
fn generated_tree(dir: &Path) {
    let end = ctt_core::time::parse_event_time("2018-03-15T00:00:00Z").unwrap_or_default();
    let mut config = GenConfig::new(Preset::Small, 7, end);
    config.organization = true;
    ctt_gen::generate(dir, &config).expect("generate");
}

/// Uploads every file under `dir` to `bucket`, keyed by its path below `dir`.
async fn upload(client: &aws_sdk_s3::Client, bucket: &str, dir: &Path) -> usize {
    let files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    let puts = files.iter().map(|path| async move {
        let key = path
            .strip_prefix(dir)
            .expect("below dir")
            .to_string_lossy()
            .replace('\\', "/");
        let body = tokio::fs::read(path).await.expect("read");
        client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
    });
    let done: Vec<()> = stream::iter(puts.collect::<Vec<_>>())
        .buffer_unordered(8)
        .try_collect()
        .await
        .expect("upload");
    done.len()
}

async fn load(
    source: Arc<dyn Source>,
    files: Vec<SourceFile>,
    db: &Path,
) -> (SqliteStore, IngestReport) {
    let store = SqliteStore::open(db, SqliteOptions::default()).expect("open store");
    let options = IngestOptions {
        workers: 4,
        ..IngestOptions::default()
    };
    let report = ingest(Arc::new(store.clone()), source, files, &options, &Silent)
        .await
        .expect("ingest");
    (store, report)
}

async fn event_ids(store: &dyn EventStore) -> Vec<String> {
    let all = EventQuery::between(
        ctt_core::time::from_seconds(0),
        ctt_core::time::from_seconds(4_102_444_800),
    );
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .events(&all, 10_000, cursor.as_ref())
            .await
            .expect("events");
        ids.extend(page.events.into_iter().map(|e| e.event_id));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    ids.sort();
    ids
}

/// A file's key below its tree: the bucket key, or the path below the folder.
fn relative(key: &str, root: &str) -> String {
    key.strip_prefix(root)
        .unwrap_or(key)
        .trim_start_matches('/')
        .to_owned()
}

/// `root`'s listing in parts of `part_files`, asked for as a load asks:
/// from a blocking thread.
async fn parts(
    source: &S3Source,
    root: &S3Uri,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    part_files: usize,
) -> Vec<Vec<SourceFile>> {
    let parts = source
        .list_in_parts(root, from, to, part_files)
        .await
        .expect("list in parts");
    tokio::task::spawn_blocking(move || parts.collect::<Result<Vec<_>, _>>())
        .await
        .expect("listing thread")
        .expect("parts")
}

/// `parts` list `whole`, each file once, each part in key order and holding
/// `part_files` files at least, but the last.
fn assert_parts(parts: &[Vec<SourceFile>], whole: &[SourceFile], part_files: usize) {
    if let Some((_, full)) = parts.split_last() {
        assert!(
            full.iter().all(|p| p.len() >= part_files),
            "parts of {part_files}"
        );
    }
    for part in parts {
        assert!(part.windows(2).all(|w| w[0].key < w[1].key), "sorted");
    }
    let mut keys: Vec<&str> = parts.iter().flatten().map(|f| f.key.as_str()).collect();
    keys.sort_unstable();
    let expected: Vec<&str> = whole.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys, expected, "every file once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_loads_the_same_events_as_the_same_folder() {
    let tree = tempfile::tempdir().expect("temp dir");
    generated_tree(tree.path());
    let sdk = sdk().await;
    let client = s3::client(&sdk, None);
    let bucket = fresh_bucket(&client).await;
    let uploaded = upload(&client, &bucket, tree.path()).await;
    assert!(uploaded > 100, "{uploaded} files");

    let source = S3Source::new(client, tokio::runtime::Handle::current(), 8);
    let root = S3Uri::new(&bucket, "");
    let files = source.list(&root, None, None).await.expect("list bucket");
    assert_eq!(files.len(), uploaded);
    let dbs = tempfile::tempdir().expect("temp dir");
    let (from_s3, s3_report) = load(
        Arc::new(source.clone()),
        files.clone(),
        &dbs.path().join("s3.db"),
    )
    .await;

    let local = LocalSource::list(&[tree.path().to_path_buf()], None, None).expect("list folder");
    let (from_folder, folder_report) =
        load(Arc::new(LocalSource), local, &dbs.path().join("local.db")).await;

    let ids = event_ids(&from_s3).await;
    assert!(ids.len() > 1000, "{} events", ids.len());
    assert_eq!(
        ids,
        event_ids(&from_folder).await,
        "same events from S3 and from the folder"
    );
    assert_eq!(
        (
            s3_report.files_loaded,
            s3_report.files_skipped,
            s3_report.records_stored,
            s3_report.records_duplicate
        ),
        (
            folder_report.files_loaded,
            folder_report.files_skipped,
            folder_report.records_stored,
            folder_report.records_duplicate
        )
    );
    assert_eq!(s3_report.files_failed, 0);
    let ledger = from_s3
        .ledger(ctt_store::LedgerFilter::All)
        .await
        .expect("ledger");
    assert!(
        ledger
            .iter()
            .all(|e| e.key.starts_with(&format!("s3://{bucket}/AWSLogs/")))
    );
    assert!(
        ledger.iter().all(|e| e.version.len() == 32),
        "ETags, unquoted"
    );

    // Listed in parts (issue "Scale": memory at any size), the bucket lists
    // the same files, a part at a time; loading them again in parts reads
    // nothing: the ledger knows every file.
    let in_parts = parts(&source, &root, None, None, 40).await;
    assert_parts(&in_parts, &files, 40);
    assert!(in_parts.len() >= 3, "{} parts", in_parts.len());
    let again = source
        .list_in_parts(&root, None, None, 40)
        .await
        .expect("list again");
    let store: Arc<dyn EventStore> = Arc::new(from_s3.clone());
    let report = ingest_parts(
        store,
        Arc::new(source.clone()),
        again,
        &IngestOptions::default(),
        &Silent,
    )
    .await
    .expect("ingest again");
    assert_eq!((report.files_loaded, report.records_stored), (0, 0));
    assert_eq!(report.files_already_loaded, s3_report.files_loaded);

    // --from/--to select the same files from the bucket (by day prefixes) and the folder.
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    for (from, to) in [
        (day("2018-03-10"), day("2018-03-11")),
        (day("2018-03-14"), None),
        (day("2018-01-01"), day("2018-03-01")),
    ] {
        let listed = source.list(&root, from, to).await.expect("list days");
        assert_parts(&parts(&source, &root, from, to, 5).await, &listed, 5);
        let in_bucket: Vec<String> = listed
            .iter()
            .map(|f| relative(&f.key, &format!("s3://{bucket}")))
            .filter(|key| classify(key) == FileKind::Log)
            .collect();
        let root_path = tree.path().display().to_string();
        let in_folder: Vec<String> = LocalSource::list(&[tree.path().to_path_buf()], from, to)
            .expect("list folder days")
            .iter()
            .map(|f| relative(&f.key, &root_path))
            // Day listings do not even list digest files.
            .filter(|key| classify(key) == FileKind::Log)
            .collect();
        assert_eq!(in_bucket, in_folder, "{from:?}..{to:?}");
        if from == day("2018-03-10") {
            assert!(!in_bucket.is_empty());
        }
    }
    // A prefix inside the layout narrows the listing.
    let one_region = S3Uri::new(
        &bucket,
        "AWSLogs/o-5mf2kq9x7w/974349055189/CloudTrail/eu-west-1",
    );
    let files = source
        .list(&one_region, day("2018-03-10"), day("2018-03-10"))
        .await
        .expect("list region");
    assert!(!files.is_empty());
    assert!(
        files
            .iter()
            .all(|f| f.key.contains("/CloudTrail/eu-west-1/2018/03/10/"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_followed_bucket_yields_each_new_file_once() {
    use ctt_aws::s3::follow::S3Follower;

    let sdk = sdk().await;
    let client = s3::client(&sdk, None);
    let bucket = fresh_bucket(&client).await;
    let put = |key: String| {
        let client = client.clone();
        let bucket = bucket.clone();
        async move {
            client
                .put_object()
                .bucket(&bucket)
                .key(key)
                .body(b"{\"Records\": []}".to_vec().into())
                .send()
                .await
                .expect("upload");
        }
    };
    let key = |region: &str, day: &str, name: &str| {
        format!(
            "AWSLogs/974349055189/CloudTrail/{region}/{day}/974349055189_CloudTrail_{region}_{name}.json.gz"
        )
    };
    let at =
        |raw: &str| chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M").expect("time");
    put(key("us-east-1", "2018/03/09", "20180309T2355Z_a")).await;
    put(key("us-east-1", "2018/03/10", "20180310T1200Z_b")).await;

    let source = S3Source::new(client.clone(), tokio::runtime::Handle::current(), 4);
    let mut follower = S3Follower::new(source, S3Uri::new(&bucket, "AWSLogs/"));
    let names = |files: Vec<SourceFile>| -> Vec<String> {
        files
            .iter()
            .map(|f| f.key.rsplit('_').next().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        names(
            follower
                .poll_at(at("2018-03-10 12:01"))
                .await
                .expect("poll")
        ),
        ["b.json.gz"]
    );
    assert!(
        follower
            .poll_at(at("2018-03-10 12:02"))
            .await
            .expect("poll")
            .is_empty()
    );
    put(key("us-east-1", "2018/03/10", "20180310T1205Z_c")).await;
    put(key("eu-west-1", "2018/03/10", "20180310T1205Z_d")).await;
    assert_eq!(
        names(
            follower
                .poll_at(at("2018-03-10 12:06"))
                .await
                .expect("poll")
        ),
        ["c.json.gz"]
    );
    // A region used for the first time is found within the hour.
    assert_eq!(
        names(
            follower
                .poll_at(at("2018-03-10 13:10"))
                .await
                .expect("poll")
        ),
        ["d.json.gz"]
    );
    // Early in the day, yesterday's late deliveries are still picked up.
    put(key("us-east-1", "2018/03/10", "20180310T2359Z_e")).await;
    put(key("us-east-1", "2018/03/11", "20180311T0005Z_f")).await;
    let early = names(
        follower
            .poll_at(at("2018-03-11 00:06"))
            .await
            .expect("poll"),
    );
    assert_eq!(early.len(), 2, "{early:?}");
    assert!(early.contains(&"e.json.gz".to_owned()) && early.contains(&"f.json.gz".to_owned()));
    assert!(
        follower
            .poll_at(at("2018-03-11 00:07"))
            .await
            .expect("poll")
            .is_empty()
    );
}

/// A real SQLite store that counts how its ledger is read: whole
/// (`ledger`), or for given files (`loaded_already`, the sizes asked).
struct LedgerReads {
    store: SqliteStore,
    whole: std::sync::atomic::AtomicUsize,
    asked: std::sync::Mutex<Vec<usize>>,
}

#[async_trait::async_trait]
impl EventStore for LedgerReads {
    async fn load(&self, files: Vec<LoadedFile>) -> StoreResult<Vec<FileCounts>> {
        self.store.load(files).await
    }
    async fn ledger(&self, filter: LedgerFilter) -> StoreResult<Vec<LedgerEntry>> {
        self.whole.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.store.ledger(filter).await
    }
    async fn ledger_entry(&self, key: &str) -> StoreResult<Option<LedgerEntry>> {
        self.store.ledger_entry(key).await
    }
    async fn record_integrity(&self, verdicts: Vec<ctt_store::Verdict>) -> StoreResult<u64> {
        self.store.record_integrity(verdicts).await
    }
    async fn alerts(&self, query: &ctt_store::AlertQuery) -> StoreResult<Vec<ctt_store::Alert>> {
        self.store.alerts(query).await
    }
    async fn count_alerts(&self, query: &ctt_store::AlertQuery) -> StoreResult<u64> {
        self.store.count_alerts(query).await
    }
    async fn alert(&self, id: &str) -> StoreResult<Option<ctt_store::Alert>> {
        self.store.alert(id).await
    }
    async fn integrity(&self) -> StoreResult<ctt_store::IntegritySummary> {
        self.store.integrity().await
    }
    async fn integrity_marks(
        &self,
        event_ids: Vec<String>,
    ) -> StoreResult<std::collections::HashMap<String, String>> {
        self.store.integrity_marks(event_ids).await
    }
    async fn loaded_already(&self, files: Vec<(String, String)>) -> StoreResult<Vec<bool>> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(files.len());
        }
        self.store.loaded_already(files).await
    }
    fn indexed_parameters(&self) -> &[String] {
        self.store.indexed_parameters()
    }
    async fn events(
        &self,
        query: &EventQuery,
        limit: u32,
        cursor: Option<&Cursor>,
    ) -> StoreResult<EventPage> {
        self.store.events(query, limit, cursor).await
    }
    async fn count(&self, query: &EventQuery) -> StoreResult<u64> {
        self.store.count(query).await
    }
    async fn stats(
        &self,
        query: &EventQuery,
        group_by: GroupBy,
        limit: u32,
    ) -> StoreResult<Vec<GroupCount>> {
        self.store.stats(query, group_by, limit).await
    }
    async fn event(&self, event_id: &str) -> StoreResult<Option<EventDetail>> {
        self.store.event(event_id).await
    }
    async fn users(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.store.users().await
    }
    async fn services(&self) -> StoreResult<Vec<CatalogEntry>> {
        self.store.services().await
    }
    async fn parameters(&self) -> StoreResult<Vec<String>> {
        self.store.parameters().await
    }
    async fn status(&self) -> StoreResult<StoreStatus> {
        self.store.status().await
    }

    async fn put_course(&self, course: StoredCourse) -> StoreResult<()> {
        self.store.put_course(course).await
    }

    async fn courses(&self) -> StoreResult<Vec<StoredCourse>> {
        self.store.courses().await
    }

    async fn course(&self, id: &str) -> StoreResult<Option<StoredCourse>> {
        self.store.course(id).await
    }

    async fn remove_course(&self, id: &str) -> StoreResult<bool> {
        self.store.remove_course(id).await
    }
}

/// The original's sample log file (18 events kept), its eventIDs prefixed
/// by `tag`, gzipped.
fn tagged_sample(tag: &str) -> Vec<u8> {
    let mut log: serde_json::Value =
        serde_json::from_slice(&corpus("sample-cloudtrail-event.json")).expect("sample JSON");
    if let Some(records) = log["Records"].as_array_mut() {
        for record in records {
            let id = format!("{tag}{}", record["eventID"].as_str().unwrap_or_default());
            record["eventID"] = serde_json::json!(id);
        }
    }
    gzip(log.to_string().as_bytes())
}

/// Issue 12 (following written once): the follow driver loads a bucket's new
/// files exactly once (SPEC §4), and asks the ledger about each poll's new
/// files only — never reads it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_bucket_loads_new_files_once_without_reading_the_whole_ledger() {
    use ctt_aws::s3::follow::S3Follower;
    use ctt_ingest::follow::{CancellationToken, FollowOptions, FollowStatus, follow};

    let sdk = sdk().await;
    let client = s3::client(&sdk, None);
    let bucket = fresh_bucket(&client).await;
    let today = chrono::Utc::now().format("%Y/%m/%d");
    let put = |name: &str, body: Vec<u8>| {
        let (client, bucket) = (client.clone(), bucket.clone());
        let key = format!(
            "AWSLogs/974349055189/CloudTrail/us-east-1/{today}/974349055189_CloudTrail_us-east-1_{name}.json.gz"
        );
        async move {
            client
                .put_object()
                .bucket(&bucket)
                .key(key)
                .body(body.into())
                .send()
                .await
                .expect("upload");
        }
    };
    put("a", tagged_sample("a-")).await;
    put("b", tagged_sample("b-")).await;

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(LedgerReads {
        store: SqliteStore::open(dir.path().join("ctt.db"), SqliteOptions::default())
            .expect("open store"),
        whole: Default::default(),
        asked: Default::default(),
    });
    let source = S3Source::new(client.clone(), tokio::runtime::Handle::current(), 4);
    let follower = S3Follower::new(source, S3Uri::new(&bucket, "AWSLogs/"));
    let status = FollowStatus::default();
    let shutdown = CancellationToken::new();
    let options = FollowOptions {
        ingest: IngestOptions {
            workers: 4,
            ..IngestOptions::default()
        },
        every: std::time::Duration::from_millis(100),
    };
    let task = tokio::spawn(follow(
        store.clone(),
        follower,
        options,
        status.clone(),
        shutdown.clone(),
    ));
    let wait_for = |what: &'static str, done: fn(&ctt_ingest::follow::FollowState) -> bool| {
        let status = status.clone();
        async move {
            for _ in 0..300 {
                if done(&status.get()) {
                    return status.get();
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("{what}: {:?}", status.get());
        }
    };
    let first = wait_for("today's files are loaded", |s| s.files_loaded == 2).await;
    put("c", tagged_sample("c-")).await;
    wait_for("the new file is loaded", |s| s.files_loaded == 3).await;
    let polls = status.get().polls;
    for _ in 0..300 {
        if status.get().polls >= polls + 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    shutdown.cancel();
    task.await.expect("the follow task ends");

    let state = status.get();
    assert!(state.polls >= polls + 3, "polls went on: {state:?}");
    assert_eq!(
        (state.files_loaded, state.files_failed, state.events_stored),
        (3, 0, 54),
        "each file loaded once"
    );
    assert_eq!(first.errors, 0);
    assert_eq!(store.status().await.expect("status").events, 54);
    assert_eq!(
        store.whole.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the ledger is never read whole"
    );
    let asked = store.asked.lock().map(|a| a.clone()).unwrap_or_default();
    assert_eq!(asked, [2, 1], "each poll asks about its new files only");
}
