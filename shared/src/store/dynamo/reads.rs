//! The reads every operation builds on: one item by key, a session's partition (the whole
//! transcript, or the session and its latest messages read backwards), and the whole-table scans
//! of the replay paths.

use super::*;

impl DynamoStore {
    pub(super) async fn get(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item)
    }

    /// Every item `filter` keeps, all pages: the replay paths' scans (never the request path).
    /// `#st` names `state`, which is a DynamoDB reserved word.
    pub(super) async fn scan_all(
        &self,
        filter: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression(filter)
                .set_exclusive_start_key(start.take());
            // DynamoDB refuses a name the expression does not use.
            if filter.contains("#st") {
                req = req.expression_attribute_names("#st", "state");
            }
            for (name, value) in values {
                req = req.expression_attribute_values(*name, value.clone());
            }
            let page = req.send().await.map_err(backend)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }

    /// Every item of a `Query`, all pages: `query` is the request without its start key.
    pub(super) async fn query_pages(
        &self,
        query: impl Fn() -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = query()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(backend)?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    pub(super) async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.get(session_pk(id), META)
            .await?
            .map(|i| session_from_item(&i))
            .transpose()
    }

    pub(super) async fn require_session(&self, id: SessionId) -> Result<Session, StoreError> {
        self.get_session(id).await?.ok_or(StoreError::NotFound(id))
    }

    /// All items of a session's partition with `sk` in the given range (or all), in order.
    pub(super) async fn query_partition(
        &self,
        id: SessionId,
        sk_range: Option<(String, String)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(session_pk(id)))
                .set_exclusive_start_key(start.take());
            q = match &sk_range {
                Some((lo, hi)) => q
                    .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                    .expression_attribute_values(":lo", s(lo.clone()))
                    .expression_attribute_values(":hi", s(hi.clone())),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(backend)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// The session item and its messages, in one `Query` of the session's partition.
    pub(super) async fn read_transcript(
        &self,
        id: SessionId,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        let items = self.query_partition(id, None).await?;
        let mut session = None;
        let mut messages = Vec::with_capacity(items.len());
        for item in &items {
            match str_attr(item, "kind")? {
                "session" => session = Some(session_from_item(item)?),
                "message" => messages.push(message_from_item(item)?),
                other => return Err(StoreError::Corrupt(format!("unexpected item kind {other}"))),
            }
        }
        // `M#` sorts before `META`, and seqs are zero-padded, so messages are already in order.
        Ok(session.map(|s| (s, messages)))
    }

    /// The session item and its latest `n` messages, in one `Query` of the partition read
    /// backwards (`META` sorts after every `M#…`, so it comes first), `Limit` n + 1.
    pub(super) async fn read_recent(
        &self,
        id: SessionId,
        n: usize,
    ) -> Result<Option<(Session, Vec<Message>)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(session_pk(id)))
            .scan_index_forward(false)
            .limit(i32::try_from(n.saturating_add(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(backend)?;
        let mut session = None;
        let mut messages = Vec::with_capacity(n);
        for item in out.items() {
            match str_attr(item, "kind")? {
                "session" => session = Some(session_from_item(item)?),
                "message" => messages.push(message_from_item(item)?),
                other => return Err(StoreError::Corrupt(format!("unexpected item kind {other}"))),
            }
        }
        messages.reverse();
        Ok(session.map(|s| (s, messages)))
    }
}
