//! S3, as much of it as casebridge uses: presigned `PUT` and `GET` URLs for widget attachments,
//! `GET`, `PUT`, `HEAD` and `DELETE` of one object, and `ListObjectsV2` for the knowledge folder.
//!
//! Why not `aws-sdk-s3`: those calls were most of widget-inbound's weight (the SDK's generated
//! operations, serde of every S3 shape, its checksum and endpoint-rule machinery), which put the
//! function over its 8 MB budget. Here each call is one reqwest request on the workspace's client
//! (same TLS stack, same trust roots), signed with `aws-sigv4`, the SigV4 signer the SDK itself
//! uses, so the signing rules are not re-derived here; only S3's own choices are made explicit:
//!
//! - **URI encoding**: the key is encoded once, every byte but RFC 3986's unreserved characters
//!   and `/` (S3's `UriEncode`), and signed as sent (`PercentEncodingMode::Single`, no path
//!   normalisation: S3 signs the path it receives, unlike other services). Keys with empty,
//!   `.` or `..` segments are refused, since an HTTP stack may rewrite them.
//! - **Payload**: a header-signed request carries `x-amz-content-sha256`; bodies are sent as
//!   `UNSIGNED-PAYLOAD` (allowed by S3 over TLS; no second pass over a 10 MiB upload). A presigned
//!   URL signs `host` and the headers it names, with `UNSIGNED-PAYLOAD`, as S3's presigned URLs do.
//! - **Addressing**: virtual-hosted (`https://{bucket}.s3.{region}.amazonaws.com/{key}`) in AWS,
//!   path-style (`{endpoint}/{bucket}/{key}`) when an endpoint is set (moto), and for bucket
//!   names with dots, whose virtual host the TLS certificate does not cover.
//!
//! The unit tests reproduce AWS's published signatures (S3 developer guide, "Signature
//! Version 4" examples) byte for byte; the widget's and knowledge-sync's tests run every call
//! against S3 on moto. Calls are retried (the workspace's [`RetryPolicy`]) on a 5xx, a 429 or a
//! transport failure; all of them are idempotent.
//!
//! [`RetryPolicy`]: crate::http::RetryPolicy

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use backon::Retryable;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::aws::{Access, LambdaEnv};
use crate::config::ConfigError;

/// Everything but RFC 3986's unreserved characters is encoded (S3's `UriEncode`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// The same in a path, where `/` separates segments and stays.
const PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Why an S3 call failed.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// S3 answered with an error; `code` is S3's (`NoSuchBucket`, `AccessDenied`…).
    #[error("S3 answered {status} {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("S3 could not be reached: {0}")]
    Transport(String),
    #[error("cannot sign the S3 request: {0}")]
    Signing(String),
    #[error("not a usable S3 object key: {0:?}")]
    BadKey(String),
    #[error("S3's answer could not be read: {0}")]
    Unreadable(String),
}

impl S3Error {
    fn is_transient(&self) -> bool {
        match self {
            Self::Refused { status, .. } => *status >= 500 || *status == 429,
            Self::Transport(_) => true,
            _ => false,
        }
    }
}

/// An object's metadata, from `HEAD` or `GET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
}

/// What `GET` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Missing,
    /// Larger than the caller reads: the body was not read.
    TooLarge {
        size: u64,
    },
    Object {
        info: ObjectInfo,
        bytes: Vec<u8>,
    },
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// A presigned request: the URL, and the headers the request must carry because they are
/// signed (`content-length`, which clients set themselves, is left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub url: String,
    pub headers: Vec<(String, String)>,
}

/// An S3 client: region, credentials and endpoint ([`Access`]), and the workspace's HTTP
/// client. Build once per container.
#[derive(Clone, Debug)]
pub struct S3 {
    access: Access,
}

/// How a request is signed.
enum Signature {
    /// `Authorization` and `x-amz-*` headers.
    Headers,
    /// Query parameters, valid for the duration.
    Presigned(Duration),
}

impl S3 {
    pub fn new(access: Access) -> Self {
        Self { access }
    }

