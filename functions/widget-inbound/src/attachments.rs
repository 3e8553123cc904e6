//! Visitor attachments: a file the visitor attaches goes straight from the browser to storage,
//! never through the function, and the conversation keeps a signed link to it.
//!
//! 1. `POST /widget/sessions/{id}/attachments` `{name, content_type, size}`: the type and size
//!    are checked against [`AttachmentPolicy`], and the conversation's file allowance, and the
//!    answer is a presigned `PUT` (S3 in production) to `uploads/{session}/{attachment}` that
//!    only accepts that type and that many bytes, for 15 minutes.
//! 2. The browser uploads the file with that `PUT`.
//! 3. `POST /widget/sessions/{id}/messages` `{attachment_id, text?}`: the upload is read whole
//!    and checked again, since the upload is the visitor's and only what storage holds counts:
//!    size, declared type, and the first bytes against that type
//!    ([`casebridge::widget::file_type::check`]). Refused → deleted. Accepted → the function writes the
//!    bytes it checked to `attachments/{session}/{attachment}` under a name whose extension is
//!    the accepted type's ([`casebridge::widget::file_type::kept_name`]) and deletes the upload. The
//!    presigned `PUT` stays usable until it expires, but only the upload key takes it, and that
//!    key is never read again: a file replaced after the check is never served. The message is
//!    stored with a link `/attachments/{session}/{attachment}?sig=…`, which the transcript page
//!    and the case activities carry like any other attachment. A retried message finds the kept
//!    file and links it again.
//! 4. `GET /attachments/{session}/{attachment}?sig=…`: the signature is checked and the answer
//!    is a redirect to a presigned `GET` of the kept file that lives 5 minutes, so the link in
//!    Creatio never expires but the storage URL behind it always does. The object is served as
//!    a download (`Content-Disposition: attachment`), never rendered as a page.
//!
//! Reading the file through the function (at most `WIDGET_ATTACHMENT_MAX_BYTES`, 10 MiB by
//! default) costs a `GET` and a `PUT` inside the region; a server-side copy would be cheaper but
//! leaves a window between the check and the copy in which a second `PUT` changes what is
//! copied, unless the copy is made conditional on the checked ETag, which the local S3 the
//! tests run against does not enforce.
//!
//! Storage is behind [`crate::attachment_store::AttachmentStore`].

