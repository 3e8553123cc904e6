//! Per-client allowances (the widget's new conversations and handoffs per address): one item per
//! key and fixed window, counted by a conditional `UpdateItem`, expiring after its window.

use super::*;

pub(super) async fn take_allowance(
    store: &DynamoStore,
    key: &str,
    window: std::time::Duration,
    max: u32,
    now: Timestamp,
) -> Result<Allowance, StoreError> {
    let (index, retry_after) = crate::store::window_of(window, now);
    let res = store
        .client
        .update_item()
        .table_name(&store.table)
        .key("pk", s(format!("L#{key}#{index}")))
        .key("sk", s("LIMIT"))
        .update_expression("ADD used :one SET kind = :kind, expires_at = :exp")
        .condition_expression("attribute_not_exists(used) OR used < :max")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":max", n(max))
        .expression_attribute_values(":kind", s("limit"))
        .expression_attribute_values(
            ":exp",
            n(now.as_second() + retry_after.as_secs() as i64 + 3600),
        )
        .send()
        .await;
    match res {
        Ok(_) => Ok(Allowance::Granted),
        Err(e) if is_condition_failure(&e) => Ok(Allowance::Exhausted { retry_after }),
        Err(e) => Err(backend(e)),
    }
}
