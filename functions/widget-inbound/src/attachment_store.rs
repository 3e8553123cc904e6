//! Where visitor attachments are kept: the [`AttachmentStore`] seam, S3 behind it in production
//! and [`MemoryAttachments`] in the local stack. The flow that uses it is in [`crate::attachments`].
//!
//! S3 is reached through [`casebridge::s3`]: presigning, `GET`, `PUT`, `HEAD` and `DELETE` signed
//! with `aws-sigv4` over the workspace's HTTP client, not `aws-sdk-s3`, which was most of this
//! function's size for these five calls (the sizes before and after are in docs/figures.md).
//!
//! [`MemoryAttachments`] stands in for S3 in the local stack with the same rules: an upload must
//! present its ticket, the declared type and exactly the declared size, and a download a signed,
//! unexpired link.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use casebridge::config::BaseUrl;
use casebridge::s3::{Got, ObjectInfo, S3, S3Error};

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

/// An uploaded object, read whole to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Missing,
    /// Larger than the caller would read: not read.
    TooLarge {
        size: u64,
    },
    Object {
        object: StoredObject,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("attachment storage failed: {0}")]
pub struct AttachmentError(pub String);

/// Where attachments live. Two keys per attachment: the browser uploads to
/// `uploads/{session}/{attachment}`; what was checked is written by the function itself to
/// `attachments/{session}/{attachment}`, the only key a link serves. A presigned upload stays
/// usable for [`UPLOAD_TTL`], so whatever is put there after the check is never read again.
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// A presigned upload of exactly `size` bytes of `content_type` to `key`.
    async fn upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        disposition: &str,
    ) -> Result<Upload, AttachmentError>;
    /// The object under `key`, read whole when it is at most `max_bytes`.
    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AttachmentError>;
    /// Writes `bytes` under `key`, to be served as a download named by `disposition`.
    async fn keep(
        &self,
        key: &str,
        content_type: &str,
        disposition: &str,
        bytes: Vec<u8>,
    ) -> Result<(), AttachmentError>;
    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError>;
    async fn delete(&self, key: &str) -> Result<(), AttachmentError>;
    /// A short-lived URL that serves `key` ([`DOWNLOAD_TTL`]).
    async fn download_url(&self, key: &str) -> Result<String, AttachmentError>;
}

/// S3: presigned `PUT`/`GET`, `HEAD` and `DELETE` on one bucket.
pub struct S3Attachments {
    s3: S3,
    bucket: String,
}

impl S3Attachments {
    pub fn new(s3: S3, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }
}

fn s3_error(e: S3Error) -> AttachmentError {
    AttachmentError(e.to_string())
}

fn stored_object(info: ObjectInfo) -> StoredObject {
    StoredObject {
        size: info.size,
        content_type: info.content_type.unwrap_or_default(),
        name: info
            .content_disposition
            .as_deref()
            .and_then(crate::file_names::name_from_disposition),
    }
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
            .s3
            .presign_put(
                &self.bucket,
                key,
                content_type,
                size,
                disposition,
                UPLOAD_TTL,
            )
            .map_err(s3_error)?;
        Ok(Upload {
            url: presigned.url,
            headers: presigned.headers,
        })
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AttachmentError> {
        Ok(
            match self
                .s3
                .get(&self.bucket, key, max_bytes)
                .await
                .map_err(s3_error)?
            {
                Got::Missing => Fetched::Missing,
                Got::TooLarge { size } => Fetched::TooLarge { size },
                Got::Object { info, bytes } => Fetched::Object {
                    object: stored_object(info),
                    bytes,
                },
            },
        )
    }

    async fn keep(
        &self,
        key: &str,
        content_type: &str,
        disposition: &str,
        bytes: Vec<u8>,
    ) -> Result<(), AttachmentError> {
        self.s3
            .put(&self.bucket, key, content_type, Some(disposition), bytes)
            .await
            .map_err(s3_error)
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError> {
        Ok(self
            .s3
            .head(&self.bucket, key)
            .await
            .map_err(s3_error)?
            .map(stored_object))
    }

    async fn delete(&self, key: &str) -> Result<(), AttachmentError> {
        self.s3.delete(&self.bucket, key).await.map_err(s3_error)
    }

    async fn download_url(&self, key: &str) -> Result<String, AttachmentError> {
        self.s3
            .presign_get(&self.bucket, key, DOWNLOAD_TTL)
            .map_err(s3_error)
    }
}

/// The local stack's storage: files in memory, uploaded to and served from
/// `{base}/local/uploads/{key}`. It keeps S3's rules: an upload needs the ticket it was given
/// (its "signature"), the declared content type and exactly the declared size, and stays usable
/// for [`UPLOAD_TTL`], so a second `PUT` replaces the object as S3's would; a download needs a
/// link signed with this process's own key that lives [`DOWNLOAD_TTL`], as a presigned `GET`.
pub struct MemoryAttachments {
    base: BaseUrl,
    /// Signs download links; random per process, never written anywhere.
    key: [u8; 32],
    inner: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    tickets: HashMap<String, Ticket>,
    objects: HashMap<String, LocalFile>,
}

struct Ticket {
    ticket: String,
    content_type: String,
    size: u64,
    disposition: String,
    expires: Instant,
}

/// A stored file as the local stack serves it.
#[derive(Clone)]
pub struct LocalFile {
    pub content_type: String,
    pub disposition: String,
    pub bytes: Vec<u8>,
}

/// Why the local storage refused a request, as S3 would answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalRefusal {
    pub status: u16,
    pub reason: &'static str,
}

