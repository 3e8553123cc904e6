//! The knowledge snapshot: every article, read from the sources off the hot path, written as one
//! versioned object, and loaded by the functions that answer customers.
//!
//! Why: an inbound function must never call Creatio (an outage there must not delay an answer),
//! and a folder does not ship inside a Lambda package. So `casebridge knowledge sync` and the
//! scheduled knowledge-sync function read the sources and save a [`Snapshot`]; the answering
//! functions check its version at most once per `KNOWLEDGE_SYNC_SECONDS` (one small read) and
//! load it when it changed. A snapshot whose articles did not change is not written again
//! ([`Snapshot::digest`]), so an hourly sync of an unchanged knowledge base costs one read.
//!
//! Where it lives is a [`SnapshotStore`]: the table in production
//! (`casebridge::store::dynamo::DynamoSnapshots`, in chunks under the 400 KB item limit), memory
//! in tests.

use std::sync::Mutex;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Article;
use super::index::{Index, Prepared};

/// All articles at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was built, in milliseconds since the epoch; newer snapshots have larger ones.
    pub version: u64,
    pub built_at: Timestamp,
    /// SHA-256 of the articles: equal digests, equal content.
    pub digest: String,
    pub articles: Vec<Article>,
    /// The index work done when it was built (passages, languages, stems), so that loading it
    /// only counts; absent, the loader builds the index itself.
    #[serde(default)]
    pub prepared: Option<Prepared>,
    /// When Creatio's knowledge base was last read into it (a sync that reads only the folder
    /// carries this over), where the next incremental read starts.
    #[serde(default)]
    pub creatio_read_at: Option<Timestamp>,
}

/// What the prepared index is made with; part of the digest, so a change to how passages are cut
/// or words stemmed rewrites the snapshot at the next sync even when no article changed.
pub const PREPARED_FORMAT: &str = "passages-600/whichlang/frostem/bm25f-1";

impl Snapshot {
    /// The snapshot of `articles`, indexed now (off the hot path: a sync builds it).
    pub fn new(articles: Vec<Article>, built_at: Timestamp) -> Self {
        let mut json = PREPARED_FORMAT.as_bytes().to_vec();
        json.extend(serde_json::to_vec(&articles).unwrap_or_default());
        let digest = Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self {
            version: built_at.as_millisecond().max(0) as u64,
            built_at,
            digest,
            prepared: Some(Index::build(articles.clone()).prepared()),
            articles,
            creatio_read_at: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("knowledge snapshot storage: {0}")]
    Store(String),
    #[error("knowledge snapshot {version} is unreadable: {reason}")]
    Corrupt { version: u64, reason: String },
}

/// Where the snapshot is kept.
#[async_trait]
pub trait SnapshotStore: Send + Sync {
    /// The current snapshot's version and digest, if one was saved.
    async fn current(&self) -> Result<Option<(u64, String)>, SnapshotError>;
    /// The snapshot of `version`.
    async fn load(&self, version: u64) -> Result<Snapshot, SnapshotError>;
    /// Makes `snapshot` the current one (and drops the one it replaces).
    async fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError>;
}

/// Saves `snapshot` unless the current one has the same articles; whether it was written.
pub async fn publish(
    store: &dyn SnapshotStore,
    snapshot: &Snapshot,
) -> Result<bool, SnapshotError> {
    if let Some((_, digest)) = store.current().await?
        && digest == snapshot.digest
    {
        return Ok(false);
    }
    store.save(snapshot).await?;
    Ok(true)
}

/// Snapshots in memory (tests, the local stack).
#[derive(Default)]
pub struct MemorySnapshots(Mutex<Option<Snapshot>>);

#[async_trait]
impl SnapshotStore for MemorySnapshots {
    async fn current(&self) -> Result<Option<(u64, String)>, SnapshotError> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(s.as_ref().map(|s| (s.version, s.digest.clone())))
    }

    async fn load(&self, version: u64) -> Result<Snapshot, SnapshotError> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.clone()
            .filter(|s| s.version == version)
            .ok_or(SnapshotError::Corrupt {
                version,
                reason: "no such version".into(),
            })
    }

    async fn save(&self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot.clone());
        Ok(())
    }
}
