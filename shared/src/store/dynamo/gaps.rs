//! Unanswered questions, one partition a UTC day (`G#2026-12-06`), sorted by time: recording
//! one is a `PutItem`, reading a period is a `Query` per day. Kept for the retention period.

use super::*;

fn day_pk(at: Timestamp) -> String {
    format!("G#{}", at.to_zoned(jiff::tz::TimeZone::UTC).date())
}

pub(super) async fn record(store: &DynamoStore, gap: &Gap) -> Result<(), StoreError> {
    let mut put = store
        .client
        .put_item()
        .table_name(&store.table)
        .item("pk", s(day_pk(gap.at)))
        .item("sk", s(format!("{}#{}", gap.at, gap.session)))
        .item("kind", s("gap"))
        .item("session_id", s(gap.session.to_string()))
        .item("question", s(gap.question.clone()))
        .item(TTL_ATTRIBUTE, n(store.retention.expires_at(gap.at)));
    if let Some(score) = gap.score {
        put = put.item("score", n(score));
    }
    put.send().await.map_err(backend)?;
    Ok(())
}

pub(super) async fn between(
    store: &DynamoStore,
    since: Timestamp,
    until: Timestamp,
) -> Result<Vec<Gap>, StoreError> {
    let utc = jiff::tz::TimeZone::UTC;
    let (first, last) = (
        since.to_zoned(utc.clone()).date(),
        until.to_zoned(utc).date(),
    );
    let mut gaps = Vec::new();
    let mut day = first;
    while day <= last {
        let mut start = None;
        loop {
            let out = store
                .client
                .query()
                .table_name(&store.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("G#{day}")))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items() {
                if let Some(gap) = gap_from_item(item).filter(|g| g.at >= since && g.at <= until) {
                    gaps.push(gap);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        day = match day.tomorrow() {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    // The sort key's text is not in time order (fractions of a second vary in length).
    gaps.sort_by_key(|g| g.at);
    Ok(gaps)
}

/// A gap item read back; None for one that is not whole.
pub(super) fn gap_from_item(item: &Item) -> Option<Gap> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let (session, question, sk) = (text("session_id")?, text("question")?, text("sk")?);
    let at: Timestamp = sk.split('#').next()?.parse().ok()?;
    let score = item
        .get("score")
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok());
    Some(Gap {
        session: SessionId::parse(&session).ok()?,
        question,
        score,
        at,
    })
}
