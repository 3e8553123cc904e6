//! A message stored before, delivered again (Twilio retries a webhook it got no answer to; the
//! widget retries a POST after a timeout): the answer is what followed it, when something did.

use crate::domain::{Message, Role};

/// What followed message `seq` in `transcript`: the first later message that is not one of
/// casebridge's own notes (a consent change may follow the message it answers). None when the
/// message is still the newest, and the assistant has yet to decide on it.
pub fn answer_after(transcript: &[Message], seq: u64) -> Option<&Message> {
    transcript
        .iter()
        .find(|m| m.seq > seq && m.role != Role::System)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MessageText;

    fn message(seq: u64, role: Role) -> Message {
        Message {
            seq,
            role,
            text: MessageText::parse("text").unwrap(),
            provider_id: None,
            at: jiff::Timestamp::UNIX_EPOCH,
            attachments: Vec::new(),
            delivery: None,
            fallback: false,
            card: None,
        }
    }

    #[test]
    fn the_answer_is_the_first_later_message_that_is_not_a_note() {
        let t = [
            message(1, Role::Customer),
            message(2, Role::System),
            message(3, Role::Assistant),
        ];
        assert_eq!(answer_after(&t, 1).map(|m| m.seq), Some(3));
        assert_eq!(answer_after(&t, 3), None);
    }
}
