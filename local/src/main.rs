//! `cargo run -p casebridge-local`: the whole stack on http://127.0.0.1:3000 (or `PORT`).

use std::sync::Arc;

use casebridge::config::Config;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use casebridge_local::{App, router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    casebridge::telemetry::init();
    let config = Config::from_env()?;
    let store: Arc<dyn Store> = match (
        config.table_name.as_deref(),
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB"),
    ) {
        (Some(_), Ok(endpoint)) => {
            let client = casebridge::aws::local_dynamodb_client(&endpoint);
            let table = config.table_name()?;
            casebridge::store::dynamo::DynamoStore::create_table(&client, table).await?;
            Arc::new(casebridge::store::dynamo::DynamoStore::new(
                client,
                table,
                casebridge::store::Retention(config.retention),
            ))
        }
        _ => Arc::new(MemoryStore::new()),
    };
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| "PORT must be a port number")?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("casebridge local stack on http://127.0.0.1:{port}");
    let app = Arc::new(App::new(store, config));
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
