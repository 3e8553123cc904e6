//! Items to and from the domain's types: one function per item kind and direction, and the
//! attribute readers that name the attribute a malformed item lacks.

use super::*;

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!(
            "missing string attribute {name}"
        ))),
    }
}

pub(super) fn opt_str(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

pub(super) fn num_attr(item: &Item, name: &str) -> Result<u64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a count"))),
        _ => Err(StoreError::Corrupt(format!(
            "missing number attribute {name}"
        ))),
    }
}

pub(super) fn time_attr(item: &Item, name: &str) -> Result<Timestamp, StoreError> {
    str_attr(item, name)?
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("attribute {name} is not a timestamp")))
}

pub(super) fn session_id_attr(item: &Item) -> Result<SessionId, StoreError> {
    SessionId::parse(str_attr(item, "session_id")?).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(super) fn key_item(pk: &str, sk: &str) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn consent_from_item(item: Option<&Item>) -> Result<Consent, StoreError> {
    Ok(match item.and_then(|i| opt_str(i, "opted_out_at")) {
        Some(at) => Consent::OptedOut {
            since: at
                .parse()
                .map_err(|_| StoreError::Corrupt("consent item has a bad opted_out_at".into()))?,
        },
        None => Consent::Granted,
    })
}

pub(super) fn session_to_item(session: &Session, expires: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(session_pk(session.id)));
    item.insert("sk".into(), s(META));
    item.insert("kind".into(), s("session"));
    item.insert("session_id".into(), s(session.id.to_string()));
    item.insert("conv".into(), s(session.key.storage_key()));
    item.insert("state".into(), s(session.state.as_str()));
    item.insert("created_at".into(), s(session.created_at.to_string()));
    item.insert(
        "last_activity_at".into(),
        s(session.last_activity_at.to_string()),
    );
    item.insert("last_seq".into(), n(session.last_seq));
    item.insert("synced_seq".into(), n(session.synced_seq));
    item.insert("customer_bytes".into(), n(session.customer_bytes));
    item.insert(
        "customer_attachments".into(),
        n(session.customer_attachments),
    );
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    if let Some(read) = &session.read {
        item.insert("read_seq".into(), n(read.seq));
        item.insert("read_at".into(), s(read.at.to_string()));
        item.insert("read_synced_seq".into(), n(session.read_synced_seq));
    }
    if let Some(link) = &session.creatio {
        item.insert("case_id".into(), s(link.case_id.to_string()));
        if let Some(num) = &link.case_number {
            item.insert("case_number".into(), s(num.clone()));
        }
        if let Some(c) = link.contact_id {
            item.insert("contact_id".into(), s(c.to_string()));
        }
    }
    item
}

pub(super) fn link_update(
    link: &CreatioLink,
) -> (Vec<&'static str>, Vec<(&'static str, AttributeValue)>) {
    let mut exprs = vec!["case_id = :case"];
    let mut values = vec![(":case", s(link.case_id.to_string()))];
    if let Some(num) = &link.case_number {
        exprs.push("case_number = :num");
        values.push((":num", s(num.clone())));
    }
    if let Some(c) = link.contact_id {
        exprs.push("contact_id = :contact");
        values.push((":contact", s(c.to_string())));
    }
    (exprs, values)
}

