//! Articles from Creatio's knowledge base (`KnowledgeBase`), read through the casebridge
//! Creatio client, never from a function that answers customers (see [`super::snapshot`]).
//!
//! What the schema gives (docs/creatio.md, "Knowledge base"): `Name` (the title), `Notes` (the
//! body as HTML), `NotHtmlNote` (the same without tags, filled by the article page, so empty
//! for articles written by API or import: the HTML is used then), `Keywords`, `TypeId` and
//! `ModifiedOn`. It has no published flag and no language column: which articles face
//! customers is the deployment's choice of types (`CASEBRIDGE_KNOWLEDGE_TYPES`), and each
//! passage's language is detected when it is indexed.
//!
//! Incremental: with the previous snapshot's articles and when Creatio was last read, one
//! request reads the ids of every article now there (so a deleted one is dropped) and one reads
//! the full rows of those modified since (minus a margin for clock skew); the rest are kept as
//! they were. Each read goes in pages ([`CreatioClient::query_all`]), so a knowledge base past
//! Creatio's 20,000 rows an answer is read whole. Without them, or when an article is in neither (types widened, say), every
//! article is read in full.

use std::collections::HashMap;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use super::Article;
use crate::assistant::format::html_to_text;
use crate::creatio::odata::text_value;
use crate::creatio::{CreatioClient, CreatioError, Filter};
use crate::domain::LookupId;

const ENTITY: &str = "KnowledgeBase";
const COLUMNS: &[&str] = &[
    "Id",
    "Name",
    "Notes",
    "NotHtmlNote",
    "Keywords",
    "ModifiedOn",
];
/// Read again: what was modified this long before the previous read (clocks differ).
const MARGIN: SignedDuration = SignedDuration::from_mins(10);
/// The prefix of an article id that came from Creatio.
pub const ID_PREFIX: &str = "creatio:";

/// The articles of the configured `types` (all when empty). `previous`: the Creatio articles of
/// the last snapshot and when it was read.
pub async fn read(
    client: &CreatioClient,
    types: &[LookupId],
    previous: Option<(&[Article], Timestamp)>,
) -> Result<Vec<Article>, CreatioError> {
    let of_types = Filter::any(
        types
            .iter()
            .map(|t| Filter::eq_guid("Type/Id", t.as_uuid())),
    );
    let full = |of_types: Option<Filter>| async move {
        let rows = client.query_all(ENTITY, of_types.as_ref(), COLUMNS).await?;
        Ok::<_, CreatioError>(rows.iter().filter_map(article).collect())
    };
    let Some((previous, read_at)) = previous else {
        return full(of_types).await;
    };
    let ids: Vec<String> = client
        .query_all(ENTITY, of_types.as_ref(), &["Id"])
        .await?
        .iter()
        .filter_map(|r| r.get("Id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let changed_filter = match of_types.clone() {
        Some(f) => Filter::after("ModifiedOn", read_at - MARGIN).and(f),
        None => Filter::after("ModifiedOn", read_at - MARGIN),
    };
    let rows = client
        .query_all(ENTITY, Some(&changed_filter), COLUMNS)
        .await?;
    // Every row read again, usable or not: an article emptied by its editor is dropped, never
    // answered from its previous text.
    let reread: HashMap<String, Option<Article>> = rows
        .iter()
        .filter_map(|r| {
            let id = r.get("Id")?.as_str()?.to_ascii_lowercase();
            Some((format!("{ID_PREFIX}{id}"), article(r)))
        })
        .collect();
    let kept: HashMap<&str, &Article> = previous.iter().map(|a| (a.id.as_str(), a)).collect();
    let keys: Vec<String> = ids
        .iter()
        .map(|id| format!("{ID_PREFIX}{}", id.to_ascii_lowercase()))
        .collect();
    // An article neither read again nor in the previous snapshot (its types were widened, the
    // previous sync did not read Creatio, it had no body then): read everything once more.
    if keys
        .iter()
        .any(|k| !reread.contains_key(k) && !kept.contains_key(k.as_str()))
    {
        return full(of_types).await;
    }
    Ok(keys
        .iter()
        .filter_map(|k| match reread.get(k) {
            Some(fresh) => fresh.clone(),
            None => kept.get(k.as_str()).map(|a| (*a).clone()),
        })
        .collect())
}

/// One row as an article; None without a title or a body.
fn article(row: &Value) -> Option<Article> {
    let id = row.get("Id")?.as_str()?.to_ascii_lowercase();
    let title = text_value(row, "Name")?.trim().to_owned();
    let plain = text_value(row, "NotHtmlNote").unwrap_or_default();
    let body = if plain.trim().is_empty() {
        html_to_text(text_value(row, "Notes").unwrap_or_default())
    } else {
        plain.to_owned()
    };
    let body = body.trim().to_owned();
    if title.is_empty() || body.is_empty() {
        return None;
    }
    Some(Article {
        id: format!("{ID_PREFIX}{id}"),
        title,
        body,
        keywords: text_value(row, "Keywords").unwrap_or_default().to_owned(),
        url: None,
    })
}
