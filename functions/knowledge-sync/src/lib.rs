//! The scheduled knowledge sync: reads the knowledge sources (a folder in S3 when
//! `CASEBRIDGE_KNOWLEDGE_S3` is set, Creatio's knowledge base when
//! `CASEBRIDGE_KNOWLEDGE_CREATIO=true`) and saves the table's snapshot, which the functions that
//! answer customers load ([`casebridge::knowledge::snapshot`]). The same run as
//! `casebridge knowledge sync`; an unchanged knowledge base writes nothing.
//!
//! The S3 folder is read here, in this function only: sms-inbound, which answers from the
//! snapshot, never links the S3 client for it.

use casebridge::knowledge::config::S3Folder;
use casebridge::knowledge::snapshot::SnapshotStore;
use casebridge::knowledge::sync::{Sources, Synced};
use casebridge::knowledge::{Article, KnowledgeError, folder};
use casebridge::s3::{Got, S3, S3Error};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// What a sync needs besides the snapshot store; built once per container.
pub struct Deps {
    pub sources: Sources,
    /// The S3 client, when the folder is in S3.
    pub s3: Option<S3>,
}

impl Deps {
    /// The sources the configuration names; the S3 client is added by [`Deps::with_s3`].
    pub fn from_config(
        config: &casebridge::config::Config,
    ) -> Result<Self, casebridge::config::ConfigError> {
        Ok(Self {
            sources: Sources::from_config(config)?,
            s3: None,
        })
    }

    /// Reads the S3 folder (`CASEBRIDGE_KNOWLEDGE_S3`) with `client`.
    pub fn with_s3(mut self, client: S3) -> Self {
        self.s3 = Some(client);
        self
    }
}

/// One scheduled run. A failure is returned, so the invocation counts as an error (and its
/// alarm fires); the functions keep the last snapshot meanwhile.
pub async fn handler(
    snapshots: &dyn SnapshotStore,
    deps: &Deps,
    _event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let now = jiff::Timestamp::now();
    let synced = match (&deps.sources.knowledge.s3, &deps.s3) {
        (Some(folder), Some(client)) => {
            let files = read_s3(client, folder).await?;
            deps.sources.sync_files_to(snapshots, files, now).await?
        }
        _ => deps.sources.sync_to(snapshots, now).await?,
    };
    let Synced {
        version,
        articles,
        written,
    } = synced;
    Ok(serde_json::json!({"version": version, "articles": articles, "written": written}))
}

/// Every article under the folder's prefix, as the local folder's files are read: Markdown,
/// HTML or text by the name's extension, at most 1 MiB each, one that is not UTF-8 skipped. Its
/// id is the key under the prefix (`returns.md`, `shipping/eu.md`).
pub async fn read_s3(client: &S3, folder: &S3Folder) -> Result<Vec<Article>, KnowledgeError> {
    let error = |what: &str, e: S3Error| KnowledgeError::Folder {
        path: format!("s3://{}/{}", folder.bucket, folder.prefix),
        reason: format!("{what}: {e}"),
    };
    let mut keys = Vec::new();
    for object in client
        .list(&folder.bucket, &folder.prefix)
        .await
        .map_err(|e| error("cannot list the folder", e))?
    {
        if !folder::is_article(&object.key) {
            continue;
        }
        if object.size > folder::MAX_FILE_BYTES {
            tracing::warn!(file = %object.key, "knowledge file over 1 MiB skipped");
            continue;
        }
        keys.push(object.key);
    }
    keys.sort();
    let mut articles = Vec::new();
    for key in keys {
        let bytes = match client
            .get(&folder.bucket, &key, folder::MAX_FILE_BYTES)
            .await
            .map_err(|e| error(&format!("cannot read {key}"), e))?
        {
            Got::Object { bytes, .. } => bytes,
            // Deleted or grown since the listing: read at the next sync.
            Got::Missing | Got::TooLarge { .. } => continue,
        };
        let Ok(raw) = String::from_utf8(bytes) else {
            tracing::warn!(file = %key, "knowledge file is not UTF-8 text; skipped");
            continue;
        };
        let id = key.strip_prefix(&folder.prefix).unwrap_or(&key);
        let id = id.trim_start_matches('/');
        if let Some(article) = folder::parse(id, &raw) {
            articles.push(article);
        }
    }
    Ok(articles)
}
