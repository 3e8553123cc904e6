//! DynamoDB on moto: the endpoint scripts/test starts and points `AWS_ENDPOINT_URL_DYNAMODB` at,
//! and fresh tables on it, one per test so that tests never see each other's items.

use casebridge::store::Retention;
use casebridge::store::dynamo::DynamoStore;

use crate::RequestCounter;

/// The moto endpoint, or None with a note when the test runs outside the test command. With
/// `CASEBRIDGE_REQUIRE_MOTO` set (scripts/test, CI) a missing endpoint fails the test instead.
pub fn endpoint() -> Option<String> {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) => Some(endpoint),
        Err(_) => {
            assert!(
                std::env::var("CASEBRIDGE_REQUIRE_MOTO").is_err(),
                "moto is required"
            );
            eprintln!("skipping: no AWS_ENDPOINT_URL_DYNAMODB (run scripts/test)");
            None
        }
    }
}

/// A table name no other test uses.
pub fn table_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh table on moto with the store on it, and the client's request counter.
pub async fn counted_store(prefix: &str) -> Option<(DynamoStore, RequestCounter)> {
    let endpoint = endpoint()?;
    let counter = RequestCounter::default();
    let client = counter.install(&casebridge::aws::local_dynamodb_client(&endpoint));
    let table = table_name(prefix);
    DynamoStore::create_table(&client, &table)
        .await
        .expect("moto creates the table");
    Some((
        DynamoStore::new(client, table, Retention::default()),
        counter,
    ))
}

/// A fresh table on moto with the store on it.
pub async fn store(prefix: &str) -> Option<DynamoStore> {
    counted_store(prefix).await.map(|(store, _)| store)
}

/// A fresh table on moto when the test command runs moto, else the memory store (for tests that
/// prove behaviour on both; CI's run always has moto).
pub async fn store_or_memory(prefix: &str) -> std::sync::Arc<dyn casebridge::store::Store> {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(_) => std::sync::Arc::new(store(prefix).await.expect("moto is running")),
        Err(_) => {
            assert!(
                std::env::var("CASEBRIDGE_REQUIRE_MOTO").is_err(),
                "moto is required"
            );
            std::sync::Arc::new(casebridge::store::memory::MemoryStore::new())
        }
    }
}
