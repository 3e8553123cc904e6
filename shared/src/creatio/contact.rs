//! Matching the customer to a Creatio contact.
//!
//! - **SMS**: Creatio keeps every phone of a contact in `ContactCommunication`, with a
//!   `SearchNumber` the platform maintains: the digits as typed, reversed, so that a number's end
//!   is a `startswith`. One `startswith(SearchNumber, <national number reversed>)` finds the
//!   contact whether a person typed "(555) 123-4567", "555.123.4567" or "+1 555 123 4567";
//!   each candidate's number is then checked to be this one ([`PhoneNumber::is_typed_as`]: the
//!   same national number, preceded by nothing, a trunk prefix or the calling code). The
//!   contact's own `MobilePhone` / `Phone` columns, compared in the common written forms, are the
//!   fallback for an instance whose `ContactCommunication` this user cannot read.
//! - **Widget with a verified email**: `ContactCommunication` keeps e-mail addresses lower-cased
//!   in `SearchNumber`, so the match is case-insensitive; `Contact.Email` is the fallback.
//! - **Anonymous visitor**: no query; a new contact.
//!
//! The contact's preferred language ([`preferred_language`]) is read only when
//! `CREATIO_CONTACT_LANGUAGE=true`: `Contact.LanguageId` is a `SysLanguage` lookup whose `Code` is
//! a culture (`es-ES`), and Creatio fills it with the system's default message language for every
//! new contact, so on most instances it says what the team set, not what the customer chose.
//!
//! Both reads go in one `$batch`: one request, as before. When none matches, the contact is
//! created with a deterministic id (UUIDv5 of the customer) inside the same `$batch` as the
//! case, with its number in `MobilePhone` (or its address in `Email`): saving those is what
//! makes Creatio write the `ContactCommunication` row that the next match finds.

use crate::creatio::config::CreatioConfig;
use crate::creatio::odata::lookup_value;
use crate::creatio::{BatchOp, CreatioClient, CreatioError, Filter, Query};
use crate::domain::{ContactId, Customer, Language, PhoneNumber};
use serde_json::{Value, json};
use uuid::Uuid;

/// The contact for a case: one that exists, or one to create in the case's batch.
#[derive(Debug, Clone)]
pub enum ContactMatch {
    Found(ContactId),
    Create { id: ContactId, op: BatchOp },
}

impl ContactMatch {
    pub fn id(&self) -> ContactId {
        match self {
            ContactMatch::Found(id) | ContactMatch::Create { id, .. } => *id,
        }
    }
}

const NAMESPACE: Uuid = Uuid::from_u128(0x6361_7365_6272_6964_6765_2d63_6f6e_7461);

fn deterministic_id(customer: &Customer) -> ContactId {
    ContactId::from_uuid(Uuid::new_v5(
        &NAMESPACE,
        format!("contact:{}", customer.storage_key()).as_bytes(),
    ))
}

/// The forms of a number people type most, for the columns fallback (no metadata read).
fn written_forms(p: &PhoneNumber) -> Vec<String> {
    let national = p.national_digits();
    let mut forms = vec![
        p.as_e164().to_owned(),
        p.digits().to_owned(),
        national.to_owned(),
    ];
    if p.calling_code() == "1" && national.len() == 10 {
        let (a, b, c) = (&national[..3], &national[3..6], &national[6..]);
        forms.extend([
            format!("({a}) {b}-{c}"),
            format!("{a}-{b}-{c}"),
            format!("{a}.{b}.{c}"),
            format!("+1 {a}-{b}-{c}"),
            format!("+1 ({a}) {b}-{c}"),
            format!("1-{a}-{b}-{c}"),
        ]);
    } else {
        forms.push(format!("0{national}"));
    }
    forms
}

fn columns_filter(columns: &[&str], values: &[String]) -> Option<Filter> {
    Filter::any(
        values
            .iter()
            .flat_map(|v| columns.iter().map(move |c| Filter::eq_str(c, v))),
    )
}

fn contact_of(rows: &[Value], column: &str) -> Option<ContactId> {
    rows.iter()
        .find_map(|r| lookup_value(r, column))
        .map(ContactId::from_uuid)
}