    /// Inside a Lambda function: its region and role, and `AWS_ENDPOINT_URL_S3` (else
    /// `AWS_ENDPOINT_URL`) when set.
    pub fn from_lambda_env(env: &LambdaEnv) -> Result<Self, ConfigError> {
        Access::lambda(env, "AWS_ENDPOINT_URL_S3").map(Self::new)
    }

    /// A local S3 (moto) with static dummy credentials: the tests use it.
    pub fn local(endpoint: &str) -> Result<Self, ConfigError> {
        Access::local(endpoint).map(Self::new)
    }

    /// A URL that uploads exactly `size` bytes of `content_type` to `key` until `ttl` passes.
    pub fn presign_put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        size: u64,
        content_disposition: &str,
        ttl: Duration,
    ) -> Result<Presigned, S3Error> {
        let size = size.to_string();
        let headers = [
            ("content-type", content_type),
            ("content-length", size.as_str()),
            ("content-disposition", content_disposition),
        ];
        let (url, _) = self.signed(
            "PUT",
            &self.url(bucket, key, &[])?,
            &headers,
            Signature::Presigned(ttl),
            SystemTime::now(),
        )?;
        Ok(Presigned {
            url,
            headers: headers
                .iter()
                .filter(|(k, _)| *k != "content-length")
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    /// A URL that serves `key` until `ttl` passes.
    pub fn presign_get(&self, bucket: &str, key: &str, ttl: Duration) -> Result<String, S3Error> {
        self.signed(
            "GET",
            &self.url(bucket, key, &[])?,
            &[],
            Signature::Presigned(ttl),
            SystemTime::now(),
        )
        .map(|(url, _)| url)
    }

    /// `HEAD`: the object's metadata, `None` when there is none.
    pub async fn head(&self, bucket: &str, key: &str) -> Result<Option<ObjectInfo>, S3Error> {
        let url = self.url(bucket, key, &[])?;
        let response = self.send("HEAD", &url, &[], None).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check(response).await?;
        Ok(Some(info(&response)))
    }

    /// `GET`: the object read whole when it is at most `max_bytes`.
    pub async fn get(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Got, S3Error> {
        let url = self.url(bucket, key, &[])?;
        let response = self.send("GET", &url, &[], None).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            // A missing key is an answer; a missing bucket is a configuration mistake.
            return match refused(response).await {
                S3Error::Refused { code, .. } if code == "NoSuchKey" => Ok(Got::Missing),
                other => Err(other),
            };
        }
        let mut response = check(response).await?;
        let info = info(&response);
        if info.size > max_bytes {
            // Dropping the response closes the connection: nothing more is read.
            return Ok(Got::TooLarge { size: info.size });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                return Ok(Got::TooLarge {
                    size: bytes.len() as u64,
                });
            }
        }
        Ok(Got::Object { info, bytes })
    }

    /// `PUT`: writes `body` under `key`.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        content_disposition: Option<&str>,
        body: Vec<u8>,
    ) -> Result<(), S3Error> {
        let url = self.url(bucket, key, &[])?;
        let mut headers = vec![("content-type", content_type)];
        if let Some(d) = content_disposition {
            headers.push(("content-disposition", d));
        }
        check(self.send("PUT", &url, &headers, Some(body)).await?)
            .await
            .map(drop)
    }

    /// `DELETE`: gone afterwards, whether or not it was there (S3 answers 204 either way).
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        let url = self.url(bucket, key, &[])?;
        check(self.send("DELETE", &url, &[], None).await?)
            .await
            .map(drop)
    }

    /// `CreateBucket` (the tests' and the bench's buckets on moto).
    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let url = self.bucket_url(bucket, &[]);
        check(self.send("PUT", &url, &[], None).await?)
            .await
            .map(drop)
    }

    /// `ListObjectsV2` under `prefix`, every page (S3's pages hold up to 1,000 keys).
    pub async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, S3Error> {
        self.list_in_pages(bucket, prefix, None).await
    }

    /// [`S3::list`] with pages of at most `page_size` keys (`max-keys`): the tests page with it.
    pub async fn list_in_pages(
        &self,
        bucket: &str,
        prefix: &str,
        page_size: Option<u16>,
    ) -> Result<Vec<Listed>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let max_keys = page_size.map(|n| n.to_string());
        loop {
            let mut query = vec![("list-type", "2"), ("prefix", prefix)];
            if let Some(n) = &max_keys {
                query.push(("max-keys", n.as_str()));
            }
            if let Some(t) = &token {
                query.push(("continuation-token", t.as_str()));
            }
            let url = self.bucket_url(bucket, &query);
            let response = check(self.send("GET", &url, &[], None).await?).await?;
            let body = response.text().await.map_err(transport)?;
            let page = parse_listing(&body)?;
            out.extend(page.contents);
            match page.next {
                Some(next) if page.truncated => token = Some(next),
                _ => return Ok(out),
            }
        }
    }

    fn bucket_url(&self, bucket: &str, query: &[(&str, &str)]) -> String {
        let region = &self.access.region;
        let base = match &self.access.endpoint {
            Some(endpoint) => format!("{endpoint}/{bucket}/"),
            None if bucket.contains('.') => format!("https://s3.{region}.amazonaws.com/{bucket}/"),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
        };
        with_query(base, query)
    }

    fn url(&self, bucket: &str, key: &str, query: &[(&str, &str)]) -> Result<String, S3Error> {
        if key.is_empty()
            || key
                .split('/')
                .any(|segment| segment.is_empty() || segment == "." || segment == "..")
        {
            return Err(S3Error::BadKey(key.to_owned()));
        }
        let mut url = self.bucket_url(bucket, &[]);
        url.extend(utf8_percent_encode(key, PATH));
        Ok(with_query(url, query))
    }

    /// Signs `method url` with `headers`; returns the URL to send (with the signature when
    /// presigned) and the headers to add (the signature's when header-signed).
    fn signed(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        signature: Signature,
        time: SystemTime,
    ) -> Result<(String, Vec<(String, String)>), S3Error> {
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let body = match signature {
            Signature::Headers => {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                if method == "PUT" {
                    SignableBody::UnsignedPayload
                } else {
                    SignableBody::Bytes(&[])
                }
            }
            Signature::Presigned(ttl) => {
                settings.signature_location = SignatureLocation::QueryParams;
                settings.expires_in = Some(ttl);
                SignableBody::UnsignedPayload
            }
        };
        let signed = self
            .access
            .sign("s3", time, settings, method, url, headers, body)
            .map_err(S3Error::Signing)?;
        let mut url = url.to_owned();
        for (i, (name, value)) in signed.params.iter().enumerate() {
            let sep = if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            };
            url.push(sep);
            url.push_str(name);
            url.push('=');
            url.extend(utf8_percent_encode(value, QUERY_VALUE));
        }
        Ok((url, signed.headers))
    }

    /// One header-signed request, retried on a transient failure; the caller reads the answer.
    async fn send(
        &self,
        method: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, S3Error> {
        let attempt = || async {
            // Signed per attempt: the signature carries the time.
            let (url, signature) =
                self.signed(method, url, headers, Signature::Headers, SystemTime::now())?;
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|e| S3Error::Signing(e.to_string()))?;
            let mut request = self.access.http.request(method, url);
            for (name, value) in headers.iter().copied() {
                request = request.header(name, value);
            }
            for (name, value) in &signature {
                request = request.header(name.as_str(), value.as_str());
            }
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            let response = request.send().await.map_err(transport)?;
            let status = response.status().as_u16();
            if status >= 500 || status == 429 {
                return Err(refused(response).await);
            }
            Ok(response)
        };
        attempt
            .retry(self.access.retry.backoff())
            .when(S3Error::is_transient)
            .notify(|e, delay| {
                tracing::warn!(error = %e, ?delay, "S3 call failed; retrying");
            })
            .await
    }
}

