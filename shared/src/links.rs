//! Signed links to a session's read-only transcript page (`/transcripts/{session}?sig=…`), which
//! the first activity of every case points to. The signature is HMAC-SHA256 of the session id
//! under a key derived from `WIDGET_SECRET`, so a link cannot be forged or moved to another
//! session, and rotating the secret revokes every link.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::SessionId;

fn mac(secret: &[u8], id: SessionId) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    // Domain separation: the same secret also signs widget session tokens.
    mac.update(b"casebridge transcript link\n");
    mac.update(id.to_string().as_bytes());
    Some(mac)
}

pub fn transcript_signature(secret: &[u8], id: SessionId) -> String {
    mac(secret, id)
        .map(|m| {
            m.finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default()
}

/// Constant-time check of a `sig` query value.
pub fn verify_transcript_signature(secret: &[u8], id: SessionId, sig: &str) -> bool {
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
    mac(secret, id).is_some_and(|m| m.verify_slice(&bytes).is_ok())
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
    }
}
