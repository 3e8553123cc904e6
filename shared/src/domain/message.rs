//! Messages: one entry in a session's transcript.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest message text casebridge accepts from anyone. Twilio caps an SMS body at 1,600
/// characters; widget messages and agent replies get more room, but not unbounded room, since
/// everything lands in one DynamoDB item (400 KB) and one Creatio activity.
pub const MAX_MESSAGE_CHARS: usize = 8_000;

/// What an action's answer shows in the widget: a title, up to [`Card::MAX_ROWS`] label/value
/// rows and up to [`Card::MAX_LINKS`] links, only ever rendered as text. The message's own text
/// carries the same content for every other reader (SMS, the transcript, Creatio), and `action`
/// says which action answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub action: String,
    pub title: String,
    /// The sentence above the rows: the action's answer, or what the model said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
    #[serde(default)]
    pub rows: Vec<CardRow>,
    #[serde(default)]
    pub links: Vec<CardLink>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRow {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardLink {
    pub label: String,
    pub url: String,
}

impl Card {
    pub const MAX_ROWS: usize = 8;
    pub const MAX_LINKS: usize = 3;
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Assistant,
    Agent,
    /// Notes casebridge adds itself: delivery failures, consent changes, handoff notes.
    System,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Assistant => "assistant",
            Role::Agent => "agent",
            Role::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(Role::Customer),
            "assistant" => Some(Role::Assistant),
            "agent" => Some(Role::Agent),
            "system" => Some(Role::System),
            _ => None,
        }
    }

    /// Outbound messages go to the customer and so have a delivery status.
    pub fn is_outbound(&self) -> bool {
        matches!(self, Role::Assistant | Role::Agent)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidText {
    #[error("message text is empty")]
    Empty,
    #[error("message text is {len} characters long; the limit is {max}")]
    TooLong { len: usize, max: usize },
}

/// `s` without the characters that hide or reorder text: NUL and the other controls but line
/// breaks and tabs, and Unicode format characters (category Cf: bidi overrides such as U+202E,
/// zero-width spaces, the byte-order mark, tag characters). A right-to-left override makes
/// `invoice\u{202e}fdp.exe` read as `invoiceexe.pdf` to a rep; nothing that reaches Creatio or a
/// page keeps one. The zero-width joiner and non-joiner (U+200D, U+200C) stay: emoji sequences
/// and several scripts (Persian, the Indic ones) are written with them, and they reorder nothing.
pub fn without_hidden_chars(s: &str) -> std::borrow::Cow<'_, str> {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    let hidden = |c: char| {
        (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            || (c.general_category() == GeneralCategory::Format
                && !matches!(c, '\u{200c}' | '\u{200d}'))
    };
    if s.chars().any(hidden) {
        std::borrow::Cow::Owned(s.chars().filter(|c| !hidden(*c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Message text: not empty (after trimming), at most [`MAX_MESSAGE_CHARS`] characters, without
/// hidden characters ([`without_hidden_chars`]). Debug never prints the text: message bodies
/// stay out of logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(raw: &str) -> Result<Self, InvalidText> {
        Self::parse_with_limit(raw, MAX_MESSAGE_CHARS)
    }

    /// With a channel's own, smaller limit.
    pub fn parse_with_limit(raw: &str, max: usize) -> Result<Self, InvalidText> {
        // Hidden characters go first, so that a text of nothing else is empty.
        let visible = without_hidden_chars(raw);
        let s = visible.trim();
        if s.is_empty() {
            return Err(InvalidText::Empty);
        }
        let len = s.chars().count();
        if len > max {
            return Err(InvalidText::TooLong { len, max });
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageText({} chars)", self.0.chars().count())
    }
}

impl TryFrom<String> for MessageText {
    type Error = InvalidText;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MessageText> for String {
    fn from(t: MessageText) -> String {
        t.0
    }
}

/// The provider's id for a message (`MessageSid` for Twilio, a client-generated id for the
/// widget): the dedupe key, so a redelivered webhook changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderMessageId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("provider message id must be 1 to 128 printable ASCII characters")]
pub struct InvalidProviderMessageId;

impl ProviderMessageId {
    pub fn parse(raw: &str) -> Result<Self, InvalidProviderMessageId> {
        let ok = (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidProviderMessageId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderMessageId {
    type Error = InvalidProviderMessageId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ProviderMessageId> for String {
    fn from(p: ProviderMessageId) -> String {
        p.0
    }
}

/// A file that came with a message, by reference only (MMS media URL, widget upload link).
/// Never downloaded inside a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub url: String,
    pub content_type: Option<String>,
}

/// Where an outbound message stands with its provider (Twilio's `MessageStatus` values, plus
/// `not_sent` when casebridge itself held it back, e.g. an opted-out customer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum DeliveryStatus {
    Pending,
    Queued,
    Sent,
    Delivered,
    Undelivered { error_code: Option<String> },
    Failed { error_code: Option<String> },
    NotSent { reason: String },
}

impl DeliveryStatus {
    /// Did delivery fail for good (something the agent must hear about)?
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            DeliveryStatus::Undelivered { .. }
                | DeliveryStatus::Failed { .. }
                | DeliveryStatus::NotSent { .. }
        )
    }
}

/// A message to append; the store gives it its seq and timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub role: Role,
    pub text: MessageText,
    pub provider_id: Option<ProviderMessageId>,
    pub attachments: Vec<Attachment>,
    /// An assistant turn that did not answer the question (the rules assistant's fallback, a
    /// model that said it did not know). Consecutive fallbacks are one of the handoff triggers,
    /// and the transcript is the only memory a stateless function has, so the flag is stored.
    pub fallback: bool,
    /// The card of an answer that came from an action.
    pub card: Option<Card>,
}

impl NewMessage {
    pub fn new(role: Role, text: MessageText) -> Self {
        Self {
            role,
            text,
            provider_id: None,
            attachments: Vec::new(),
            fallback: false,
            card: None,
        }
    }

    /// The message as stored with `seq` at `at`: an outbound one starts with its delivery
    /// pending. Both stores build their messages with it, and the turn builds the messages the
    /// assistant sees before they are stored.
    pub fn stored(self, seq: u64, at: Timestamp) -> Message {
        Message {
            seq,
            delivery: self.role.is_outbound().then_some(DeliveryStatus::Pending),
            role: self.role,
            text: self.text,
            provider_id: self.provider_id,
            at,
            attachments: self.attachments,
            fallback: self.fallback,
            card: self.card,
        }
    }

    /// What a message adds to its session's customer counters: (text bytes, attachments).
    pub fn customer_share(&self) -> (u64, u64) {
        share(self.role, &self.text, &self.attachments)
    }

    /// [`NewMessage::customer_share`] of a message as stored.
    pub fn customer_share_of(m: &Message) -> (u64, u64) {
        share(m.role, &m.text, &m.attachments)
    }

    pub fn as_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    pub fn with_provider_id(mut self, id: ProviderMessageId) -> Self {
        self.provider_id = Some(id);
        self
    }

    pub fn with_attachments(mut self, attachments: Vec<Attachment>) -> Self {
        self.attachments = attachments;
        self
    }

    pub fn with_card(mut self, card: Option<Card>) -> Self {
        self.card = card;
        self
    }
}

fn share(role: Role, text: &MessageText, attachments: &[Attachment]) -> (u64, u64) {
    match role {
        Role::Customer => (text.as_str().len() as u64, attachments.len() as u64),
        _ => (0, 0),
    }
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// 1-based position in the session; gap-free and strictly increasing.
    pub seq: u64,
    pub role: Role,
    pub text: MessageText,
    pub provider_id: Option<ProviderMessageId>,
    pub at: Timestamp,
    pub attachments: Vec<Attachment>,
    /// Outbound (assistant, agent) messages only.
    pub delivery: Option<DeliveryStatus>,
    /// See [`NewMessage::fallback`].
    #[serde(default)]
    pub fallback: bool,
    /// See [`NewMessage::card`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Card>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(MessageText::parse("  hi  ").unwrap().as_str(), "hi");
        assert_eq!(MessageText::parse(""), Err(InvalidText::Empty));
        assert_eq!(MessageText::parse(" \n\t "), Err(InvalidText::Empty));
        let long = "a".repeat(MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            MessageText::parse(&long),
            Err(InvalidText::TooLong {
                len: MAX_MESSAGE_CHARS + 1,
                max: MAX_MESSAGE_CHARS
            })
        );
        // Characters, not bytes: 8,000 emoji are fine.
        assert!(MessageText::parse(&"😀".repeat(MAX_MESSAGE_CHARS)).is_ok());
        assert_eq!(
            MessageText::parse_with_limit("abcdef", 5)
                .unwrap_err()
                .to_string(),
            "message text is 6 characters long; the limit is 5"
        );
    }

    #[test]
    fn hidden_characters_are_dropped_and_a_text_of_nothing_else_is_empty() {
        assert_eq!(MessageText::parse("\0\0\0"), Err(InvalidText::Empty));
        assert_eq!(
            MessageText::parse("\u{202e}\u{200b}\u{feff}"),
            Err(InvalidText::Empty)
        );
        assert_eq!(
            MessageText::parse("invoice\u{202e}fdp.exe")
                .unwrap()
                .as_str(),
            "invoicefdp.exe"
        );
        assert_eq!(
            MessageText::parse("a\u{2066}b\u{2069}c\u{0}d\u{7}e")
                .unwrap()
                .as_str(),
            "abcde"
        );
        // Line breaks, tabs and the joiners that emoji and scripts need stay.
        let kept = "line one\n\tline two 👨\u{200d}👩\u{200d}👧 می\u{200c}خواهم";
        assert_eq!(MessageText::parse(kept).unwrap().as_str(), kept);
    }

    #[test]
    fn text_never_shows_in_debug() {
        let t = MessageText::parse("my card number is 4111").unwrap();
        assert_eq!(format!("{t:?}"), "MessageText(22 chars)");
    }

    #[test]
    fn provider_ids_are_bounded() {
        assert!(ProviderMessageId::parse("SM0123456789abcdef0123456789abcdef").is_ok());
        assert!(ProviderMessageId::parse("").is_err());
        assert!(ProviderMessageId::parse("has space").is_err());
        assert!(ProviderMessageId::parse(&"x".repeat(129)).is_err());
    }
}
