//! The SMS channel's shared parts: Twilio's webhook signature, the compliance keywords, and
//! sending through an [`SmsProvider`] (Twilio first) with consent respected and recorded.
//!
//! The inbound webhook itself lives in `functions/sms-inbound`; agent replies are sent from
//! `functions/creatio-reply` through [`deliver`].

pub mod config;
pub mod keywords;
pub mod signature;
pub mod twilio;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::domain::{Customer, DeliveryStatus, PhoneNumber, ProviderMessageId, SessionId};
use crate::store::{Consent, Store, StoreError};

/// Twilio's limit for one message body.
pub const MAX_BODY_CHARS: usize = 1_600;

/// One message the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub sid: ProviderMessageId,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Twilio 21610: the recipient replied STOP. Permanent until they text START.
    #[error("the customer has opted out of SMS (Twilio 21610)")]
    OptedOut,
    /// Twilio 21211 / 21614: not a number that can receive SMS. Permanent.
    #[error("the number cannot receive SMS (Twilio {code})")]
    InvalidNumber { code: u32 },
    /// Bad account SID or auth token (HTTP 401, Twilio 20003). Permanent until the config changes.
    #[error("Twilio rejected the credentials (check TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN)")]
    Credentials,
    /// 429 or 5xx or no answer: worth retrying later.
    #[error("Twilio is unavailable ({0})")]
    Transient(String),
    /// Any other refusal, with Twilio's code and message.
    #[error("Twilio refused the message: {code} {message}")]
    Rejected { code: u32, message: String },
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// Sends SMS. One implementation per provider; tests use a loopback stand-in of the real API.
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Sends `body` to `to`, split into several messages at word boundaries when it is longer than
    /// [`MAX_BODY_CHARS`]. Transient failures are retried inside; what comes back is final.
    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<Vec<Sent>, SendError>;
}

/// Splits a body into parts of at most `max` characters, at word boundaries where there is one.
pub fn split_body(body: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = body.trim();
    while rest.chars().count() > max {
        let cut = rest
            .char_indices()
            .nth(max)
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let window = &rest[..cut];
        // Break after the last whitespace inside the window, unless that would leave a tiny part.
        let at = match window.rfind(char::is_whitespace) {
            Some(i) if i > cut / 2 => i,
            _ => cut,
        };
        parts.push(rest[..at].trim_end().to_owned());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// How a carrier encodes an SMS body, which decides how many segments it is billed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 03.38 alphabet: 160 characters in one segment, 153 per segment when split.
    Gsm7,
    /// Anything else (accents outside GSM, most scripts, emoji): UCS-2/UTF-16, 70 code units in one
    /// segment, 67 per segment when split. An emoji outside the BMP is two code units.
    Ucs2,
}

/// GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38 extension table (an escape plus one septet: two each).
const GSM7_EXTENDED: &str = "^{}\\[~]|€\u{0C}";

/// The encoding and the number of segments `body` is sent (and billed) as.
pub fn segments(body: &str) -> (Encoding, usize) {
    let gsm_units: Option<usize> = body
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENDED.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, multi) = match gsm_units {
        Some(n) => (Encoding::Gsm7, n, 160, 153),
        None => (Encoding::Ucs2, body.encode_utf16().count(), 70, 67),
    };
    let n = if units <= single {
        1
    } else {
        units.div_ceil(multi)
    };
    (encoding, n)
}

/// What became of an outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent(Vec<Sent>),
    /// Not sent: the customer opted out (on record, or Twilio said 21610 and it is now recorded).
    OptedOut,
    /// Not sent for good (invalid number, refused).
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// Worth retrying: nothing was recorded as sent.
    #[error(transparent)]
    Transient(SendError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends outbound message `seq` of session `id` to `to`, respecting consent, and records the
/// outcome on the message (delivery status and the provider id that status callbacks quote).
/// An opt-out Twilio reports (21610) is recorded as consent, so the next send is not attempted.
pub async fn deliver(
    store: &dyn Store,
    provider: &dyn SmsProvider,
    id: SessionId,
    seq: u64,
    to: &PhoneNumber,
    body: &str,
    now: Timestamp,
) -> Result<Delivery, DeliverError> {
    let customer = Customer::Phone(to.clone());
    if let Consent::OptedOut { .. } = store.consent(&customer).await? {
        store
            .record_delivery(id, seq, not_sent("customer opted out"), None)
            .await?;
        return Ok(Delivery::OptedOut);
    }
    match provider.send(to, body).await {
        Ok(sent) => {
            // The first part's sid stands for the message: its status callbacks find it.
            if let Some(first) = sent.first() {
                store
                    .record_delivery(id, seq, DeliveryStatus::Queued, Some(&first.sid))
                    .await?;
            }
            tracing::info!(session_id = %id, seq, parts = sent.len(), "sms sent");
            Ok(Delivery::Sent(sent))
        }
        Err(SendError::OptedOut) => {
            store
                .set_consent(&customer, Consent::OptedOut { since: now }, now)
                .await?;
            store
                .record_delivery(id, seq, not_sent("customer opted out"), None)
                .await?;
            tracing::warn!(session_id = %id, seq, "sms not delivered: customer opted out");
            Ok(Delivery::OptedOut)
        }
        Err(e) if e.is_transient() => {
            tracing::warn!(session_id = %id, seq, error = %e, "sms delivery failed; will retry");
            Err(DeliverError::Transient(e))
        }
        Err(e) => {
            store
                .record_delivery(id, seq, not_sent(&e.to_string()), None)
                .await?;
            tracing::warn!(session_id = %id, seq, error = %e, "sms delivery failed for good");
            Ok(Delivery::Failed(e.to_string()))
        }
    }
}

fn not_sent(reason: &str) -> DeliveryStatus {
    DeliveryStatus::NotSent {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_follow_gsm7_and_ucs2_rules() {
        assert_eq!(segments("hello"), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        // Extension characters take two septets.
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
        // é is GSM; ł is not, and turns the whole body into UCS-2.
        assert_eq!(segments("café"), (Encoding::Gsm7, 1));
        assert_eq!(
            segments(&format!("{}ł", "a".repeat(69))),
            (Encoding::Ucs2, 1)
        );
        assert_eq!(
            segments(&format!("{}ł", "a".repeat(70))),
            (Encoding::Ucs2, 2)
        );
        // An emoji is two UTF-16 code units: 35 fill one segment, 36 need two.
        assert_eq!(segments(&"😀".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(segments(&"😀".repeat(36)), (Encoding::Ucs2, 2));
        assert_eq!(segments(&"😀".repeat(800)), (Encoding::Ucs2, 24));
    }

    #[test]
    fn long_bodies_split_at_words() {
        let body = "word ".repeat(700); // 3,500 characters
        let parts = split_body(&body, MAX_BODY_CHARS);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_BODY_CHARS));
        assert!(
            parts
                .iter()
                .all(|p| p.starts_with("word") && p.ends_with("word"))
        );
        assert_eq!(parts.join(" "), body.trim());
        // Multi-byte characters are counted as characters, and never cut in half.
        let emoji = "😀".repeat(2000);
        let parts = split_body(&emoji, MAX_BODY_CHARS);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [1600, 400]
        );
        assert_eq!(split_body("short", MAX_BODY_CHARS), ["short"]);
    }
}
