//! The knowledge snapshot in the table (`crate::knowledge::snapshot`).
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | pointer | `K#knowledge` | `CURRENT` | `version`, `digest`, `chunks` |
//! | chunk | `K#knowledge#<version>` | `C#<n, 4 digits>` | `data` (bytes of the JSON) |
//!
//! A snapshot is JSON cut into chunks of 350 KB (an item holds at most 400 KB). The chunks are
//! written first and the pointer last, and both are read with strong consistency, so a reader
//! never sees a version whose chunks are not all there. The replaced version's chunks are not
//! deleted at once (a container may be reading them): they get a TTL of a day. One `Query` (a
//! page per MB) reads a version back. None of these items carries `kind`, so the stream's filter
//! never passes them.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::knowledge::snapshot::{Snapshot, SnapshotError, SnapshotStore};

const POINTER_PK: &str = "K#knowledge";
const POINTER_SK: &str = "CURRENT";
const CHUNK_BYTES: usize = 350 * 1024;

/// The table's knowledge snapshot.
#[derive(Clone)]
pub struct DynamoSnapshots {
    client: Client,
    table: String,
}

impl DynamoSnapshots {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn chunk_pk(version: u64) -> String {
    format!("K#knowledge#{version}")
}

fn store_err(e: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Store(e.to_string())
}

fn n(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

#[async_trait::async_trait]
impl SnapshotStore for DynamoSnapshots {
    async fn current(&self) -> Result<Option<(u64, String)>, SnapshotError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(POINTER_PK.into()))
            .key("sk", AttributeValue::S(POINTER_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(out.item.and_then(|item| {
            let digest = item.get("digest")?.as_s().ok()?.clone();
            Some((n(&item, "version")?, digest))
        }))
    }

    async fn load(&self, version: u64) -> Result<Snapshot, SnapshotError> {
        let mut bytes = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(chunk_pk(version)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| store_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            for item in out.items() {
                match item.get("data").and_then(|d| d.as_b().ok()) {
                    Some(b) => bytes.extend_from_slice(b.as_ref()),
                    None => {
                        return Err(SnapshotError::Corrupt {
                            version,
                            reason: "a chunk without data".into(),
                        });
                    }
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        serde_json::from_slice(&bytes).map_err(|e| SnapshotError::Corrupt {
            version,
            reason: e.to_string(),
        })
    }

    async fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let previous = self.current().await?;
        let json = serde_json::to_vec(snapshot).map_err(store_err)?;
        let chunks: Vec<&[u8]> = json.chunks(CHUNK_BYTES).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(chunk_pk(snapshot.version)))
                .item("sk", AttributeValue::S(format!("C#{i:04}")))
                .item("data", AttributeValue::B(Blob::new(chunk.to_vec())))
                .send()
                .await
                .map_err(|e| store_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(POINTER_PK.into()))
            .item("sk", AttributeValue::S(POINTER_SK.into()))
            .item("version", AttributeValue::N(snapshot.version.to_string()))
            .item("digest", AttributeValue::S(snapshot.digest.clone()))
            .item("chunks", AttributeValue::N(chunks.len().to_string()))
            .send()
            .await
            .map_err(|e| store_err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        // The replaced version is no longer read by anyone who checks the pointer from now on;
        // a container loading it right now still may: its chunks expire in a day.
        if let Some((old, _)) = previous.filter(|(v, _)| *v != snapshot.version) {
            let expires = jiff::Timestamp::now().as_second() + 24 * 3600;
            let mut i = 0;
            loop {
                let out = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", AttributeValue::S(chunk_pk(old)))
                    .key("sk", AttributeValue::S(format!("C#{i:04}")))
                    .update_expression("SET #ttl = :at")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#ttl", super::TTL_ATTRIBUTE)
                    .expression_attribute_values(":at", AttributeValue::N(expires.to_string()))
                    .send()
                    .await;
                match out {
                    Ok(_) => i += 1,
                    Err(e) if super::errors::is_condition_failure(&e) => break,
                    Err(e) => {
                        // Published all the same; a chunk left without a TTL costs storage only.
                        tracing::warn!(
                            error = %aws_sdk_dynamodb::error::DisplayErrorContext(e),
                            "old knowledge chunks not marked for expiry"
                        );
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}
