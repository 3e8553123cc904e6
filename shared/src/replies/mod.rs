//! Rep replies: from an activity in Creatio to a message the customer gets, exactly once.
//!
//! ```text
//! Creatio process ──POST /creatio/reply──▶ outbox entry ◀──catch-up (every minute)──┐
//!                                               │ stream                             │
//!                                               ▼                                    │
//!                      deliver: read the activity, decide, send, record   Creatio activities
//! ```
//! - **Recorded first** ([`crate::domain::outbox`]): the webhook and the catch-up only put "deliver
//!   activity X" in the table, in one conditional write keyed by the activity id, and answer.
//!   A process that calls once and gives up, or never calls, loses nothing.
//! - **Delivered from the stream** ([`deliver`]): the activity is read from Creatio and judged
//!   here ([`ReplyRules::judge`]); only what a rep wrote for the customer goes out, cut to its new
//!   text ([`text`]); SMS through the provider, the widget through the store. A transient failure
//!   is retried by the stream; one that lasts, and a reply that cannot be delivered at all, add
//!   "Reply not delivered: <reason>" to the case.
//! - **Caught up** ([`catchup`]): one Creatio request a poll asks for reply activities and closed
//!   cases since the last poll, so the business processes only make replies faster.
//!
//! What counts as a reply is decided here, whatever the process sends: by default an e-mail
//! (`TypeId` Email) going out (`MessageTypeId` Outgoing) that is not automatic. Incoming e-mails,
//! tasks, calls and casebridge's own activities never go out unless configured
//! (`CREATIO_REPLY_TYPES`); Creatio's automatic e-mails (case notifications carry
//! `Auto-Submitted` / `IsAutoSubmitted`) never do, nor e-mails from the senders or with the
//! subjects listed in `CREATIO_AUTO_EMAIL_SENDERS` / `CREATIO_AUTO_EMAIL_SUBJECTS`.

pub mod catchup;
pub mod closure;
pub mod config;
pub mod deliver;
pub mod text;

use serde_json::Value;

use crate::creatio::base_ids;
use crate::creatio::odata::{date_value, lookup_value, text_value};
use crate::domain::{ActivityId, CaseId, LookupId};

/// What counts as a rep's reply to the customer (the replies' section of the configuration,
/// [`config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyRules {
    /// Activity types that can carry a reply (`CREATIO_REPLY_TYPES`; default: Email).
    pub types: Vec<LookupId>,
    /// For types other than Email: the categories that count (`CREATIO_REPLY_CATEGORIES`;
    /// empty: any). E-mails are told apart by their direction instead.
    pub categories: Vec<LookupId>,
    /// Senders whose e-mails are automatic (`CREATIO_AUTO_EMAIL_SENDERS`), lower case.
    pub auto_senders: Vec<String>,
    /// Subject prefixes of automatic e-mails (`CREATIO_AUTO_EMAIL_SUBJECTS`), lower case.
    pub auto_subjects: Vec<String>,
}

fn id(g: &str) -> LookupId {
    LookupId::parse(g).unwrap_or_else(|_| unreachable!("fixed GUID"))
}

impl Default for ReplyRules {
    fn default() -> Self {
        Self {
            types: vec![id(base_ids::ACTIVITY_TYPE_EMAIL)],
            categories: Vec::new(),
            auto_senders: Vec::new(),
            auto_subjects: Vec::new(),
        }
    }
}

/// An activity as casebridge reads it from Creatio (`GET Activity(<id>)`, every column: a
/// column that one Creatio version lacks is simply absent, where `$select` would fail).
#[derive(Debug, Clone, PartialEq)]
pub struct CreatioActivity {
    pub id: ActivityId,
    pub case_id: Option<CaseId>,
    pub type_id: Option<LookupId>,
    pub message_type_id: Option<LookupId>,
    pub category_id: Option<LookupId>,
    pub title: String,
    pub body: String,
    pub notes: String,
    pub is_html: bool,
    pub sender: String,
    /// Creatio marks its own notification e-mails: `IsAutoSubmitted`, or an `Auto-Submitted`
    /// header other than `no` in `HeaderProperties`.
    pub automatic: bool,
    pub created_on: Option<jiff::Timestamp>,
}

