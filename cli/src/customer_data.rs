//! A customer's data on request: `casebridge export <phone|email>` and `casebridge erase
//! <phone|email>`.
//!
//! - **Export** writes, as one JSON document, every conversation the table holds for the
//!   customer (any channel, any of our numbers, a widget conversation linked to their verified
//!   e-mail) with its messages, its case, its replies in the outbox and its status check, the
//!   questions it left unanswered, the files in the attachment bucket, and the customer's consent.
//! - **Erase** removes all of that from the table and the bucket, keeps the opt-out (carriers
//!   require a STOP to be honoured after the data is gone), records that it did (how much, not
//!   whom: [`casebridge::store::Erasure`]) and lists the Creatio cases that still hold the
//!   conversation, for the team to delete or anonymise in Creatio, which casebridge does not do
//!   for them: a case is the team's record, with their own notes on it.
//!
//! Both find the customer's conversations by scanning the table: operator commands, never a
//! request path. Retention (`CASEBRIDGE_RETENTION_DAYS`) still removes everything else in time.

use std::fmt::Write;

use casebridge::domain::{Customer, DefaultCountry, PhoneNumber, Session, VerifiedEmail};
use casebridge::s3::S3;
use casebridge::store::{Consent, Erasure, Store};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::CliError;

/// The attachment bucket, when the deployment has one.
pub struct Files<'a> {
    pub s3: &'a S3,
    pub bucket: &'a str,
}

impl Files<'_> {
    /// The keys a session's files live under: the checked ones and the uploads.
    fn prefixes(session: &Session) -> [String; 2] {
        [
            format!("attachments/{}/", session.id),
            format!("uploads/{}/", session.id),
        ]
    }

    async fn keys(&self, session: &Session) -> Result<Vec<String>, CliError> {
        let mut keys = Vec::new();
        for prefix in Self::prefixes(session) {
            let listed = self
                .s3
                .list(self.bucket, &prefix)
                .await
                .map_err(|e| CliError::Files(e.to_string()))?;
            keys.extend(listed.into_iter().map(|o| o.key));
        }
        Ok(keys)
    }
}

/// `+15551234567` (or a national number in the default country) or an e-mail address.
pub fn customer(arg: Option<&String>, country: DefaultCountry) -> Result<Customer, CliError> {
    let raw = arg.ok_or_else(|| {
        CliError::Usage("name the customer: a phone number or an e-mail address".into())
    })?;
    if raw.contains('@') {
        return VerifiedEmail::parse(raw)
            .map(Customer::Email)
            .map_err(|_| CliError::Usage(format!("{raw:?} is not an e-mail address")));
    }
    PhoneNumber::parse(raw, Some(country))
        .map(Customer::Phone)
        .map_err(|_| {
            CliError::Usage(format!(
                "{raw:?} is not a phone number or an e-mail address"
            ))
        })
}

fn case_of(session: &Session) -> Option<String> {
    session.creatio.as_ref().map(|l| {
        l.case_number
            .clone()
            .unwrap_or_else(|| l.case_id.to_string())
    })
}

/// Everything the table and the bucket hold for `customer`, as JSON.
pub async fn export(
    store: &dyn Store,
    files: Option<&Files<'_>>,
    customer: &Customer,
    now: Timestamp,
) -> Result<Value, CliError> {
    let mut conversations = Vec::new();
    for session in store.customer_sessions(customer).await? {
        let messages = store
            .transcript(session.id)
            .await?
            .map(|(_, m)| m)
            .unwrap_or_default();
        let records = store.session_records(&session).await?;
        let stored_files = match files {
            Some(f) => f.keys(&session).await?,
            None => Vec::new(),
        };
        conversations.push(json!({
            "session_id": session.id.to_string(),
            "channel": session.key.channel.to_string(),
            "our_endpoint": session.key.endpoint,
            "state": session.state.as_str(),
            "created_at": session.created_at.to_string(),
            "last_activity_at": session.last_activity_at.to_string(),
            "handoff_reason": session.handoff_reason,
            "creatio_case": case_of(&session),
            "messages": messages,
            "replies_in_outbox": records.outbox.iter().map(|e| json!({
                "activity_id": e.activity_id.to_string(),
                "state": e.state.as_str(),
                "outcome": e.outcome,
                "queued_at": e.queued_at.to_string(),
            })).collect::<Vec<_>>(),
            "case_status_check": records.status_check.map(|c| json!({
                "state": c.state.as_str(),
                "reports": c.reports,
                "outcome": c.outcome,
                "reported_at": c.reported_at.to_string(),
            })),
            "unanswered_questions": records.gaps.iter().map(|g| json!({
                "question": g.question,
                "at": g.at.to_string(),
            })).collect::<Vec<_>>(),
            "files": stored_files,
        }));
    }
    let consent = match store.consent(customer).await? {
        Consent::Granted => json!({"opted_out": false}),
        Consent::OptedOut { since } => json!({"opted_out": true, "since": since.to_string()}),
    };
    Ok(json!({
        "customer": customer.storage_key(),
        "exported_at": now.to_string(),
        "consent": consent,
        "conversations": conversations,
    }))
}

/// Removes what [`export`] finds, keeps the opt-out, records the erasure; what it did, and the
/// Creatio cases left for the team.
pub async fn erase(
    store: &dyn Store,
    files: Option<&Files<'_>>,
    customer: &Customer,
    now: Timestamp,
) -> Result<String, CliError> {
    let sessions = store.customer_sessions(customer).await?;
    let mut erasure = Erasure {
        at: now,
        sessions: sessions.len(),
        items: 0,
        attachments: 0,
        cases: Vec::new(),
    };
    for session in &sessions {
        // Files first: a failure leaves the table's record of them, and erase can run again.
        if let Some(f) = files {
            for key in f.keys(session).await? {
                f.s3.delete(f.bucket, &key)
                    .await
                    .map_err(|e| CliError::Files(e.to_string()))?;
                erasure.attachments += 1;
            }
        }
        erasure.items += store.erase_session(session).await?;
        erasure.cases.extend(case_of(session));
    }
    store.record_erasure(&erasure).await?;
    tracing::info!(
        sessions = erasure.sessions,
        items = erasure.items,
        attachments = erasure.attachments,
        "customer data erased"
    );
    let mut out = format!(
        "erased {} conversation(s): {} item(s) from the table, {} file(s) from the attachment bucket\n",
        erasure.sessions, erasure.items, erasure.attachments
    );
    if let Consent::OptedOut { since } = store.consent(customer).await? {
        let _ = writeln!(
            out,
            "kept: the customer's opt-out (STOP) of {since}, as carriers require"
        );
    }
    if files.is_none() {
        out.push_str("no attachment bucket is configured (WIDGET_ATTACHMENTS_BUCKET): no file was looked for\n");
    }
    if erasure.cases.is_empty() {
        out.push_str("Creatio: no case was made for these conversations\n");
    } else {
        let _ = writeln!(
            out,
            "Creatio still holds these cases; delete or anonymise them there: {}",
            erasure.cases.join(", ")
        );
    }
    Ok(out)
}
