//! How each item is keyed (`pk`, `sk`), and what a stream record is about read back from its key
//! ([`StreamItem::of_key`]): the key format stays private to the store.

use super::*;

/// What a stream record is about, read from its `pk` (the key format stays private to the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamItem {
    /// A session item or one of its messages: Creatio may be behind on this session.
    Session(SessionId),
    /// An outbox entry: a rep reply to deliver.
    Outbox(ActivityId),
    /// A case status check: a case a business process said changed.
    CaseStatus(CaseId),
}

impl StreamItem {
    /// None for items the stream consumer has no business with (pointers, provider ids,
    /// consent, the catch-up marks).
    pub fn of_key(pk: &str) -> Option<Self> {
        if let Some(id) = pk.strip_prefix("S#") {
            return SessionId::parse(id).ok().map(StreamItem::Session);
        }
        if let Some(id) = pk.strip_prefix("R#") {
            return ActivityId::parse(id).ok().map(StreamItem::Outbox);
        }
        if let Some(id) = pk.strip_prefix("U#") {
            return CaseId::parse(id).ok().map(StreamItem::CaseStatus);
        }
        None
    }
}

/// Seqs are rendered with 10 digits so that they sort as numbers.
pub(super) const MAX_SEQ: u64 = 9_999_999_999;

pub(super) fn session_pk(id: SessionId) -> String {
    format!("S#{id}")
}

pub(super) fn message_sk(seq: u64) -> String {
    format!("M#{seq:010}")
}

pub(super) fn conv_pk(key: &ConversationKey) -> String {
    format!("C#{}", key.storage_key())
}

pub(super) fn consent_pk(customer: &Customer) -> String {
    format!("O#{}", customer.storage_key())
}

pub(super) fn provider_pk(channel: Channel, id: &ProviderMessageId) -> String {
    format!("P#{channel}#{}", id.as_str())
}
