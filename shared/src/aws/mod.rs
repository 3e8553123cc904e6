//! AWS SDK clients, built once per process in `main`.
//!
//! The SDK sends its requests through the same reqwest client (rustls on *ring*, the same trust
//! roots) that talks to Creatio and Twilio, through [`ReqwestHttpClient`] below, instead of the
//! SDK's own hyper/rustls stack. Why: one TLS stack and one set of trust roots in the binary, and
//! a cold start that does not read and parse the system's certificate directory twice (the SDK's
//! client and reqwest's platform verifier each did, ~2 ms apiece; see `http.rs` for the roots).
//!
//! Region, credentials and endpoint overrides: a Lambda function reads the variables the runtime
//! sets ([`lambda_sdk_config`]); the CLI, on an operator's machine, uses aws-config's full chain
//! ([`sdk_config`]).
//!
//! The few calls made without an SDK crate (S3, SSM, CloudWatch) share [`Access`], in
//! `signed.rs`: aws-sigv4 over the same reqwest client.

mod signed;

pub use signed::Access;
pub(crate) use signed::{PostError, walk_xml};

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{ConfigError, Source, missing, var};
use aws_sdk_dynamodb::config::{RuntimeComponents, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_types::body::SdkBody;

/// The SDK configuration for an operator's machine (the CLI): aws-config's full chain, so
/// profiles, `AWS_PROFILE` and assumed roles work as they do for the AWS CLI.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK configuration inside a Lambda function, from the variables the Lambda runtime sets:
/// `AWS_REGION`, and the execution role's `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
/// `AWS_SESSION_TOKEN`; endpoint overrides from the SDK's standard `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_<SERVICE>` (moto in the tests, the bench and `cargo lambda watch`).
///
/// Why not aws-config's default chain, as [`sdk_config`]: in Lambda the first link of that
/// chain, the environment, always answers. The rest of it (profile files, SSO, web identity and
/// STS, ECS and IMDS) only cost start-up time (0.3–0.5 ms measured, most of it looking for
/// `~/.aws` files and resolving a dozen settings through it) and binary size. Without the
/// variables the function stops at start-up with the one it misses named.
pub fn lambda_sdk_config(src: &dyn Source) -> Result<SdkConfig, ConfigError> {
    Ok(LambdaEnv::from_env(src)?.sdk_config())
}

/// What the Lambda runtime tells a function about where it runs and as whom: its region, its
/// role's credentials, and the endpoint overrides. Read once; [`LambdaEnv::sdk_config`] builds the
/// SDK's configuration from it and [`crate::s3::S3::from_lambda_env`] the S3 client.
#[derive(Debug, Clone)]
pub struct LambdaEnv {
    pub region: String,
    pub credentials: aws_sdk_dynamodb::config::Credentials,
    endpoints: Vec<(&'static str, String)>,
}

impl LambdaEnv {
    pub fn from_env(src: &dyn Source) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            var(src, name).ok_or_else(|| {
                missing(
                    name,
                    "the Lambda runtime sets it (from the function's region and role); set it for a local run",
                )
            })
        };
        let region = required("AWS_REGION")?;
        let credentials = aws_sdk_dynamodb::config::Credentials::new(
            required("AWS_ACCESS_KEY_ID")?,
            required("AWS_SECRET_ACCESS_KEY")?,
            var(src, "AWS_SESSION_TOKEN"),
            None,
            "lambda-environment",
        );
        let mut endpoints = Vec::new();
        for name in ENDPOINT_VARIABLES {
            let Some(url) = var(src, name) else { continue };
            let uri = url.parse::<http::Uri>().ok();
            if !uri.is_some_and(|u| {
                matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some()
            }) {
                return Err(ConfigError::Invalid {
                    name,
                    reason: format!("{url:?} is not an http(s) URL"),
                });
            }
            endpoints.push((name, url));
        }
        Ok(Self {
            region,
            credentials,
            endpoints,
        })
    }

    /// The endpoint override for a service (`AWS_ENDPOINT_URL_S3`, say), else the global
    /// `AWS_ENDPOINT_URL`, else `None` (AWS's own endpoint).
    pub fn endpoint(&self, service_variable: &str) -> Option<&str> {
        let find = |wanted: &str| {
            self.endpoints
                .iter()
                .find(|(n, _)| *n == wanted)
                .map(|(_, url)| url.as_str())
        };
        find(service_variable).or_else(|| find("AWS_ENDPOINT_URL"))
    }

    pub fn sdk_config(&self) -> SdkConfig {
        let mut builder = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                self.credentials.clone(),
            ))
            .http_client(https_client());
        if let Some((_, url)) = self
            .endpoints
            .iter()
            .find(|(n, _)| *n == "AWS_ENDPOINT_URL")
        {
            builder = builder.endpoint_url(url.clone());
        }
        builder
            .service_config(EndpointOverrides(self.endpoints.clone()))
            .build()
    }
}