fn with_query(mut url: String, query: &[(&str, &str)]) -> String {
    for (i, (name, value)) in query.iter().enumerate() {
        url.push(if i == 0 { '?' } else { '&' });
        url.extend(utf8_percent_encode(name, QUERY_VALUE));
        url.push('=');
        url.extend(utf8_percent_encode(value, QUERY_VALUE));
    }
    url
}

fn transport(e: reqwest::Error) -> S3Error {
    S3Error::Transport(e.to_string())
}

/// The answer when it is a success, else S3's error code and message.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, S3Error> {
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(refused(response).await)
    }
}

async fn refused(response: reqwest::Response) -> S3Error {
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    let (code, message) = parse_error(&body);
    S3Error::Refused {
        status,
        code: code.unwrap_or_else(|| "(no code)".into()),
        message: message.unwrap_or_default(),
    }
}

fn info(response: &reqwest::Response) -> ObjectInfo {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    ObjectInfo {
        size: header("content-length")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        content_type: header("content-type"),
        content_disposition: header("content-disposition"),
    }
}

/// `<Error><Code>…</Code><Message>…</Message></Error>`, S3's error body.
fn parse_error(body: &str) -> (Option<String>, Option<String>) {
    let mut code = None;
    let mut message = None;
    let _ = crate::aws::walk_xml(body, |path, text| match (path, text) {
        (["Error", "Code"], Some(text)) => code = Some(text.to_owned()),
        (["Error", "Message"], Some(text)) => message = Some(text.to_owned()),
        _ => {}
    });
    (code, message)
}