use casebridge::config::{AttachmentPolicy, BaseUrl};
use casebridge::domain::{Attachment, SessionId, SessionState};
use casebridge::store::{Allowance, Store};
use casebridge::widget::file_type;
use casebridge::widget::links::{attachment_url, verify_attachment_signature};
use lambda_http::{Body, Request, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::attachment_store::{AttachmentStore, Fetched, UPLOAD_TTL};
use crate::file_names::{clean_name, disposition, human_size};
use crate::request::body_json;
use crate::{Deps, WidgetError, json_response};

/// An attachment's id: a random UUID, so keys cannot be guessed from one another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentId(uuid::Uuid);

impl AttachmentId {
    pub fn new_random() -> Self {
        Self(uuid::Uuid::new_v4())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        uuid::Uuid::try_parse(raw.trim()).ok().map(Self)
    }

    /// Where the browser uploads it.
    pub fn upload_key(&self, session: SessionId) -> String {
        format!("uploads/{session}/{}", self.0)
    }

    /// Where the checked file is kept and served from.
    pub fn key(&self, session: SessionId) -> String {
        format!("attachments/{session}/{}", self.0)
    }
}

impl std::fmt::Display for AttachmentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a declared or stored file is refused, with the message the visitor sees.
pub fn check(policy: &AttachmentPolicy, content_type: &str, size: u64) -> Result<(), Refusal> {
    if size == 0 {
        return Err(Refusal::Invalid("the file is empty".into()));
    }
    if size > policy.max_bytes {
        return Err(too_large(policy, size));
    }
    if !policy.allows_type(content_type) {
        return Err(Refusal::Invalid(format!(
            "files of type {content_type:?} are not accepted; accepted: {}",
            policy.allowed_types.join(", ")
        )));
    }
    Ok(())
}

fn too_large(policy: &AttachmentPolicy, size: u64) -> Refusal {
    Refusal::TooLarge(format!(
        "the file is {size} bytes; the limit is {} bytes ({})",
        policy.max_bytes,
        human_size(policy.max_bytes)
    ))
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Invalid(String),
    TooLarge(String),
}

impl From<Refusal> for WidgetError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(m) => WidgetError::BadRequest(m),
            Refusal::TooLarge(m) => WidgetError::FileTooLarge(m),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UploadRequest {
    name: Option<String>,
    content_type: Option<String>,
    size: Option<u64>,
}

/// `POST /widget/sessions/{id}/attachments`: a presigned upload for one declared file.
pub async fn create(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    id: SessionId,
    now: jiff::Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let files = deps
        .attachments
        .as_ref()
        .ok_or(WidgetError::AttachmentsOff)?;
    let req: UploadRequest = body_json(event)?;
    let name = clean_name(req.name.as_deref().unwrap_or(""));
    let content_type = req
        .content_type
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| WidgetError::BadRequest("content_type is missing".into()))?;
    let size = req
        .size
        .ok_or_else(|| WidgetError::BadRequest("size is missing".into()))?;
    check(&deps.widget.attachments, &content_type, size)?;
    let session = store.session(id).await?.ok_or(WidgetError::NotFound)?;
    if session.state == SessionState::Closed {
        return Ok(crate::closed());
    }
    let limit = deps.widget.limits.max_attachments;
    if session.customer_attachments >= limit {
        return Err(WidgetError::session_full(&format!("{limit} files")));
    }
    // Tickets count too: an upload never sent in a message still holds its bytes until it
    // expires, so a conversation gets as many tickets as it may send files (in a 30-day window,
    // the longest a conversation stays open in practice).
    let window = std::time::Duration::from_secs(30 * 24 * 3600);
    let max = u32::try_from(limit).unwrap_or(u32::MAX);
    if let Allowance::Exhausted { .. } = store
        .take_allowance(&format!("widget-uploads:{id}"), window, max, now)
        .await?
    {
        return Err(WidgetError::session_full(&format!("{limit} file uploads")));
    }
    let attachment = AttachmentId::new_random();
    let upload = files
        .upload(
            &attachment.upload_key(id),
            &content_type,
            size,
            &disposition(&name),
        )
        .await?;
    tracing::info!(session_id = %id, %attachment, size, "attachment upload issued");
    let headers: serde_json::Map<String, serde_json::Value> = upload
        .headers
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect();
    Ok(json_response(
        200,
        &json!({
            "attachment_id": attachment.to_string(),
            "upload": {"method": "PUT", "url": upload.url, "headers": headers},
            "expires_in": UPLOAD_TTL.as_secs(),
        }),
    ))
}

/// The attachment a message refers to, checked as storage holds it and kept ([module
/// docs](self), step 3). The text is what the transcript says when the visitor wrote nothing
/// with the file.
pub async fn resolve(
    deps: &Deps,
    event: &Request,
    id: SessionId,
    raw: &str,
) -> Result<(Attachment, String), WidgetError> {
    let files = deps
        .attachments
        .as_ref()
        .ok_or(WidgetError::AttachmentsOff)?;
    let attachment = AttachmentId::parse(raw)
        .ok_or_else(|| WidgetError::BadRequest("attachment_id is not a valid id".into()))?;
    let kept = attachment.key(id);
    // A retried message: the file was checked and kept the first time.
    let (content_type, name, size) = match files.head(&kept).await? {
        Some(o) => (
            o.content_type,
            o.name.unwrap_or_else(|| "file".into()),
            o.size,
        ),
        None => keep(deps, files.as_ref(), id, attachment).await?,
    };
    let base = base_url(deps, event)?;
    let url = attachment_url(
        &base,
        deps.widget.secret.expose_secret().as_bytes(),
        id,
        &attachment.to_string(),
    );
    let text = format!("Sent a file: {name} ({})", human_size(size));
    Ok((
        Attachment {
            url,
            content_type: Some(content_type),
        },
        text,
    ))
}

