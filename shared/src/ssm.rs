//! SSM Parameter Store, as much of it as casebridge uses: `GetParameters` with decryption (the
//! secrets a function starts with, [`crate::secrets`]) and `PutParameter` (the CLI and the tests
//! write SecureStrings with it).
//!
//! Like [`crate::s3`], each call is one reqwest request on the workspace's client signed with
//! `aws-sigv4`, not an SDK crate: SSM speaks the AWS JSON 1.1 protocol (`POST /` with
//! `X-Amz-Target: AmazonSSM.<Operation>` and a JSON body), and its answers are a few fields.
//! `GetParameters` takes at most 10 names a request (SSM API reference), so more are asked for
//! in chunks. Errors are `{"__type": "…#Code", "message": "…"}`; a `ThrottlingException` is a 400
//! and is retried like a 5xx.

use std::collections::HashMap;

use backon::Retryable;
use serde_json::{Value, json};

use crate::aws::{Access, LambdaEnv, PostError};
use crate::config::ConfigError;

/// SSM's limit on names in one `GetParameters` request.
const NAMES_PER_REQUEST: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("SSM answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("SSM could not be reached: {0}")]
    Transport(String),
    #[error("cannot sign the SSM request: {0}")]
    Signing(String),
    #[error("SSM's answer could not be read: {0}")]
    Unreadable(String),
}

impl SsmError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, code, .. } => {
                *status >= 500 || *status == 429 || code == "ThrottlingException"
            }
            Self::Transport(_) => true,
            _ => false,
        }
    }
}

/// One parameter's value and version.
#[derive(Clone, PartialEq, Eq)]
pub struct Parameter {
    pub value: String,
    pub version: i64,
}

impl std::fmt::Debug for Parameter {
    /// The value is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameter")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// What `GetParameters` found: the parameters by name, and the names it does not have.
#[derive(Debug, Default)]
pub struct Found {
    pub parameters: HashMap<String, Parameter>,
    pub missing: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Ssm {
    access: Access,
}

impl Ssm {
    pub fn new(access: Access) -> Self {
        Self { access }
    }

    /// Inside a Lambda function: its region and role, and `AWS_ENDPOINT_URL_SSM` (else
    /// `AWS_ENDPOINT_URL`) when set.
    pub fn from_lambda_env(env: &LambdaEnv) -> Result<Self, ConfigError> {
        Access::lambda(env, "AWS_ENDPOINT_URL_SSM").map(Self::new)
    }

    /// On an operator's machine (the CLI), with the SDK's full credential chain.
    pub async fn from_sdk_config(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Access::operator(sdk, "AWS_ENDPOINT_URL_SSM")
            .await
            .map(Self::new)
    }

    /// A local SSM (moto) with static dummy credentials: the tests use it.
    pub fn local(endpoint: &str) -> Result<Self, ConfigError> {
        Access::local(endpoint).map(Self::new)
    }

    fn url(&self) -> String {
        match &self.access.endpoint {
            Some(e) => format!("{e}/"),
            None => format!("https://ssm.{}.amazonaws.com/", self.access.region),
        }
    }

    /// The decrypted values of `names`, in as few requests as SSM allows.
    pub async fn get_parameters(&self, names: &[String]) -> Result<Found, SsmError> {
        let mut found = Found::default();
        for chunk in names.chunks(NAMES_PER_REQUEST) {
            let answer = self
                .call(
                    "GetParameters",
                    &json!({"Names": chunk, "WithDecryption": true}),
                )
                .await?;
            for p in answer["Parameters"].as_array().into_iter().flatten() {
                let (Some(name), Some(value)) = (p["Name"].as_str(), p["Value"].as_str()) else {
                    return Err(SsmError::Unreadable(
                        "a parameter without Name or Value".into(),
                    ));
                };
                found.parameters.insert(
                    name.to_owned(),
                    Parameter {
                        value: value.to_owned(),
                        version: p["Version"].as_i64().unwrap_or(0),
                    },
                );
            }
            found.missing.extend(
                answer["InvalidParameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
        Ok(found)
    }

    /// Writes `value` as a SecureString under `name` (encrypted with the account's `aws/ssm`
    /// key), replacing what is there: its new version.
    pub async fn put_secure_string(&self, name: &str, value: &str) -> Result<i64, SsmError> {
        let answer = self
            .call(
                "PutParameter",
                &json!({"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true}),
            )
            .await?;
        Ok(answer["Version"].as_i64().unwrap_or(0))
    }

    /// One JSON 1.1 call, retried on a transient failure.
    async fn call(&self, operation: &str, body: &Value) -> Result<Value, SsmError> {
        let body = body.to_string();
        let target = format!("AmazonSSM.{operation}");
        let attempt = || async {
            let headers = [
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target.as_str()),
            ];
            // Signed per attempt: the signature carries the time.
            let url = self.url();
            let (status, text) = self
                .access
                .post_signed("ssm", &url, &headers, body.clone())
                .await
                .map_err(|e| match e {
                    PostError::Signing(e) => SsmError::Signing(e),
                    PostError::Transport(e) => SsmError::Transport(e),
                })?;
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            if (200..300).contains(&status) {
                return Ok(value);
            }
            // `__type` is `[namespace#]Code`; the message is `message` or `Message`.
            let code = value["__type"]
                .as_str()
                .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
                .unwrap_or_else(|| "(no code)".into());
            let message = value["message"]
                .as_str()
                .or(value["Message"].as_str())
                .unwrap_or_default()
                .to_owned();
            Err(SsmError::Refused {
                status,
                code,
                message,
            })
        };
        attempt
            .retry(self.access.retry.backoff())
            .when(SsmError::is_transient)
            .notify(|e, delay| tracing::warn!(error = %e, ?delay, "SSM call failed; retrying"))
            .await
    }
}
