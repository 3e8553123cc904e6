//! AWS SDK clients, built once per process in `main`.
//!
//! The SDK sends its requests through the same reqwest client (rustls on *ring*, the same trust
//! roots) that talks to Creatio and Twilio, through [`ReqwestHttpClient`] below, instead of the
//! SDK's own hyper/rustls stack. Why: one TLS stack and one set of trust roots in the binary, and
//! a cold start that does not read and parse the system's certificate directory twice (the SDK's
//! client and reqwest's platform verifier each did, ~2 ms apiece; see `http.rs` for the roots).
//! Region, credentials and the endpoint come from the SDK's standard chain: `AWS_REGION`, the
//! Lambda role, and `AWS_ENDPOINT_URL_DYNAMODB` for a local DynamoDB or moto.

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{RuntimeComponents, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's HTTP client: every AWS client of the workspace is built with it.
pub fn https_client() -> SharedHttpClient {
    // A whole-request ceiling; the SDK's own read timeout, when set, is applied per request below.
    let client = crate::http::client(Duration::from_secs(30)).map_err(|e| e.to_string());
    SharedHttpClient::new(ReqwestHttpClient { client })
}

/// An SDK [`HttpClient`] over reqwest. The SDK keeps its own retries, signing and timeouts
/// around it; this only moves bytes. Request bodies are the SDK's in-memory JSON or empty (the
/// S3 calls here are `HEAD` and `DELETE`; uploads and downloads go to presigned URLs), and
/// responses are read whole, as the SDK deserialises them whole anyway.
///
/// The SDK asks for a connector on every request attempt and leaves caching to the client, so
/// this holds one reqwest client (one connection pool) and hands out cheap clones of it.
#[derive(Debug, Clone)]
pub struct ReqwestHttpClient {
    client: Result<reqwest::Client, String>,
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(ReqwestConnector {
            client: self.client.clone(),
            read_timeout: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct ReqwestConnector {
    client: Result<reqwest::Client, String>,
    read_timeout: Option<Duration>,
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let read_timeout = self.read_timeout;
        HttpConnectorFuture::new(async move {
            let client = client.map_err(|e| ConnectorError::other(e.into(), None))?;
            let request = request
                .try_into_http1x()
                .map_err(|e| ConnectorError::user(e.into()))?;
            let (parts, body) = request.into_parts();
            let body = body.bytes().map(<[u8]>::to_vec).ok_or_else(|| {
                ConnectorError::user("streaming request bodies are not supported".into())
            })?;
            let mut outgoing = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body);
            if let Some(timeout) = read_timeout {
                outgoing = outgoing.timeout(timeout);
            }
            let response = outgoing.send().await.map_err(connector_error)?;
            let mut out = http::Response::builder().status(response.status());
            if let Some(headers) = out.headers_mut() {
                *headers = response.headers().clone();
            }
            let bytes = response.bytes().await.map_err(connector_error)?;
            let out = out
                .body(SdkBody::from(bytes))
                .map_err(|e| ConnectorError::other(e.into(), None))?;
            HttpResponse::try_from(out).map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}

/// Timeouts and connection failures are what the SDK's retry strategy treats as transient.
fn connector_error(e: reqwest::Error) -> ConnectorError {
    if e.is_timeout() {
        ConnectorError::timeout(e.into())
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ConnectorError::io(e.into())
    } else {
        ConnectorError::other(e.into(), None)
    }
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

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::error::SdkError;

    #[tokio::test]
    async fn a_refused_connection_reaches_the_sdk_as_a_retryable_io_failure() {
        // GIVEN a DynamoDB endpoint nobody listens on, WHEN a request is sent through the reqwest
        // connector, THEN the SDK sees an I/O dispatch failure: the kind its retry strategy
        // retries, not an opaque "other" error it would give up on at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let client = super::local_dynamodb_client(&format!("http://127.0.0.1:{port}"));
        let err = client
            .describe_table()
            .table_name("t")
            .send()
            .await
            .unwrap_err();
        match err {
            SdkError::DispatchFailure(failure) => assert!(failure.is_io(), "{failure:?}"),
            other => panic!("expected a dispatch failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn one_sdk_client_reuses_one_connection() {
        // GIVEN a keep-alive HTTP server that counts the connections it accepts,
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    // One request per read is enough for the SDK's small JSON bodies.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let body = r#"{"TableNames":[]}"#;
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket.write_all(response.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        // WHEN one DynamoDB client sends three requests one after another,
        let client = super::local_dynamodb_client(&format!("http://127.0.0.1:{port}"));
        for _ in 0..3 {
            client.list_tables().send().await.unwrap();
        }
        // THEN they share one pooled connection (a client per request would open three).
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