impl CreatioActivity {
    /// From an OData row; None without a usable `Id`.
    pub fn from_row(row: &Value) -> Option<Self> {
        let lookup = |c: &str| lookup_value(row, c).map(LookupId::from_uuid);
        let text = |c: &str| text_value(row, c).unwrap_or("").to_owned();
        // RFC 3834's values for an automatic message; `Auto-Submitted: no` is a person's.
        let headers = text("HeaderProperties").to_ascii_lowercase();
        let auto_header = ["auto-replied", "auto-generated", "auto-notified"]
            .iter()
            .any(|v| headers.contains(v));
        Some(Self {
            id: ActivityId::from_uuid(lookup_value(row, "Id")?),
            case_id: lookup_value(row, "CaseId").map(CaseId::from_uuid),
            type_id: lookup("TypeId"),
            message_type_id: lookup("MessageTypeId"),
            category_id: lookup("ActivityCategoryId"),
            title: text("Title"),
            body: text("Body"),
            notes: text("Notes"),
            // Without the flag, a body that looks like markup is read as HTML.
            is_html: row
                .get("IsHtmlBody")
                .and_then(Value::as_bool)
                .unwrap_or_else(|| text("Body").contains('<')),
            sender: text("Sender"),
            automatic: row.get("IsAutoSubmitted").and_then(Value::as_bool) == Some(true)
                || auto_header,
            created_on: date_value(row, "CreatedOn"),
        })
    }

    fn is_email(&self) -> bool {
        self.type_id == Some(id(base_ids::ACTIVITY_TYPE_EMAIL))
    }

    /// casebridge's own notes are titled `casebridge: …` (its synced messages are recognised
    /// by their deterministic ids, see [`deliver`]).
    pub fn titled_by_casebridge(&self) -> bool {
        self.title.starts_with("casebridge:")
    }
}

/// Why an activity is not sent to the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAReply {
    #[error("an activity of a type that does not count as a reply (CREATIO_REPLY_TYPES)")]
    Type,
    #[error("an activity in a category that does not count as a reply (CREATIO_REPLY_CATEGORIES)")]
    Category,
    #[error("an incoming e-mail")]
    Incoming,
    #[error("an automatic e-mail")]
    Automatic,
    #[error("written by casebridge")]
    Ours,
    #[error("no text")]
    NoText,
    #[error("no new text above the quoted thread")]
    NoNewText,
}

impl ReplyRules {
    /// The text to send the customer, or why this activity is not a reply.
    pub fn judge(&self, a: &CreatioActivity) -> Result<String, NotAReply> {
        if a.titled_by_casebridge() {
            return Err(NotAReply::Ours);
        }
        if !a.type_id.is_some_and(|t| self.types.contains(&t)) {
            return Err(NotAReply::Type);
        }
        if a.is_email() {
            if a.message_type_id != Some(id(base_ids::EMAIL_TYPE_OUTGOING)) {
                return Err(NotAReply::Incoming);
            }
            let sender = a.sender.to_lowercase();
            let subject = a.title.trim().to_lowercase();
            if a.automatic
                || self
                    .auto_senders
                    .iter()
                    .any(|s| sender.contains(s.as_str()))
                || self
                    .auto_subjects
                    .iter()
                    .any(|p| subject.starts_with(p.as_str()))
            {
                return Err(NotAReply::Automatic);
            }
            // An e-mail's subject is not its message: the body, else the notes.
            let raw = [&a.body, &a.notes]
                .into_iter()
                .find(|t| !t.trim().is_empty())
                .ok_or(NotAReply::NoText)?;
            let html = a.is_html && raw == &a.body;
            return text::new_text(raw, html).ok_or(NotAReply::NoNewText);
        }
        if !self.categories.is_empty()
            && !a.category_id.is_some_and(|c| self.categories.contains(&c))
        {
            return Err(NotAReply::Category);
        }
        let raw = [&a.body, &a.notes, &a.title]
            .into_iter()
            .find(|t| !t.trim().is_empty())
            .ok_or(NotAReply::NoText)?;
        let html = raw == &a.body && a.is_html;
        text::new_text(raw, html).ok_or(NotAReply::NoNewText)
    }

