//! What a [`DynamoStore`](super::DynamoStore) asked of DynamoDB: every operation
//! by name (counted by an SDK interceptor, so nothing can slip past — the test
//! that no route uses `Scan` reads it), and the items its queries read
//! (`ScannedCount`) and returned (`Count`), index entries and hourly counters
//! apart, for the benchmark's read-unit figures.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// A snapshot of what was asked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Requests per operation name (`Query`, `PutItem`, …), retries excluded.
    pub operations: BTreeMap<String, u64>,
    /// Items DynamoDB read to answer queries (`ScannedCount`): what read units pay for.
    pub items_scanned: u64,
    /// Items queries returned after filters (`Count`).
    pub items_returned: u64,
    /// Read capacity units DynamoDB reported as consumed by queries and gets.
    pub read_units: f64,
    /// Of `items_scanned`, the hourly counters read (small items, strongly
    /// consistent), and the queries that read them.
    pub counter_items: u64,
    pub counter_queries: u64,
}

impl Usage {
    pub fn calls(&self, operation: &str) -> u64 {
        self.operations.get(operation).copied().unwrap_or(0)
    }
}

/// Shared, updated by the interceptor and the query loop.
#[derive(Debug, Clone, Default)]
pub struct UsageMeter {
    inner: Arc<Mutex<Usage>>,
}

impl UsageMeter {
    pub fn snapshot(&self) -> Usage {
        self.inner.lock().map(|u| u.clone()).unwrap_or_default()
    }

    pub fn reset(&self) {
        if let Ok(mut usage) = self.inner.lock() {
            *usage = Usage::default();
        }
    }

    pub fn read(&self, scanned: i32, returned: i32, units: Option<f64>) {
        if let Ok(mut usage) = self.inner.lock() {
            usage.items_scanned += scanned.max(0) as u64;
            usage.items_returned += returned.max(0) as u64;
            usage.read_units += units.unwrap_or(0.0);
        }
    }

    /// A query of hourly counters read `scanned` items.
    pub fn read_counters(&self, scanned: i32, units: Option<f64>) {
        if let Ok(mut usage) = self.inner.lock() {
            usage.items_scanned += scanned.max(0) as u64;
            usage.items_returned += scanned.max(0) as u64;
            usage.counter_items += scanned.max(0) as u64;
            usage.counter_queries += 1;
            usage.read_units += units.unwrap_or(0.0);
        }
    }

    fn operation(&self, name: &str) {
        if let Ok(mut usage) = self.inner.lock() {
            *usage.operations.entry(name.to_owned()).or_default() += 1;
        }
    }

    /// The interceptor that counts this meter's operations.
    pub fn interceptor(&self) -> OperationCounter {
        OperationCounter {
            meter: self.clone(),
        }
    }
}

/// Counts each operation once per execution (before any retry).
#[derive(Debug, Clone)]
pub struct OperationCounter {
    meter: UsageMeter,
}

impl Intercept for OperationCounter {
    fn name(&self) -> &'static str {
        "ctt::OperationCounter"
    }

    // Operation metadata is in the bag from serialization on (not yet when
    // client interceptors see `read_before_execution`).
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg.load::<Metadata>().map_or("unknown", Metadata::name);
        self.meter.operation(name);
        Ok(())
    }
}