pub async fn match_contact(
    creatio: &CreatioClient,
    customer: &Customer,
) -> Result<ContactMatch, CreatioError> {
    let (communication, columns) = match customer {
        Customer::Phone(p) => {
            let reversed: String = p.national_digits().chars().rev().collect();
            (
                Filter::starts_with("SearchNumber", &reversed),
                columns_filter(&["MobilePhone", "Phone"], &written_forms(p)),
            )
        }
        Customer::Email(e) => {
            let lower = e.as_str().to_lowercase();
            let mut forms = vec![e.as_str().to_owned()];
            if lower != e.as_str() {
                forms.push(lower.clone());
            }
            (
                Filter::eq_str("SearchNumber", &lower),
                columns_filter(&["Email"], &forms),
            )
        }
        Customer::Visitor(_) => return Ok(create(customer)),
    };
    let answers = creatio
        .queries(&[
            Query {
                entity: "ContactCommunication",
                filter: Some(communication),
                select: &["ContactId", "Number"],
                orderby: None,
                top: Some(20),
            },
            Query {
                entity: "Contact",
                filter: columns,
                select: &["Id"],
                orderby: None,
                top: Some(1),
            },
        ])
        .await?;
    let mut answers = answers.into_iter();
    let by_communication = answers.next().unwrap_or_else(|| Ok(Vec::new()));
    let by_columns = answers.next().unwrap_or_else(|| Ok(Vec::new()));
    let found = match (&by_communication, customer) {
        // A phone's candidates share the national number's end: keep those that are this number.
        (Ok(rows), Customer::Phone(p)) => {
            let same: Vec<Value> = rows
                .iter()
                .filter(|r| {
                    r.get("Number")
                        .and_then(Value::as_str)
                        .is_some_and(|n| p.is_typed_as(n))
                })
                .cloned()
                .collect();
            contact_of(&same, "ContactId")
        }
        (Ok(rows), _) => contact_of(rows, "ContactId"),
        (Err(e), _) if e.is_transient() => return Err(e.clone()),
        (Err(e), _) => {
            tracing::warn!(error = %e, "ContactCommunication cannot be read; matching by the contact's columns");
            None
        }
    };
    let found = match found {
        Some(id) => Some(id),
        None => contact_of(&by_columns?, "Id"),
    };
    Ok(match found {
        Some(id) => ContactMatch::Found(id),
        None => create(customer),
    })
}

/// A new contact, with the number or address where Creatio's own matching finds it next time.
fn create(customer: &Customer) -> ContactMatch {
    let id = deterministic_id(customer);
    let body = match customer {
        Customer::Phone(p) => json!({"Name": p.as_e164(), "MobilePhone": p.as_e164()}),
        Customer::Email(e) => json!({"Name": e.as_str(), "Email": e.as_str()}),
        Customer::Visitor(v) => json!({"Name": format!("Website {}", v.label())}),
    };
    ContactMatch::Create {
        id,
        op: BatchOp::create("Contact", id.as_uuid(), body),
    }
}

/// The contact's language (`Contact.LanguageId` → `SysLanguage.Code`) when it is one of the five
/// casebridge speaks: two reads.
pub async fn contact_language(
    creatio: &CreatioClient,
    contact: ContactId,
) -> Result<Option<Language>, CreatioError> {
    let Some(row) = creatio
        .get("Contact", contact.as_uuid(), &["LanguageId"])
        .await?
    else {
        return Ok(None);
    };
    let Some(language) = lookup_value(&row, "LanguageId") else {
        return Ok(None);
    };
    Ok(creatio
        .get("SysLanguage", language, &["Code"])
        .await?
        .and_then(|l| {
            l.get("Code")
                .and_then(Value::as_str)
                .and_then(Language::parse)
        }))
}

/// The language the team keeps on the contact, when `CREATIO_CONTACT_LANGUAGE` asks for it and
/// the session has a contact: it overrides the detected one for the case's language column and
/// the closing notice. A failure to read it is logged and the detected language used instead: it
/// never holds up a case or a closing.
pub async fn preferred_language(
    creatio: &CreatioClient,
    config: &CreatioConfig,
    contact: Option<ContactId>,
) -> Option<Language> {
    if !config.contact_language {
        return None;
    }
    match contact_language(creatio, contact?).await {
        Ok(language) => language,
        Err(e) => {
            tracing::warn!(error = %e, "the contact's language could not be read; using the conversation's");
            None
        }
    }
}
