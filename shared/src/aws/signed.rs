//! The hand-signed AWS clients' common part ([`crate::s3`], [`crate::ssm`],
//! [`crate::cloudwatch`]): the region, identity and endpoint they sign for ([`Access`]), SigV4
//! through `aws-sigv4` (the SDK's own signer), one signed `POST` for the JSON and Query protocols,
//! and a reader for the XML answers of S3 and CloudWatch.

use std::time::Duration;

use aws_config::SdkConfig;

use super::{LambdaEnv, local_identity};
use crate::config::ConfigError;

/// What a hand-signed AWS client ([`crate::s3::S3`], [`crate::ssm::Ssm`]) holds: the workspace's
/// HTTP client, the region, the identity it signs as, an endpoint override, and its retries.
#[derive(Clone, Debug)]
pub struct Access {
    pub(crate) http: reqwest::Client,
    pub(crate) region: String,
    pub(crate) identity: aws_smithy_runtime_api::client::identity::Identity,
    /// Moto, a private endpoint; None: the service's own.
    pub(crate) endpoint: Option<String>,
    pub(crate) retry: crate::http::RetryPolicy,
}

impl Access {
    pub fn new(
        http: reqwest::Client,
        region: impl Into<String>,
        credentials: aws_sdk_dynamodb::config::Credentials,
        endpoint: Option<String>,
    ) -> Self {
        Self {
            http,
            region: region.into(),
            identity: credentials.into(),
            endpoint: endpoint.map(|e| e.trim_end_matches('/').to_owned()),
            retry: crate::http::RetryPolicy::default(),
        }
    }

    /// Inside a Lambda function: its region and role, and the override `variable`
    /// (`AWS_ENDPOINT_URL_S3`, …; else `AWS_ENDPOINT_URL`) when set.
    pub fn lambda(env: &LambdaEnv, variable: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(
            signing_http_client()?,
            env.region.clone(),
            env.credentials.clone(),
            env.endpoint(variable).map(str::to_owned),
        ))
    }

    /// A local endpoint (moto) with static dummy credentials, like [`super::local_dynamodb_client`]:
    /// the tests use it.
    pub fn local(endpoint: &str) -> Result<Self, ConfigError> {
        let (region, credentials) = local_identity();
        Ok(Self::new(
            signing_http_client()?,
            region.to_string(),
            credentials,
            Some(endpoint.to_owned()),
        ))
    }

    /// On an operator's machine (the CLI): the SDK's full chain (profiles, `AWS_PROFILE`, SSO),
    /// its credentials resolved once, and the override `variable` (else `AWS_ENDPOINT_URL`).
    pub async fn operator(sdk: &SdkConfig, variable: &str) -> Result<Self, ConfigError> {
        use aws_credential_types::provider::ProvideCredentials;
        let invalid = |reason: String| ConfigError::Invalid {
            name: "AWS_REGION",
            reason,
        };
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| invalid("no AWS region to call AWS in".into()))?;
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| invalid("no AWS credentials to call AWS with".into()))?
            .provide_credentials()
            .await
            .map_err(|e| invalid(format!("no AWS credentials to call AWS with: {e}")))?;
        let endpoint = [variable, "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
        Ok(Self::new(
            signing_http_client()?,
            region,
            credentials,
            endpoint,
        ))
    }

    /// Signs `method url` with `headers` and `body` for `service` with SigV4, through `aws-sigv4`
    /// (the SDK's own signer, so the canonical request is not re-derived here); `settings`
    /// carries what a service needs (S3's single URI encoding and payload header, presigning).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn sign(
        &self,
        service: &str,
        time: std::time::SystemTime,
        settings: aws_sigv4::http_request::SigningSettings,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: aws_sigv4::http_request::SignableBody<'_>,
    ) -> Result<Signed, String> {
        use aws_sigv4::http_request::{SignableRequest, sign};
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(method, url, headers.iter().copied(), body)
            .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (headers, params) = instructions.into_parts();
        Ok(Signed {
            headers: headers
                .into_iter()
                .map(|h| (h.name().to_owned(), h.value().to_owned()))
                .collect(),
            params: params
                .into_iter()
                .map(|(k, v)| (k, v.into_owned()))
                .collect(),
        })
    }
}

/// Why a signed POST got no answer.
#[derive(Debug)]
pub(crate) enum PostError {
    Signing(String),
    Transport(String),
}

impl Access {
    /// `POST url` with `body` (its headers signed, the body's hash included), as the JSON and
    /// Query protocols call: the status and the answer's text.
    pub(crate) async fn post_signed(
        &self,
        service: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<(u16, String), PostError> {
        let signed = self
            .sign(
                service,
                std::time::SystemTime::now(),
                aws_sigv4::http_request::SigningSettings::default(),
                "POST",
                url,
                headers,
                aws_sigv4::http_request::SignableBody::Bytes(body.as_bytes()),
            )
            .map_err(PostError::Signing)?;
        let mut request = self.http.post(url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        for (name, value) in &signed.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let transport = |e: reqwest::Error| PostError::Transport(e.to_string());
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        Ok((status, response.text().await.map_err(transport)?))
    }
}

/// The workspace's HTTP client for the hand-signed calls; the only way it fails is a bad private
/// CA bundle.
fn signing_http_client() -> Result<reqwest::Client, ConfigError> {
    crate::http::client(Duration::from_secs(30)).map_err(|e| ConfigError::Invalid {
        name: "SSL_CERT_FILE",
        reason: e.to_string(),
    })
}

/// Reads the XML of S3's and CloudWatch's answers: calls `on(path, Some(text))` for each
/// element's text and `on(path, None)` when the element closes; `path` is the element names from
/// the root.
pub(crate) fn walk_xml(
    body: &str,
    mut on: impl FnMut(&[&str], Option<&str>),
) -> Result<(), String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut names: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                names.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
            }
            Ok(Event::Text(t)) => {
                let decoded = t.decode().map_err(|e| e.to_string())?;
                text.push_str(&decoded);
            }
            Ok(Event::GeneralRef(r)) => {
                // An entity (`&amp;`, `&#13;`) inside a text: quick-xml reports it apart.
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                    continue;
                }
                text.push_str(match &*r {
                    b"amp" => "&",
                    b"lt" => "<",
                    b"gt" => ">",
                    b"quot" => "\"",
                    b"apos" => "'",
                    other => {
                        let other = String::from_utf8_lossy(other);
                        return Err(format!("unknown entity &{other};"));
                    }
                });
            }
            Ok(Event::End(_)) => {
                let path: Vec<&str> = names.iter().map(String::as_str).collect();
                if !text.is_empty() {
                    on(&path, Some(&text));
                    text.clear();
                }
                on(&path, None);
                names.pop();
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// What SigV4 adds to a request: headers (signed in headers) or query parameters (presigned).
pub(crate) struct Signed {
    pub headers: Vec<(String, String)>,
    pub params: Vec<(&'static str, String)>,
}
