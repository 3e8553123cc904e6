//! AWS SDK clients, built once per process in `main`.
//!
//! The SDK's default HTTPS stack is rustls with aws-lc-rs; we select rustls with *ring* instead,
//! the same provider reqwest uses here, so exactly one TLS stack is linked (and no C/cmake build
//! is needed). Region, credentials and the endpoint come from the SDK's standard chain:
//! `AWS_REGION`, the Lambda role, and `AWS_ENDPOINT_URL_DYNAMODB` for a local DynamoDB or moto.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's HTTP client on rustls with *ring*: every AWS client of the workspace is built with it.
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Region and static dummy credentials for local endpoints (moto, DynamoDB Local), so that no AWS
/// account or profile is ever consulted.
pub fn local_identity() -> (aws_config::Region, aws_sdk_dynamodb::config::Credentials) {
    (
        aws_config::Region::new("us-east-1"),
        aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "casebridge-local",
        ),
    )
}

pub fn dynamodb_client(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// A DynamoDB client for a local endpoint (moto, DynamoDB Local) with static dummy credentials:
/// the local runner and the tests use it so that no AWS account or profile is ever consulted.
pub fn local_dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let (region, credentials) = local_identity();
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .http_client(https_client())
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// Counts DynamoDB requests by operation (`TransactWriteItems`, `Query`, …) as they are sent, read
/// from the `X-Amz-Target` header. The cost tests and the bench use it to state what one inbound
/// message costs; production clients do not install it.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(
    std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, usize>>>,
);

impl RequestCounter {
    /// `client` with this counter installed.
    pub fn install(&self, client: &aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
        let conf = client
            .config()
            .to_builder()
            .interceptor(self.clone())
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    pub fn take(&self) -> std::collections::BTreeMap<String, usize> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl aws_sdk_dynamodb::config::Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        // Items per transaction, for write-unit estimates (each item ≤ 1 KB costs 2 WRU).
        let items = if op == "TransactWriteItems" {
            context
                .request()
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
        } else {
            None
        };
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = items {
            *counts.entry(format!("{op} items")).or_default() += n;
        }
        *counts.entry(op).or_default() += 1;
        Ok(())
    }
}
