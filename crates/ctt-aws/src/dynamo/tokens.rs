//! API tokens (SPEC §7) in the table, for `ctt serve --store dynamodb://…` and
//! `ctt token … --store dynamodb://…`: one item per token under `pk = TOKEN`,
//! `sk` its name, holding only the token's SHA-256 (the token is printed once).
//! The Lambda API does not use them: API Gateway's authorizer does that job.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::DateTime;
use ctt_store::{StoreResult, TokenRecord, TokenStore};

use super::items::{Item, get_n, get_s, n, s};
use super::{DynamoStore, item_key, keys};

/// The partition of token items.
pub const TOKEN_PK: &str = "TOKEN";

fn token_item(token: &TokenRecord) -> Item {
    let mut item = item_key(TOKEN_PK, &token.name);
    item.insert("hash".into(), s(&token.hash));
    item.insert("role".into(), s(token.role.as_str()));
    if let Some(user) = &token.user {
        item.insert("user".into(), s(user));
    }
    item.insert("created_at".into(), n(token.created_at.timestamp()));
    item
}

fn token_record(item: &Item) -> Option<TokenRecord> {
    Some(TokenRecord {
        name: get_s(item, keys::SK)?.to_owned(),
        hash: get_s(item, "hash")?.to_owned(),
        role: get_s(item, "role")?.parse().ok()?,
        user: get_s(item, "user").map(str::to_owned),
        created_at: DateTime::from_timestamp(get_n(item, "created_at").unwrap_or(0), 0)
            .unwrap_or_default(),
    })
}

#[async_trait]
impl TokenStore for DynamoStore {
    async fn create_token(&self, token: TokenRecord) -> StoreResult<bool> {
        let inner = &self.inner;
        let result = inner
            .client
            .put_item()
            .table_name(&inner.table)
            .set_item(Some(token_item(&token)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(inner.error("PutItem", e).into()),
        }
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenRecord>> {
        let items =
            super::read::query_partition(&self.inner, None, keys::PK, TOKEN_PK, None).await?;
        Ok(items.iter().filter_map(token_record).collect())
    }

    async fn revoke_token(&self, name: &str) -> StoreResult<bool> {
        let inner = &self.inner;
        let out = inner
            .client
            .delete_item()
            .table_name(&inner.table)
            .set_key(Some(item_key(TOKEN_PK, name)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| inner.error("DeleteItem", e))?;
        Ok(out.attributes().is_some_and(|a| !a.is_empty()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctt_store::Role;

    #[test]
    fn a_token_item_reads_back() {
        let token = TokenRecord {
            name: "alu".into(),
            hash: "ab12".into(),
            role: Role::OwnUser,
            user: Some("alucloud001".into()),
            created_at: DateTime::from_timestamp(1_520_000_000, 0).unwrap_or_default(),
        };
        assert_eq!(token_record(&token_item(&token)), Some(token));
    }
}
