//! Consent and identity: an SMS customer's opt-out (kept without TTL), and linking an anonymous
//! widget visitor's conversation to the verified identity it later proves.

use super::*;

pub(super) async fn consent(
    store: &DynamoStore,
    customer: &Customer,
) -> Result<Consent, StoreError> {
    consent_from_item(store.get(consent_pk(customer), CONSENT).await?.as_ref())
}

pub(super) async fn set_consent(
    store: &DynamoStore,
    customer: &Customer,
    consent: Consent,
    now: Timestamp,
) -> Result<(), StoreError> {
    let put = store
        .client
        .put_item()
        .table_name(&store.table)
        .item("pk", s(consent_pk(customer)))
        .item("sk", s(CONSENT))
        .item("kind", s("consent"))
        .item("changed_at", s(now.to_string()));
    let put = match consent {
        Consent::OptedOut { since } => put.item("opted_out_at", s(since.to_string())),
        Consent::Granted => put,
    };
    put.send().await.map_err(backend)?;
    Ok(())
}

pub(super) async fn link_identity(
    store: &DynamoStore,
    seen: &Session,
    to: &ConversationKey,
    now: Timestamp,
) -> Result<Session, StoreError> {
    let id = seen.id;
    let expires = store.retention.expires_at(now);
    let update = Update::builder()
        .table_name(&store.table)
        .key("pk", s(session_pk(id)))
        .key("sk", s(META))
        .update_expression("SET conv = :new, last_activity_at = :now")
        .condition_expression("attribute_exists(pk) AND conv = :old AND #st <> :closed")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":new", s(to.storage_key()))
        .expression_attribute_values(":old", s(seen.key.storage_key()))
        .expression_attribute_values(":now", s(now.to_string()))
        .expression_attribute_values(":closed", s(SessionState::Closed.as_str()))
        .build()
        .map_err(build_err)?;
    let delete_old = aws_sdk_dynamodb::types::Delete::builder()
        .table_name(&store.table)
        .key("pk", s(conv_pk(&seen.key)))
        .key("sk", s(ACTIVE))
        .condition_expression("attribute_not_exists(pk) OR session_id = :id")
        .expression_attribute_values(":id", s(id.to_string()))
        .build()
        .map_err(build_err)?;
    let put_new = Put::builder()
        .table_name(&store.table)
        .item("pk", s(conv_pk(to)))
        .item("sk", s(ACTIVE))
        .item("kind", s("active"))
        .item("session_id", s(id.to_string()))
        .item(TTL_ATTRIBUTE, n(expires))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map_err(build_err)?;
    let res = store
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().delete(delete_old).build())
        .transact_items(TransactWriteItem::builder().put(put_new).build())
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e) => {
            let Some(codes) = cancellation_codes(&e) else {
                return Err(backend(e));
            };
            // Which condition failed says why.
            let failed = |i: usize| codes.get(i).is_some_and(|c| c == "ConditionalCheckFailed");
            if failed(2) {
                // The new key's pointer may be left over from a closed session.
                let pointer = store.get(conv_pk(to), ACTIVE).await?;
                let live = match pointer.as_ref().map(session_id_attr).transpose()? {
                    Some(other) => store
                        .get_session(other)
                        .await?
                        .is_some_and(|s| s.state != SessionState::Closed),
                    None => false,
                };
                if live {
                    return Err(StoreError::AlreadyActive);
                }
                if let Some(p) = pointer {
                    let other = session_id_attr(&p)?;
                    store
                        .client
                        .delete_item()
                        .table_name(&store.table)
                        .key("pk", s(conv_pk(to)))
                        .key("sk", s(ACTIVE))
                        .condition_expression("session_id = :id")
                        .expression_attribute_values(":id", s(other.to_string()))
                        .send()
                        .await
                        .map_err(backend)?;
                }
                return Box::pin(store.link_identity(seen, to, now)).await;
            }
            return match store.get_session(id).await? {
                None => Err(StoreError::NotFound(id)),
                Some(s) if s.state == SessionState::Closed => Err(StoreError::Closed(id)),
                Some(_) => Err(StoreError::Contention(id)),
            };
        }
    }
    store.get_session(id).await?.ok_or(StoreError::NotFound(id))
}
