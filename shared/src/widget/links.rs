//! Signed links that a case carries to people who are not signed in to casebridge: the session's
//! read-only transcript page (`/transcripts/{session}?sig=…`), which the first activity of every
//! case points to, and each visitor attachment (`/attachments/{session}/{attachment}?sig=…`).
//! The signature is HMAC-SHA256 of what the link names under `WIDGET_SECRET`, with a label per
//! kind of link, so a link cannot be forged, moved to another session or turned into the other
//! kind, and rotating the secret revokes every link.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::SessionId;

fn mac(secret: &[u8], label: &[u8], subject: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    // Domain separation: the same secret also signs widget session tokens.
    mac.update(label);
    mac.update(subject.as_bytes());
    Some(mac)
}

const TRANSCRIPT: &[u8] = b"casebridge transcript link\n";
const ATTACHMENT: &[u8] = b"casebridge attachment link\n";
const STORAGE: &[u8] = b"casebridge local storage link\n";

pub fn transcript_signature(secret: &[u8], id: SessionId) -> String {
    hex(mac(secret, TRANSCRIPT, &id.to_string()))
}

/// Constant-time check of a `sig` query value.
pub fn verify_transcript_signature(secret: &[u8], id: SessionId, sig: &str) -> bool {
    verify(mac(secret, TRANSCRIPT, &id.to_string()), sig)
}

/// `attachment` is the attachment's id as it appears in the link.
pub fn attachment_signature(secret: &[u8], id: SessionId, attachment: &str) -> String {
    hex(mac(secret, ATTACHMENT, &format!("{id}/{attachment}")))
}

pub fn verify_attachment_signature(
    secret: &[u8],
    id: SessionId,
    attachment: &str,
    sig: &str,
) -> bool {
    verify(mac(secret, ATTACHMENT, &format!("{id}/{attachment}")), sig)
}

pub fn attachment_url(
    base: &crate::config::BaseUrl,
    secret: &[u8],
    id: SessionId,
    attachment: &str,
) -> String {
    base.join(&format!(
        "/attachments/{id}/{attachment}?sig={}",
        attachment_signature(secret, id, attachment)
    ))
}

/// The local stack's stand-in for a presigned `GET`: `key` until `expires` (Unix seconds), under
/// the storage's own per-process key.
pub fn storage_signature(secret: &[u8], key: &str, expires: u64) -> String {
    hex(mac(secret, STORAGE, &format!("{key}\n{expires}")))
}

pub fn verify_storage_signature(secret: &[u8], key: &str, expires: u64, sig: &str) -> bool {
    verify(mac(secret, STORAGE, &format!("{key}\n{expires}")), sig)
}

fn hex(mac: Option<Hmac<Sha256>>) -> String {
    mac.map(|m| {
        m.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
    .unwrap_or_default()
}

fn verify(mac: Option<Hmac<Sha256>>, sig: &str) -> bool {
    let Some(bytes) = (0..sig.len())
        .step_by(2)
        .map(|i| {
            sig.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    mac.is_some_and(|m| m.verify_slice(&bytes).is_ok())
}

pub fn transcript_url(base: &crate::config::BaseUrl, secret: &[u8], id: SessionId) -> String {
    base.join(&format!(
        "/transcripts/{id}?sig={}",
        transcript_signature(secret, id)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_for_their_session_and_key() {
        let a = SessionId::new_random();
        let b = SessionId::new_random();
        let sig = transcript_signature(b"k1", a);
        assert_eq!(sig.len(), 64);
        assert!(verify_transcript_signature(b"k1", a, &sig));
        assert!(!verify_transcript_signature(b"k1", b, &sig));
        assert!(!verify_transcript_signature(b"k2", a, &sig));
        assert!(!verify_transcript_signature(b"k1", a, "zz"));
        assert!(!verify_transcript_signature(b"k1", a, ""));
        // A transcript signature does not open an attachment, nor one attachment another.
        let att = attachment_signature(b"k1", a, "f1");
        assert!(verify_attachment_signature(b"k1", a, "f1", &att));
        assert!(!verify_attachment_signature(b"k1", a, "f2", &att));
        assert!(!verify_attachment_signature(b"k1", b, "f1", &att));
        assert!(!verify_attachment_signature(b"k1", a, "f1", &sig));
    }
}