    /// The OData filter for reply activities (the catch-up's query): the configured types, and
    /// for e-mails the outgoing direction. Lookups through navigation paths (`Type/Id`), which
    /// every Creatio version takes.
    pub fn filter(&self) -> Option<crate::creatio::Filter> {
        use crate::creatio::Filter;
        let email = id(base_ids::ACTIVITY_TYPE_EMAIL);
        Filter::any(self.types.iter().map(|t| {
            let of_type = Filter::eq_guid("Type/Id", t.as_uuid());
            if *t == email {
                of_type.and(Filter::eq_guid(
                    "MessageType/Id",
                    id(base_ids::EMAIL_TYPE_OUTGOING).as_uuid(),
                ))
            } else {
                of_type
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(extra: Value) -> Value {
        let mut v = json!({
            "Id": "0b5f3a52-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
            "CaseId": "3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
            "TypeId": base_ids::ACTIVITY_TYPE_EMAIL,
            "MessageTypeId": base_ids::EMAIL_TYPE_OUTGOING,
            "ActivityCategoryId": "8038a396-7825-e011-8165-00155d043204",
            "Title": "RE: my order",
            "Body": "<p>It ships today.</p>",
            "Notes": "",
            "IsHtmlBody": true,
            "Sender": "Support <support@example.com>",
            "IsAutoSubmitted": false,
            "HeaderProperties": "",
        });
        for (k, val) in extra.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    }

    fn judge(rules: &ReplyRules, extra: Value) -> Result<String, NotAReply> {
        rules.judge(&CreatioActivity::from_row(&row(extra)).unwrap())
    }

    #[test]
    fn an_outgoing_email_is_a_reply_and_everything_else_is_not_by_default() {
        let r = ReplyRules::default();
        assert_eq!(judge(&r, json!({})).unwrap(), "It ships today.");
        assert_eq!(
            judge(&r, json!({"MessageTypeId": base_ids::EMAIL_TYPE_INCOMING})),
            Err(NotAReply::Incoming)
        );
        // Incoming e-mails may carry no direction at all: the zero GUID.
        assert_eq!(
            judge(
                &r,
                json!({"MessageTypeId": "00000000-0000-0000-0000-000000000000"})
            ),
            Err(NotAReply::Incoming)
        );
        assert_eq!(
            judge(&r, json!({"TypeId": base_ids::ACTIVITY_TYPE_TASK})),
            Err(NotAReply::Type)
        );
        assert_eq!(
            judge(&r, json!({"TypeId": base_ids::ACTIVITY_TYPE_CALL})),
            Err(NotAReply::Type)
        );
        assert_eq!(
            judge(&r, json!({"Title": "casebridge: reply not delivered"})),
            Err(NotAReply::Ours)
        );
        assert_eq!(
            judge(&r, json!({"IsAutoSubmitted": true})),
            Err(NotAReply::Automatic)
        );
        assert_eq!(
            judge(
                &r,
                json!({"HeaderProperties": "[{\"Name\":\"Auto-Submitted\",\"Value\":\"auto-replied\"}]"})
            ),
            Err(NotAReply::Automatic)
        );
        assert_eq!(
            judge(&r, json!({"HeaderProperties": "Auto-Submitted: no"})).unwrap(),
            "It ships today."
        );
        assert_eq!(
            judge(&r, json!({"Body": "", "Notes": ""})),
            Err(NotAReply::NoText)
        );
    }

    #[test]
    fn configured_types_categories_senders_and_subjects_are_honoured() {
        let todo = LookupId::parse(base_ids::ACTIVITY_CATEGORY_TODO).unwrap();
        let r = ReplyRules {
            types: vec![
                id(base_ids::ACTIVITY_TYPE_EMAIL),
                id(base_ids::ACTIVITY_TYPE_TASK),
            ],
            categories: vec![todo],
            auto_senders: vec!["noreply@example.com".into()],
            auto_subjects: vec!["case registered".into()],
        };
        let task = json!({"TypeId": base_ids::ACTIVITY_TYPE_TASK, "MessageTypeId": null,
            "ActivityCategoryId": base_ids::ACTIVITY_CATEGORY_TODO, "Body": "", "IsHtmlBody": false,
            "Notes": "Called the courier: tomorrow."});
        assert_eq!(judge(&r, task).unwrap(), "Called the courier: tomorrow.");
        let other_category = json!({"TypeId": base_ids::ACTIVITY_TYPE_TASK,
            "ActivityCategoryId": "e52bd583-7825-e011-8165-00155d043204"});
        assert_eq!(judge(&r, other_category), Err(NotAReply::Category));
        assert_eq!(
            judge(&r, json!({"Sender": "Example <NoReply@example.com>"})),
            Err(NotAReply::Automatic)
        );
        assert_eq!(
            judge(&r, json!({"Title": "Case registered: SR00000012"})),
            Err(NotAReply::Automatic)
        );
        assert_eq!(
            r.filter().unwrap().as_str(),
            format!(
                "((Type/Id eq {}) and (MessageType/Id eq {})) or (Type/Id eq {})",
                base_ids::ACTIVITY_TYPE_EMAIL,
                base_ids::EMAIL_TYPE_OUTGOING,
                base_ids::ACTIVITY_TYPE_TASK
            )
        );
    }
}
