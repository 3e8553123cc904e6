//! Where visitor attachments are kept: the [`AttachmentStore`] seam, S3 behind it in production
//! and [`MemoryAttachments`] in the local stack. The flow that uses it is in [`crate::attachments`].
//!
//! Why `aws-sdk-s3` and not hand-signed SigV4 URLs: presigning, `HEAD` and `DELETE` are three
//! calls of a client that is built like the DynamoDB one (same TLS stack, same credentials
//! chain), and S3's signing rules are not something to re-derive. The measured size cost is in
//! the README (“Figures”).
//!
//! [`MemoryAttachments`] stands in for S3 in the local stack with the same rules: an upload must
//! present its ticket, the declared type and exactly the declared size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use casebridge::config::BaseUrl;

/// How long a presigned upload stays usable.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);
/// How long the storage URL behind a download link stays usable.
pub const DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);

/// A presigned upload: the browser sends `PUT url` with these headers and the file as the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub url: String,
    /// Headers the upload must carry (they are part of the signature). `content-length` is left
    /// out: browsers set it themselves, and storage checks it against the signed size.
    pub headers: Vec<(String, String)>,
}

/// What storage holds under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub size: u64,
    pub content_type: String,
    /// The file name, from the stored `Content-Disposition`.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("attachment storage failed: {0}")]
pub struct AttachmentError(pub String);

/// Where attachments live. One key per attachment: `attachments/{session}/{attachment}`.
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    async fn upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        disposition: &str,
    ) -> Result<Upload, AttachmentError>;
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError>;
    async fn delete(&self, key: &str) -> Result<(), AttachmentError>;
    async fn download_url(&self, key: &str) -> Result<String, AttachmentError>;
}

/// S3: presigned `PUT`/`GET`, `HEAD` and `DELETE` on one bucket.
pub struct S3Attachments {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Attachments {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    /// A client for a local S3 (moto) with path-style addressing and static dummy credentials,
    /// like `casebridge::aws::local_dynamodb_client`; the tests and the local runner use it.
    pub fn local_client(endpoint: &str) -> aws_sdk_s3::Client {
        let (region, credentials) = casebridge::aws::local_identity();
        let conf = aws_sdk_s3::Config::builder()
            .http_client(casebridge::aws::https_client())
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(region)
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

fn presigning(ttl: Duration) -> Result<aws_sdk_s3::presigning::PresigningConfig, AttachmentError> {
    aws_sdk_s3::presigning::PresigningConfig::expires_in(ttl)
        .map_err(|e| AttachmentError(e.to_string()))
}

fn s3_error<E: std::error::Error>(e: E) -> AttachmentError {
    // The SDK's Display is a bare "service error"; the source chain says what happened.
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    AttachmentError(msg)
}

#[async_trait]
impl AttachmentStore for S3Attachments {
    async fn upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        disposition: &str,
    ) -> Result<Upload, AttachmentError> {
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(size).map_err(s3_error)?)
            .content_disposition(disposition)
            .presigned(presigning(UPLOAD_TTL)?)
            .await
            .map_err(s3_error)?;
        Ok(Upload {
            url: presigned.uri().to_owned(),
            headers: presigned
                .headers()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
                .collect(),
        })
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(StoredObject {
                size: o
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: o.content_type().unwrap_or_default().to_owned(),
                name: o
                    .content_disposition()
                    .and_then(crate::attachments::name_from_disposition),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), AttachmentError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(s3_error)
    }

    async fn download_url(&self, key: &str) -> Result<String, AttachmentError> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(DOWNLOAD_TTL)?)
            .await
            .map_err(s3_error)?;
        Ok(presigned.uri().to_owned())
    }
}

/// The local stack's storage: files in memory, uploaded to and served from
/// `{base}/local/uploads/{key}`. Like a presigned URL, an upload needs the ticket it was given,
/// the declared content type and no more than the declared size.
pub struct MemoryAttachments {
    base: BaseUrl,
    inner: Mutex<HashMap<String, Slot>>,
}

enum Slot {
    Pending {
        ticket: String,
        content_type: String,
        size: u64,
        disposition: String,
    },
    Stored {
        content_type: String,
        disposition: String,
        bytes: Vec<u8>,
    },
}

/// A stored file as the local stack serves it.
pub struct LocalFile {
    pub content_type: String,
    pub disposition: String,
    pub bytes: Vec<u8>,
}

impl MemoryAttachments {
    pub fn new(base: BaseUrl) -> Self {
        Self {
            base,
            inner: Mutex::new(HashMap::new()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `PUT /local/uploads/{key}?ticket=…`: `Err` carries the status and the reason, as S3 would
    /// answer 403 to a bad signature.
    pub fn put(
        &self,
        key: &str,
        ticket: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), (u16, &'static str)> {
        let mut slots = self.slots();
        let Some(Slot::Pending {
            ticket: t,
            content_type: ct,
            size,
            disposition,
        }) = slots.get(key)
        else {
            return Err((403, "no upload is expected for this key"));
        };
        if t != ticket {
            return Err((403, "the upload ticket does not match"));
        }
        if ct != content_type {
            return Err((403, "the content type is not the one declared"));
        }
        if bytes.len() as u64 != *size {
            return Err((400, "the body is not the declared size"));
        }
        let stored = Slot::Stored {
            content_type: ct.clone(),
            disposition: disposition.clone(),
            bytes,
        };
        slots.insert(key.to_owned(), stored);
        Ok(())
    }

    /// `GET /local/uploads/{key}`.
    pub fn get(&self, key: &str) -> Option<LocalFile> {
        match self.slots().get(key) {
            Some(Slot::Stored {
                content_type,
                disposition,
                bytes,
            }) => Some(LocalFile {
                content_type: content_type.clone(),
                disposition: disposition.clone(),
                bytes: bytes.clone(),
            }),
            _ => None,
        }
    }
}

#[async_trait]
impl AttachmentStore for MemoryAttachments {
    async fn upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        disposition: &str,
    ) -> Result<Upload, AttachmentError> {
        let ticket = uuid::Uuid::new_v4().simple().to_string();
        self.slots().insert(
            key.to_owned(),
            Slot::Pending {
                ticket: ticket.clone(),
                content_type: content_type.to_owned(),
                size,
                disposition: disposition.to_owned(),
            },
        );
        Ok(Upload {
            url: self
                .base
                .join(&format!("/local/uploads/{key}?ticket={ticket}")),
            headers: vec![("content-type".into(), content_type.to_owned())],
        })
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError> {
        Ok(match self.slots().get(key) {
            Some(Slot::Stored {
                content_type,
                bytes,
                disposition,
            }) => Some(StoredObject {
                size: bytes.len() as u64,
                content_type: content_type.clone(),
                name: crate::attachments::name_from_disposition(disposition),
            }),
            _ => None,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), AttachmentError> {
        self.slots().remove(key);
        Ok(())
    }

    async fn download_url(&self, key: &str) -> Result<String, AttachmentError> {
        Ok(self.base.join(&format!("/local/uploads/{key}")))
    }
}