struct Page {
    contents: Vec<Listed>,
    truncated: bool,
    next: Option<String>,
}

/// A `ListBucketResult` page.
fn parse_listing(body: &str) -> Result<Page, S3Error> {
    let mut page = Page {
        contents: Vec::new(),
        truncated: false,
        next: None,
    };
    let mut key = None;
    let mut size = 0u64;
    crate::aws::walk_xml(body, |path, text| match (path, text) {
        (["ListBucketResult", "IsTruncated"], Some(text)) => page.truncated = text == "true",
        (["ListBucketResult", "NextContinuationToken"], Some(text)) => {
            page.next = Some(text.to_owned())
        }
        (["ListBucketResult", "Contents", "Key"], Some(text)) => key = Some(text.to_owned()),
        (["ListBucketResult", "Contents", "Size"], Some(text)) => size = text.parse().unwrap_or(0),
        (["ListBucketResult", "Contents"], None) => {
            if let Some(key) = key.take() {
                page.contents.push(Listed { key, size });
            }
            size = 0;
        }
        _ => {}
    })
    .map_err(S3Error::Unreadable)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    /// AWS's example credentials and bucket from the S3 SigV4 documentation.
    fn example() -> S3 {
        let credentials = Credentials::new(
            concat!("AKIA", "IOSFODNN7EXAMPLE"),
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        );
        S3::new(Access::new(http(), "us-east-1", credentials, None))
    }

    fn http() -> reqwest::Client {
        crate::http::client(Duration::from_secs(5)).unwrap()
    }

    /// 2013-05-24T00:00:00Z, the examples' clock.
    fn may_24_2013() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    #[test]
    fn the_documented_presigned_get_is_reproduced() {
        // "Example: Presigned URL" (GET test.txt from examplebucket, 86400 s). The examples use
        // the global endpoint, so the host is given here as they give it.
        let s3 = example();
        let (url, headers) = s3
            .signed(
                "GET",
                "https://examplebucket.s3.amazonaws.com/test.txt",
                &[],
                Signature::Presigned(Duration::from_secs(86_400)),
                may_24_2013(),
            )
            .unwrap();
        assert!(headers.is_empty());
        assert!(url.starts_with("https://examplebucket.s3.amazonaws.com/test.txt?"));
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
            "X-Amz-Date=20130524T000000Z",
            "X-Amz-Expires=86400",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
    }

    #[test]
    fn the_documented_get_object_is_reproduced() {
        // "Example: GET Object" (the first ten bytes of test.txt), signed in headers.
        let (url, headers) = example()
            .signed(
                "GET",
                "https://examplebucket.s3.amazonaws.com/test.txt",
                &[("range", "bytes=0-9")],
                Signature::Headers,
                may_24_2013(),
            )
            .unwrap();
        assert_eq!(url, "https://examplebucket.s3.amazonaws.com/test.txt");
        assert_eq!(
            header(&headers, "x-amz-content-sha256"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(header(&headers, "x-amz-date"), "20130524T000000Z");
        let authorization = header(&headers, "authorization");
        assert!(
            authorization.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date"),
            "{authorization}"
        );
        assert!(
            authorization.ends_with(
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
            "{authorization}"
        );
    }

    #[test]
    fn the_documented_list_objects_is_reproduced() {
        // "Example: GET Bucket (List Objects)": max-keys=2, prefix=J.
        let (_, headers) = example()
            .signed(
                "GET",
                "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J",
                &[],
                Signature::Headers,
                may_24_2013(),
            )
            .unwrap();
        assert!(
            header(&headers, "authorization").ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{headers:?}"
        );
    }

    #[test]
    fn keys_are_encoded_once_and_addressed_by_endpoint_or_bucket_host() {
        let s3 = example();
        assert_eq!(
            s3.url("examplebucket", "a b/ü+(1).pdf", &[]).unwrap(),
            "https://examplebucket.s3.us-east-1.amazonaws.com/a%20b/%C3%BC%2B%281%29.pdf"
        );
        assert_eq!(
            s3.url("dotted.bucket", "k", &[]).unwrap(),
            "https://s3.us-east-1.amazonaws.com/dotted.bucket/k"
        );
        let mut local = example();
        local.access.endpoint = Some("http://127.0.0.1:5000".into());
        assert_eq!(
            local.url("b", "uploads/s/1", &[]).unwrap(),
            "http://127.0.0.1:5000/b/uploads/s/1"
        );
        assert_eq!(
            local.bucket_url("b", &[("list-type", "2"), ("prefix", "kb/a b")]),
            "http://127.0.0.1:5000/b/?list-type=2&prefix=kb%2Fa%20b"
        );
        for bad in ["", "a//b", "a/../b", "./a", "a/"] {
            assert!(
                matches!(s3.url("b", bad, &[]), Err(S3Error::BadKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_presigned_upload_signs_its_type_size_and_name() {
        let p = example()
            .presign_put(
                "examplebucket",
                "uploads/s/1",
                "application/pdf",
                1234,
                "attachment; filename=\"a.pdf\"",
                Duration::from_secs(900),
            )
            .unwrap();
        assert!(
            p.url.contains(
                "X-Amz-SignedHeaders=content-disposition%3Bcontent-length%3Bcontent-type%3Bhost"
            ),
            "{}",
            p.url
        );
        assert!(p.url.contains("X-Amz-Expires=900"));
        assert_eq!(
            p.headers,
            [
                ("content-type".to_owned(), "application/pdf".to_owned()),
                (
                    "content-disposition".to_owned(),
                    "attachment; filename=\"a.pdf\"".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_session_token_is_signed_into_the_request() {
        let s3 = S3::new(Access::new(
            http(),
            "eu-west-1",
            Credentials::new("AKID", "secret", Some("token+/=".into()), None, "t"),
            None,
        ));
        let url = s3.presign_get("b", "k", Duration::from_secs(60)).unwrap();
        assert!(url.contains("X-Amz-Security-Token=token%2B%2F%3D"), "{url}");
        let (_, headers) = s3
            .signed(
                "DELETE",
                "https://b.s3.eu-west-1.amazonaws.com/k",
                &[],
                Signature::Headers,
                may_24_2013(),
            )
            .unwrap();
        assert_eq!(header(&headers, "x-amz-security-token"), "token+/=");
        assert!(header(&headers, "authorization").contains("x-amz-security-token"));
    }

    #[test]
    fn listings_and_errors_are_read() {
        let page = parse_listing(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>kb/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>kb/a &amp; b&#13;.md</Key><Size>12</Size><ETag>"x"</ETag></Contents>
  <Contents><Key>kb/c.md</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>3</Size></Contents>
</ListBucketResult>"#,
        )
        .unwrap();
        assert!(page.truncated);
        assert_eq!(
            page.next.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
        assert_eq!(
            page.contents,
            [
                Listed {
                    key: "kb/a & b\r.md".into(),
                    size: 12
                },
                Listed {
                    key: "kb/c.md".into(),
                    size: 3
                }
            ]
        );
        assert_eq!(
            parse_error(
                "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>"
            ),
            (
                Some("NoSuchBucket".into()),
                Some("The specified bucket does not exist".into())
            )
        );
    }
}