/// The endpoint variables a function reads: the global one and one per service it uses.
const ENDPOINT_VARIABLES: [&str; 4] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SSM",
];

/// `AWS_ENDPOINT_URL_<SERVICE>` as the SDK's clients ask for it: each asks its SdkConfig's
/// service config for (`AWS_ENDPOINT_URL`, its service id) when it is built.
#[derive(Debug, Default)]
struct EndpointOverrides(Vec<(&'static str, String)>);

impl aws_types::service_config::LoadServiceConfig for EndpointOverrides {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let name = format!(
            "{}_{}",
            key.env(),
            key.service_id().to_ascii_uppercase().replace(' ', "_")
        );
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, url)| url.clone())
    }
}

/// The SDK's HTTP client: every AWS client of the workspace is built with it.
pub fn https_client() -> SharedHttpClient {
    // A whole-request ceiling; the SDK's own read timeout, when set, is applied per request below.
    let client = crate::http::client(Duration::from_secs(30)).map_err(|e| e.to_string());
    SharedHttpClient::new(ReqwestHttpClient { client })
}

/// An SDK [`HttpClient`] over reqwest. The SDK keeps its own retries, signing and timeouts
/// around it; this only moves bytes. Request bodies are the SDK's in-memory JSON (DynamoDB; S3 does
/// not go through the SDK, see [`crate::s3`]), and responses are read whole, as the SDK
/// deserialises them whole anyway.
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::error::SdkError;

    use crate::config::ConfigError;

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

    /// A keep-alive HTTP server answering every request as an empty `ListTables`. Returns its
    /// URL, the number of connections it accepted and the requests it read.
    async fn list_tables_server() -> (
        String,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (counter, seen) = (accepted.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    // One request per read is enough for the SDK's small JSON bodies.
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
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
        (url, accepted, requests)
    }

    #[tokio::test]
    async fn one_sdk_client_reuses_one_connection() {
        // GIVEN a keep-alive HTTP server that counts the connections it accepts,
        let (url, accepted, _) = list_tables_server().await;
        // WHEN one DynamoDB client sends three requests one after another,
        let client = super::local_dynamodb_client(&url);
        for _ in 0..3 {
            client.list_tables().send().await.unwrap();
        }
        // THEN they share one pooled connection (a client per request would open three).
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    fn lambda_env<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<&'a str, &'a str> {
        let mut env = HashMap::from([
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDLAMBDAROLE"),
            ("AWS_SECRET_ACCESS_KEY", "lambda-secret"),
            ("AWS_SESSION_TOKEN", "lambda-session-token"),
        ]);
        env.extend(pairs.iter().copied());
        env
    }

    #[tokio::test]
    async fn a_function_signs_with_the_runtime_credentials_and_honours_the_endpoint_variable() {
        // GIVEN the variables the Lambda runtime sets, and a DynamoDB endpoint override
        let (url, _, requests) = list_tables_server().await;
        let env = lambda_env(&[("AWS_ENDPOINT_URL_DYNAMODB", url.as_str())]);
        // WHEN a DynamoDB client built from them sends a request
        let sdk = super::lambda_sdk_config(&env).unwrap();
        super::dynamodb_client(&sdk)
            .list_tables()
            .send()
            .await
            .unwrap();
        // THEN it went to the override, signed for the region with the role's key and token
        let requests = requests.lock().unwrap();
        let head = requests[0].to_ascii_lowercase();
        assert!(
            head.contains("credential=akidlambdarole/") && head.contains("/eu-west-1/dynamodb/"),
            "{head}"
        );
        assert!(
            head.contains("x-amz-security-token: lambda-session-token"),
            "{head}"
        );
    }

    #[test]
    fn a_missing_runtime_variable_or_a_bad_endpoint_is_named_at_start_up() {
        for name in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let mut env = lambda_env(&[]);
            env.remove(name);
            let err = super::lambda_sdk_config(&env).unwrap_err();
            assert!(
                matches!(err, ConfigError::Missing { name: n, .. } if n == name),
                "{err}"
            );
        }
        for name in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL_S3",
        ] {
            let env = lambda_env(&[(name, "localhost:8000")]);
            let err = super::lambda_sdk_config(&env).unwrap_err();
            assert!(
                matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
                "{err}"
            );
        }
        // A session token is optional (long-lived keys for a local run).
        let mut env = lambda_env(&[]);
        env.remove("AWS_SESSION_TOKEN");
        assert!(super::lambda_sdk_config(&env).is_ok());
    }
}
