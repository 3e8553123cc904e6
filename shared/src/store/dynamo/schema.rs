//! The table's keys, index and stream ([`table_definition`]), for `create_table` (the local
//! stack, the CLI, tests) and for the test that holds template.yaml to the same definition.

use super::*;

impl DynamoStore {
    /// Creates the table as `table_definition` describes it, with TTL enabled. For the local
    /// runner, the CLI and tests; production tables come from template.yaml.
    pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
        let def = table_definition();
        let res = client
            .create_table()
            .table_name(table)
            .set_attribute_definitions(Some(def.attributes))
            .set_key_schema(Some(def.key_schema))
            .set_global_secondary_indexes(Some(def.indexes))
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(def.stream)
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), CreateTableError::ResourceInUseException(_)) => {}
            Err(e) => return Err(backend(e)),
        }
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(TTL_ATTRIBUTE)
                    .enabled(true)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                // Enabling TTL twice is refused with "already enabled": that is the state we want.
                if e.code() == Some("ValidationException") {
                    Ok(())
                } else {
                    Err(backend(e))
                }
            })
    }
}

/// The table's keys, index and stream, in one place for `create_table` and the template check.
pub struct TableDefinition {
    pub attributes: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeySchemaElement>,
    pub indexes: Vec<GlobalSecondaryIndex>,
    pub stream: StreamSpecification,
}

pub fn table_definition() -> TableDefinition {
    // The builders below only fail on a missing required field, which these literals all set.
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute definition literal is complete")
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .expect("key schema literal is complete")
    };
    TableDefinition {
        attributes: vec![attr("pk"), attr("sk"), attr("case_id")],
        key_schema: vec![key("pk", KeyType::Hash), key("sk", KeyType::Range)],
        indexes: vec![
            GlobalSecondaryIndex::builder()
                .index_name(CASE_INDEX)
                .key_schema(key("case_id", KeyType::Hash))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index literal is complete"),
        ],
        stream: StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::NewImage)
            .build()
            .expect("stream literal is complete"),
    }
}
