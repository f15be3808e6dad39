//! The store conformance suite, against DynamoDB (moto).

use crate::support::fresh_store;

ctt_store::store_conformance_tests!(fresh_store());

/// SPEC §13's conformance check, on a store that evaluates anomalies (two
/// loaders at once: their evaluations of one user overtake each other).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_follow_the_stored_events() {
    let store = fresh_store().await.with_anomalies(Default::default());
    ctt_store::conformance::anomalies_follow_the_stored_events(&store).await;
}