/// Reads the upload, checks it, writes what was checked to the kept key and removes the upload.
/// Returns the kept file's type, name and size.
async fn keep(
    deps: &Deps,
    files: &dyn AttachmentStore,
    id: SessionId,
    attachment: AttachmentId,
) -> Result<(String, String, u64), WidgetError> {
    let policy = &deps.widget.attachments;
    let upload_key = attachment.upload_key(id);
    let upload = upload_key.as_str();
    let refuse = |refusal: Refusal, size: u64| async move {
        // What was uploaded is not what was declared: it is not kept.
        files.delete(upload).await?;
        tracing::info!(session_id = %id, %attachment, size, "uploaded attachment refused and deleted");
        Err::<(String, String, u64), WidgetError>(refusal.into())
    };
    let (object, bytes) = match files.fetch(upload, policy.max_bytes).await? {
        Fetched::Missing => {
            return Err(WidgetError::BadRequest(format!(
                "attachment {attachment} has not been uploaded"
            )));
        }
        Fetched::TooLarge { size } => {
            return refuse(too_large(policy, size), size).await;
        }
        Fetched::Object { object, bytes } => (object, bytes),
    };
    let size = bytes.len() as u64;
    if let Err(refusal) = check(policy, &object.content_type, size) {
        return refuse(refusal, size).await;
    }
    let extension = match file_type::check(&object.content_type, &bytes) {
        Ok(ext) => ext,
        Err(mismatch) => return refuse(Refusal::Invalid(mismatch.to_string()), size).await,
    };
    let name = file_type::kept_name(object.name.as_deref().unwrap_or(""), extension);
    files
        .keep(
            &attachment.key(id),
            &object.content_type,
            &disposition(&name),
            bytes,
        )
        .await?;
    if let Err(e) = files.delete(upload).await {
        // The kept copy is what counts; the bucket's lifecycle removes a stray upload.
        tracing::warn!(session_id = %id, %attachment, error = %e, "upload not deleted after keeping it");
    }
    tracing::info!(session_id = %id, %attachment, size, "attachment checked and kept");
    Ok((object.content_type, name, size))
}

/// Where links point: `PUBLIC_BASE_URL`, else the host the request came to (API Gateway's own
/// domain when the template leaves the parameter empty).
fn base_url(deps: &Deps, event: &Request) -> Result<BaseUrl, WidgetError> {
    if let Some(b) = &deps.public_base_url {
        return Ok(b.clone());
    }
    let host = event
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| WidgetError::BadRequest("no Host header".into()))?;
    BaseUrl::from_host(host).map_err(|e| WidgetError::BadRequest(e.to_string()))
}

/// `GET /attachments/{session}/{attachment}?sig=…`: a redirect to a short-lived storage URL.
/// A bad signature is a 404, as for the transcript page.
pub async fn download(
    deps: &Deps,
    event: &Request,
    rest: &str,
) -> Result<Response<Body>, WidgetError> {
    if event.method() != http::Method::GET {
        return Err(WidgetError::MethodNotAllowed);
    }
    let files = deps.attachments.as_ref().ok_or(WidgetError::NotFound)?;
    let (raw_session, raw_attachment) = rest.split_once('/').ok_or(WidgetError::NotFound)?;
    let id = SessionId::parse(raw_session).map_err(|_| WidgetError::NotFound)?;
    let attachment = AttachmentId::parse(raw_attachment).ok_or(WidgetError::NotFound)?;
    let sig = crate::transcript::sig_of(event).ok_or(WidgetError::NotFound)?;
    if !verify_attachment_signature(
        deps.widget.secret.expose_secret().as_bytes(),
        id,
        &attachment.to_string(),
        &sig,
    ) {
        return Err(WidgetError::NotFound);
    }
    let url = files.download_url(&attachment.key(id)).await?;
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = http::StatusCode::FOUND;
    let h = r.headers_mut();
    h.insert(
        "location",
        http::HeaderValue::from_str(&url)
            .map_err(|_| WidgetError::BadRequest("bad storage URL".into()))?,
    );
    h.insert("cache-control", http::HeaderValue::from_static("no-store"));
    h.insert(
        "referrer-policy",
        http::HeaderValue::from_static("no-referrer"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_empty_large_and_unlisted_files() {
        let p = AttachmentPolicy::with_defaults(None);
        assert!(check(&p, "image/png", 1).is_ok());
        assert!(matches!(
            check(&p, "image/png", 0),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(
            check(&p, "application/pdf", p.max_bytes + 1),
            Err(Refusal::TooLarge(
                "the file is 10485761 bytes; the limit is 10485760 bytes (10.0 MB)".into()
            ))
        );
        assert!(
            matches!(check(&p, "text/html", 5), Err(Refusal::Invalid(m)) if m.contains("text/html"))
        );
    }
}
