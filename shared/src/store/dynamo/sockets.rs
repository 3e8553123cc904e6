//! Open widget sockets (`crate::widget::socket`): an item per socket in its session's socket
//! partition (`N#<session>`, one `Query` lists them for a push) and a pointer from the
//! connection id (`NC#<connection>`) for `$disconnect`, which names only the connection. Both
//! written in one transaction, both with a TTL of the connection's longest life; a read skips
//! what has expired but is not yet deleted (TTL deletes lag).

use super::*;
use crate::domain::{CONNECTION_LIFETIME, ConnectionId};

fn sockets_pk(session: SessionId) -> String {
    format!("N#{session}")
}

fn pointer_pk(connection: &ConnectionId) -> String {
    format!("NC#{connection}")
}

const POINTER_SK: &str = "SOCKET";

pub(super) async fn add(
    store: &DynamoStore,
    session: SessionId,
    connection: &ConnectionId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let expires = (now + CONNECTION_LIFETIME).as_second();
    let socket = Put::builder()
        .table_name(&store.table)
        .item("pk", s(sockets_pk(session)))
        .item("sk", s(connection.as_str()))
        .item("kind", s("socket"))
        .item("opened_at", n(now.as_second()))
        .item(TTL_ATTRIBUTE, n(expires))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let pointer = Put::builder()
        .table_name(&store.table)
        .item("pk", s(pointer_pk(connection)))
        .item("sk", s(POINTER_SK))
        .item("kind", s("socket_pointer"))
        .item("session_id", s(session.to_string()))
        .item("opened_at", n(now.as_second()))
        .item(TTL_ATTRIBUTE, n(expires))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    store
        .client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(socket).build())
        .transact_items(TransactWriteItem::builder().put(pointer).build())
        .send()
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn of_session(
    store: &DynamoStore,
    session: SessionId,
    now: Timestamp,
) -> Result<Vec<ConnectionId>, StoreError> {
    let items = store
        .query_pages(|| {
            store
                .client
                .query()
                .table_name(&store.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk")
                .filter_expression("expires_at > :now")
                .expression_attribute_values(":pk", s(sockets_pk(session)))
                .expression_attribute_values(":now", n(now.as_second()))
        })
        .await?;
    items
        .iter()
        .map(|i| {
            str_attr(i, "sk").and_then(|sk| {
                ConnectionId::parse(sk).map_err(|e| StoreError::Corrupt(format!("socket: {e}")))
            })
        })
        .collect()
}

pub(super) async fn remove(
    store: &DynamoStore,
    connection: &ConnectionId,
    opened_before: Option<Timestamp>,
) -> Result<Option<SessionId>, StoreError> {
    let Some(pointer) = store.get(pointer_pk(connection), POINTER_SK).await? else {
        return Ok(None);
    };
    let opened = num_attr(&pointer, "opened_at").unwrap_or(0);
    if opened_before.is_some_and(|cut| opened >= cut.as_second().max(0) as u64) {
        return Ok(None);
    }
    let session = session_id_attr(&pointer)?;
    for (pk, sk) in [
        (sockets_pk(session), connection.as_str()),
        (pointer_pk(connection), POINTER_SK),
    ] {
        store
            .client
            .delete_item()
            .table_name(&store.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(backend)?;
    }
    Ok(Some(session))
}
