//! The domain model: what a conversation is, independent of Lambda, DynamoDB or Creatio.
//!
//! Everything that arrives from outside (webhook fields, JWT claims, Creatio ids) is parsed into
//! one of these types at the edge, so the rest of the code cannot hold a bad value.

pub mod connection;
pub mod identity;
pub mod ids;
pub mod language;
pub mod message;
pub mod outbox;
pub mod phone;
mod phone_codes;
pub mod session;

pub use connection::{CONNECTION_LIFETIME, ConnectionId};
pub use identity::{
    Channel, ConversationKey, Customer, NotIssuedVisitorId, VerifiedEmail, VisitorId,
};
pub use ids::{ActivityId, CaseId, ContactId, InvalidId, LookupId, SessionId};
pub use language::{Language, conversation_language};
pub use message::{
    Attachment, Card, CardLink, CardRow, DeliveryStatus, InvalidText, MAX_MESSAGE_CHARS, Message,
    MessageText, NewMessage, ProviderMessageId, Role, without_hidden_chars,
};
pub use outbox::{
    CatchUpMark, CatchUpMarks, OutboxChange, OutboxEntry, OutboxSource, OutboxState, StatusCheck,
};
pub use phone::{DefaultCountry, InvalidPhoneNumber, PhoneNumber, mask_phone};
pub use session::{CreatioLink, ReadMark, RefusedTransition, Session, SessionState, Transition};
