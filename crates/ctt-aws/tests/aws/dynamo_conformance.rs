//! The store conformance suite, against DynamoDB (moto).

use crate::support::fresh_store;

ctt_store::store_conformance_tests!(fresh_store());