const fn refused(status: u16, reason: &'static str) -> LocalRefusal {
    LocalRefusal { status, reason }
}

impl MemoryAttachments {
    pub fn new(base: BaseUrl) -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self {
            base,
            key,
            inner: Mutex::new(Slots::default()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `PUT /local/uploads/{key}?ticket=…`, answered as S3 answers a presigned `PUT`: 403 for a
    /// missing, wrong or expired ticket or another content type, 400 for another size.
    pub fn put(
        &self,
        key: &str,
        ticket: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<(), LocalRefusal> {
        let mut slots = self.slots();
        let Some(t) = slots.tickets.get(key) else {
            return Err(refused(403, "no upload is expected for this key"));
        };
        if t.ticket != ticket {
            return Err(refused(403, "the upload ticket does not match"));
        }
        if Instant::now() > t.expires {
            return Err(refused(403, "the upload ticket has expired"));
        }
        if t.content_type != content_type {
            return Err(refused(403, "the content type is not the one declared"));
        }
        if bytes.len() as u64 != t.size {
            return Err(refused(400, "the body is not the declared size"));
        }
        let file = LocalFile {
            content_type: t.content_type.clone(),
            disposition: t.disposition.clone(),
            bytes,
        };
        slots.objects.insert(key.to_owned(), file);
        Ok(())
    }

    /// `GET /local/uploads/{key}?expires=…&sig=…`: only through a link [`download_url`] signed,
    /// before it expires (S3 answers 403 to an unsigned or expired request).
    ///
    /// [`download_url`]: AttachmentStore::download_url
    pub fn get(&self, key: &str, expires: &str, sig: &str) -> Result<LocalFile, LocalRefusal> {
        let Ok(expires) = expires.parse::<u64>() else {
            return Err(refused(403, "the download link is not signed"));
        };
        if !casebridge::widget::links::verify_storage_signature(&self.key, key, expires, sig) {
            return Err(refused(403, "the download link's signature does not match"));
        }
        if unix_now() > expires {
            return Err(refused(403, "the download link has expired"));
        }
        self.slots()
            .objects
            .get(key)
            .cloned()
            .ok_or(refused(404, "no such file"))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn stored(file: &LocalFile) -> StoredObject {
    StoredObject {
        size: file.bytes.len() as u64,
        content_type: file.content_type.clone(),
        name: crate::file_names::name_from_disposition(&file.disposition),
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
        self.slots().tickets.insert(
            key.to_owned(),
            Ticket {
                ticket: ticket.clone(),
                content_type: content_type.to_owned(),
                size,
                disposition: disposition.to_owned(),
                expires: Instant::now() + UPLOAD_TTL,
            },
        );
        Ok(Upload {
            url: self
                .base
                .join(&format!("/local/uploads/{key}?ticket={ticket}")),
            headers: vec![("content-type".into(), content_type.to_owned())],
        })
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Fetched, AttachmentError> {
        Ok(match self.slots().objects.get(key) {
            None => Fetched::Missing,
            Some(f) if f.bytes.len() as u64 > max_bytes => Fetched::TooLarge {
                size: f.bytes.len() as u64,
            },
            Some(f) => Fetched::Object {
                object: stored(f),
                bytes: f.bytes.clone(),
            },
        })
    }

    async fn keep(
        &self,
        key: &str,
        content_type: &str,
        disposition: &str,
        bytes: Vec<u8>,
    ) -> Result<(), AttachmentError> {
        self.slots().objects.insert(
            key.to_owned(),
            LocalFile {
                content_type: content_type.to_owned(),
                disposition: disposition.to_owned(),
                bytes,
            },
        );
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<StoredObject>, AttachmentError> {
        Ok(self.slots().objects.get(key).map(stored))
    }

    async fn delete(&self, key: &str) -> Result<(), AttachmentError> {
        self.slots().objects.remove(key);
        Ok(())
    }

    async fn download_url(&self, key: &str) -> Result<String, AttachmentError> {
        let expires = unix_now() + DOWNLOAD_TTL.as_secs();
        let sig = casebridge::widget::links::storage_signature(&self.key, key, expires);
        Ok(self
            .base
            .join(&format!("/local/uploads/{key}?expires={expires}&sig={sig}")))
    }
}