pub(super) fn session_from_item(item: &Item) -> Result<Session, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("session item has a bad {what}"));
    let id = session_id_attr(item)?;
    let key =
        ConversationKey::from_storage_key(str_attr(item, "conv")?).map_err(|_| corrupt("conv"))?;
    let state = SessionState::parse(str_attr(item, "state")?).ok_or_else(|| corrupt("state"))?;
    let creatio = match opt_str(item, "case_id") {
        Some(c) => Some(CreatioLink {
            case_id: CaseId::parse(&c).map_err(|_| corrupt("case_id"))?,
            case_number: opt_str(item, "case_number"),
            contact_id: opt_str(item, "contact_id")
                .map(|c| ContactId::parse(&c))
                .transpose()
                .map_err(|_| corrupt("contact_id"))?,
        }),
        None => None,
    };
    Ok(Session {
        id,
        key,
        state,
        created_at: time_attr(item, "created_at")?,
        last_activity_at: time_attr(item, "last_activity_at")?,
        last_seq: num_attr(item, "last_seq")?,
        synced_seq: num_attr(item, "synced_seq")?,
        creatio,
        handoff_reason: opt_str(item, "handoff_reason"),
        sync_error: opt_str(item, "sync_error"),
        customer_bytes: num_attr(item, "customer_bytes").unwrap_or(0),
        customer_attachments: num_attr(item, "customer_attachments").unwrap_or(0),
        read: match item.get("read_seq") {
            Some(_) => Some(crate::domain::ReadMark {
                seq: num_attr(item, "read_seq")?,
                at: time_attr(item, "read_at")?,
            }),
            None => None,
        },
        read_synced_seq: num_attr(item, "read_synced_seq").unwrap_or(0),
    })
}

pub(super) fn message_to_item(id: SessionId, m: &Message, expires: i64) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(session_pk(id)));
    item.insert("sk".into(), s(message_sk(m.seq)));
    item.insert("kind".into(), s("message"));
    item.insert("session_id".into(), s(id.to_string()));
    item.insert("seq".into(), n(m.seq));
    item.insert("role".into(), s(m.role.as_str()));
    item.insert("text".into(), s(m.text.as_str()));
    item.insert("at".into(), s(m.at.to_string()));
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    if let Some(pid) = &m.provider_id {
        item.insert("provider_id".into(), s(pid.as_str()));
    }
    if !m.attachments.is_empty() {
        // Serialising plain strings cannot fail.
        if let Ok(json) = serde_json::to_string(&m.attachments) {
            item.insert("attachments".into(), s(json));
        }
    }
    if let Some(d) = &m.delivery
        && let Ok(json) = serde_json::to_string(d)
    {
        item.insert("delivery".into(), s(json));
    }
    if m.fallback {
        item.insert("fallback".into(), AttributeValue::Bool(true));
    }
    if let Some(card) = &m.card
        && let Ok(json) = serde_json::to_string(card)
    {
        item.insert("card".into(), s(json));
    }
    item
}

pub(super) fn message_from_item(item: &Item) -> Result<Message, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("message item has a bad {what}"));
    Ok(Message {
        seq: num_attr(item, "seq")?,
        role: Role::parse(str_attr(item, "role")?).ok_or_else(|| corrupt("role"))?,
        text: MessageText::parse(str_attr(item, "text")?).map_err(|_| corrupt("text"))?,
        provider_id: opt_str(item, "provider_id")
            .map(|p| ProviderMessageId::parse(&p))
            .transpose()
            .map_err(|_| corrupt("provider_id"))?,
        at: time_attr(item, "at")?,
        attachments: match opt_str(item, "attachments") {
            Some(j) => serde_json::from_str(&j).map_err(|_| corrupt("attachments"))?,
            None => Vec::new(),
        },
        delivery: opt_str(item, "delivery")
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|_| corrupt("delivery"))?,
        fallback: matches!(item.get("fallback"), Some(AttributeValue::Bool(true))),
        card: opt_str(item, "card")
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|_| corrupt("card"))?,
    })
}

pub(super) fn provider_item(
    channel: Channel,
    pid: &ProviderMessageId,
    id: SessionId,
    seq: u64,
    expires: i64,
) -> Item {
    let mut item = Item::new();
    item.insert("pk".into(), s(provider_pk(channel, pid)));
    item.insert("sk".into(), s("P"));
    item.insert("kind".into(), s("provider_id"));
    item.insert("session_id".into(), s(id.to_string()));
    item.insert("seq".into(), n(seq));
    item.insert(TTL_ATTRIBUTE.into(), n(expires));
    item
}
