//! The team's own knowledge: help articles the assistant answers from.
//!
//! ```text
//! folder, Creatio KnowledgeBase ──sync──▶ Snapshot ──load──▶ Index ──top──▶ passages
//!        (off the hot path)            (the table)      (per container)
//! ```
//! - **Sources**: a folder of Markdown, HTML or text files ([`folder`], `CASEBRIDGE_KNOWLEDGE_DIR`)
//!   and Creatio's knowledge base ([`creatio`], `CASEBRIDGE_KNOWLEDGE_CREATIO=true`).
//! - **The snapshot** ([`snapshot`], [`sync`]): every article, built by `casebridge knowledge
//!   sync` or the scheduled knowledge-sync function and saved in the table, versioned. Functions
//!   that answer customers only read it: they never call Creatio.
//! - **The index** ([`index`]): articles split into passages, each passage's language detected
//!   and its words stemmed in that language, ranked by BM25F over title, keywords and body.
//! - **Off the hot path** ([`Knowledge`]): nothing is read at start-up. The first question
//!   loads the index; it is kept for the container's life, and at most once per
//!   `KNOWLEDGE_SYNC_SECONDS` (default 3600) the snapshot's version is checked (one small read)
//!   and a newer one loaded. Without a snapshot store (the local stack, tests) the sources are
//!   read directly at the same interval. A source or snapshot that cannot be read keeps the last
//!   good index (and says so in the log) rather than leave the assistant with none.

pub mod config;
pub mod creatio;
pub mod folder;
pub mod index;
pub mod lexicon;
pub mod snapshot;
pub mod sync;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::creatio::{CreatioClient, CreatioError};
use snapshot::{Snapshot, SnapshotStore};

pub use crate::domain::Language;
pub use config::KnowledgeConfig;
pub use index::{Hit, Index};

/// One help article, as read from its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Where it came from (the file's name in the folder, `creatio:<id>`), to cite it.
    pub id: String,
    pub title: String,
    /// Plain text; a paragraph or list item a line.
    pub body: String,
    pub keywords: String,
    /// The article's public page, when it has one.
    pub url: Option<String>,
}

/// Why the articles could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("cannot read the knowledge folder {path}: {reason}")]
    Folder { path: String, reason: String },
    #[error("Creatio's knowledge base: {0}")]
    Creatio(CreatioError),
    #[error("CASEBRIDGE_KNOWLEDGE_CREATIO is on but Creatio is not configured (CREATIO_URL)")]
    CreatioNotConfigured,
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
}

/// What a container holds: the index, the snapshot's version, when it was last checked.
struct Loaded {
    checked: Instant,
    version: Option<u64>,
    /// The snapshot itself, only where the sources are read directly (its articles are the base
    /// of the next incremental read); a function on the table's snapshot keeps the version.
    snapshot: Option<Arc<Snapshot>>,
    index: Arc<Index>,
}

/// After a failed read, how soon to try again (rather than a whole sync interval).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The knowledge an assistant answers from: loaded on first use, checked after its interval.
pub struct Knowledge {
    config: KnowledgeConfig,
    /// For reading Creatio directly (the local stack; no snapshot store there).
    creatio: Option<CreatioClient>,
    /// Where the snapshot is, in a deployed function (set by its `main`).
    snapshots: OnceLock<Arc<dyn SnapshotStore>>,
    current: Mutex<Option<Loaded>>,
}

impl Knowledge {
    pub fn new(config: KnowledgeConfig) -> Self {
        Self {
            config,
            creatio: None,
            snapshots: OnceLock::new(),
            current: Mutex::new(None),
        }
    }

    /// Reads Creatio's knowledge base directly with `client` (when no snapshot store is set).
    pub fn with_creatio(mut self, client: CreatioClient) -> Self {
        self.creatio = Some(client);
        self
    }

    /// Loads the index from `store`'s snapshot instead of reading the sources (a deployed
    /// function). The first call wins.
    pub fn use_snapshots(&self, store: Arc<dyn SnapshotStore>) {
        let _ = self.snapshots.set(store);
    }

    pub fn config(&self) -> &KnowledgeConfig {
        &self.config
    }

    /// The index; loaded now if there is none, checked again once its interval has passed.
    pub async fn index(&self) -> Arc<Index> {
        let mut current = self.current.lock().await;
        if let Some(loaded) = current.as_ref()
            && loaded.checked.elapsed() < self.config.sync_interval
        {
            return loaded.index.clone();
        }
        let previous = current.as_ref().and_then(|l| l.snapshot.clone());
        let version = current.as_ref().and_then(|l| l.version);
        let started = Instant::now();
        let direct = self.snapshots.get().is_none();
        let fresh = match self.snapshots.get() {
            Some(store) => self.newer_in(store.as_ref(), version).await,
            None => self.read_sources(previous.as_deref()).await.map(Some),
        };
        match fresh {
            Ok(Some(mut snapshot)) => {
                let index = Arc::new(match snapshot.prepared.take() {
                    Some(prepared) => Index::from_prepared(snapshot.articles.clone(), prepared),
                    None => Index::build(snapshot.articles.clone()),
                });
                tracing::info!(
                    version = snapshot.version,
                    articles = index.articles.len(),
                    passages = index.passages.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "knowledge index loaded"
                );
                *current = Some(Loaded {
                    checked: Instant::now(),
                    version: Some(snapshot.version),
                    snapshot: direct.then(|| Arc::new(snapshot)),
                    index: index.clone(),
                });
                index
            }
            // Unchanged (or nothing saved yet): keep what there is.
            Ok(None) => keep(&mut current, Instant::now()),
            Err(e) => {
                tracing::warn!(error = %e, "knowledge not read; the last index stays");
                // Checked "earlier", so that the next question after RETRY_AFTER_FAILURE tries
                // again instead of waiting out a whole interval.
                let earlier = self
                    .config
                    .sync_interval
                    .checked_sub(RETRY_AFTER_FAILURE)
                    .and_then(|d| Instant::now().checked_sub(d))
                    .unwrap_or_else(Instant::now);
                keep(&mut current, earlier)
            }
        }
    }

    /// A snapshot of another version than `held` from `store`, if there is one.
    async fn newer_in(
        &self,
        store: &dyn SnapshotStore,
        held: Option<u64>,
    ) -> Result<Option<Snapshot>, KnowledgeError> {
        match store.current().await? {
            Some((version, _)) if held != Some(version) => Ok(Some(store.load(version).await?)),
            _ => Ok(None),
        }
    }

    /// The sources read now (incrementally from `previous` for Creatio).
    async fn read_sources(&self, previous: Option<&Snapshot>) -> Result<Snapshot, KnowledgeError> {
        sync::build(
            &self.config,
            None,
            self.creatio.as_ref(),
            previous,
            Timestamp::now(),
        )
        .await
    }

    /// The minimum share of a question's weight the best passage must match to answer it.
    pub fn threshold(&self) -> f32 {
        self.config.threshold
    }

    pub fn sync_interval(&self) -> Duration {
        self.config.sync_interval
    }
}

/// The index held (empty when none), marked as checked at `checked`.
fn keep(current: &mut Option<Loaded>, checked: Instant) -> Arc<Index> {
    let loaded = current.get_or_insert_with(|| Loaded {
        checked,
        version: None,
        snapshot: None,
        index: Arc::default(),
    });
    loaded.checked = checked;
    loaded.index.clone()
}
