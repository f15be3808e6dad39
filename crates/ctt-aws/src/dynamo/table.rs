//! Creating the table (`ctt store create dynamodb://TABLE`): on-demand capacity,
//! the `pk`/`sk` key and the five indexes of [`keys`](super::keys). The SAM
//! template in `deploy/` declares the same table; a test keeps them in step.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};

use super::DynamoError;
use super::keys::{self, EventIndex};

/// What `create` found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    AlreadyExisted,
}

/// The attribute definitions: every key attribute of the table and its indexes.
pub fn attribute_definitions() -> Vec<(&'static str, ScalarAttributeType)> {
    let mut attributes = vec![
        (keys::PK, ScalarAttributeType::S),
        (keys::SK, ScalarAttributeType::S),
        (keys::AT, ScalarAttributeType::S),
        (keys::LEDGER_PK, ScalarAttributeType::S),
        (keys::LEDGER_SEQ, ScalarAttributeType::N),
    ];
    attributes.extend(
        EventIndex::ALL
            .iter()
            .map(|i| (i.name(), ScalarAttributeType::S)),
    );
    attributes
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, BuildError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
}

fn indexes() -> Result<Vec<GlobalSecondaryIndex>, BuildError> {
    let mut indexes = Vec::new();
    for index in EventIndex::ALL {
        let projection = Projection::builder()
            .projection_type(ProjectionType::Include)
            .set_non_key_attributes(Some(
                keys::PROJECTED.iter().map(|a| (*a).to_owned()).collect(),
            ))
            .build();
        indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(index.name())
                .key_schema(key(index.name(), KeyType::Hash)?)
                .key_schema(key(keys::AT, KeyType::Range)?)
                .projection(projection)
                .build()?,
        );
    }
    indexes.push(
        GlobalSecondaryIndex::builder()
            .index_name(keys::LEDGER_INDEX)
            .key_schema(key(keys::LEDGER_PK, KeyType::Hash)?)
            .key_schema(key(keys::LEDGER_SEQ, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()?,
    );
    Ok(indexes)
}

/// Creates the table unless it exists, and waits until it is active.
pub async fn create(client: &Client, table: &str) -> Result<Created, DynamoError> {
    let build_error = |e: BuildError| DynamoError::request(table, "CreateTable", e);
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(keys::PK, KeyType::Hash).map_err(build_error)?)
        .key_schema(key(keys::SK, KeyType::Range).map_err(build_error)?)
        .set_global_secondary_indexes(Some(indexes().map_err(build_error)?));
    for (name, kind) in attribute_definitions() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(build_error)?,
        );
    }
    let created = match request.send().await {
        Ok(_) => Created::Created,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            Created::AlreadyExisted
        }
        Err(e) => return Err(DynamoError::request(table, "CreateTable", e)),
    };
    wait_until_active(client, table).await?;
    Ok(created)
}

async fn wait_until_active(client: &Client, table: &str) -> Result<(), DynamoError> {
    for _ in 0..600 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| DynamoError::request(table, "DescribeTable", e))?;
        let Some(description) = described.table() else {
            continue;
        };
        let indexes_active = description
            .global_secondary_indexes()
            .iter()
            .all(|i| i.index_status().is_none_or(|s| s.as_str() == "ACTIVE"));
        if description.table_status() == Some(&TableStatus::Active) && indexes_active {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(DynamoError::NotActive {
        table: table.to_owned(),
    })
}

/// Deletes the table (tests, `docs/deploy-aws.md`'s removal).
pub async fn delete(client: &Client, table: &str) -> Result<(), DynamoError> {
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| DynamoError::request(table, "DeleteTable", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sam_template_declares_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/template.yaml");
        let template = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (name, kind) in attribute_definitions() {
            let declared = format!(
                "{{AttributeName: {name}, AttributeType: {}}}",
                kind.as_str()
            );
            assert!(template.contains(&declared), "{declared} in {path}");
        }
        let indexes = indexes().unwrap_or_else(|e| panic!("{e}"));
        for index in &indexes {
            let name = format!("IndexName: {}", index.index_name());
            assert!(template.contains(&name), "{name} in {path}");
        }
        let projections: Vec<Vec<&str>> = template
            .split("NonKeyAttributes: [")
            .skip(1)
            .map(|rest| {
                let list = rest.split(']').next().unwrap_or_default();
                list.split(',').map(str::trim).collect()
            })
            .collect();
        assert_eq!(projections.len(), EventIndex::ALL.len());
        for projected in projections {
            assert_eq!(projected, keys::PROJECTED, "projected attributes in {path}");
        }
    }

    #[test]
    fn index_projections_stay_within_dynamodb_limits() {
        let indexes = indexes().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            indexes.len(),
            5,
            "at most 20 GSIs, and every one costs writes"
        );
        let projected: usize = indexes
            .iter()
            .filter_map(|i| i.projection())
            .map(|p| p.non_key_attributes().len())
            .sum();
        assert!(projected <= 100, "{projected} projected attributes");
    }
}
