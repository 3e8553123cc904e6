//! Matching the customer to a Creatio contact.
//!
//! - SMS: a Contact whose `MobilePhone` or `Phone` holds the number in any of the forms people
//!   type it ([`PhoneNumber::stored_forms`]), one query.
//! - Widget with a verified email: a Contact with that `Email`, one query.
//! - Anonymous visitor: no query; a new contact named after the visitor.
//!
//! When none is found, the contact is created with a deterministic id (UUIDv5 of the customer),
//! inside the same `$batch` as the case: a retry finds it already there instead of creating a
//! second one, and a new customer costs no extra round trip.

use casebridge::creatio::{BatchOp, CreatioClient, CreatioError, Filter};
use casebridge::domain::{ContactId, Customer, PhoneNumber};
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

fn phone_filter(phone: &PhoneNumber) -> Option<Filter> {
    phone
        .stored_forms()
        .iter()
        .flat_map(|f| [Filter::eq_str("MobilePhone", f), Filter::eq_str("Phone", f)])
        .reduce(Filter::or)
}

pub async fn match_contact(
    creatio: &CreatioClient,
    customer: &Customer,
) -> Result<ContactMatch, CreatioError> {
    let filter = match customer {
        Customer::Phone(p) => phone_filter(p),
        Customer::Email(e) => Some(Filter::eq_str("Email", e.as_str())),
        Customer::Visitor(_) => None,
    };
    if let Some(filter) = filter {
        let rows = creatio
            .query("Contact", Some(&filter), &["Id"], Some(1))
            .await?;
        if let Some(id) = rows
            .first()
            .and_then(|r| r.get("Id"))
            .and_then(Value::as_str)
            .and_then(|s| ContactId::parse(s).ok())
        {
            return Ok(ContactMatch::Found(id));
        }
    }
    let id = deterministic_id(customer);
    let body = match customer {
        Customer::Phone(p) => json!({"Name": p.as_e164(), "MobilePhone": p.as_e164()}),
        Customer::Email(e) => json!({"Name": e.as_str(), "Email": e.as_str()}),
        Customer::Visitor(v) => json!({"Name": format!("Website visitor {}", v.as_str())}),
    };
    Ok(ContactMatch::Create {
        id,
        op: BatchOp::create("Contact", id.as_uuid(), body),
    })
}
