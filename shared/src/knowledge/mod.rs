//! The team's own knowledge: help articles the assistant answers from.
//!
//! ```text
//! folder of .md / .html / .txt ──read──▶ articles ──split, detect, stem──▶ Index ──best──▶ Hit
//! ```
//! - **Sources** ([`folder`]): a folder of Markdown, HTML or text files
//!   (`CASEBRIDGE_KNOWLEDGE_DIR`); the title comes from the front matter's `title:` or the first
//!   heading, the link from an optional `url:`.
//! - **The index** ([`index`]): articles split into passages, each passage's language detected
//!   and its words stemmed in that language, ranked by BM25F over title, keywords and body.
//! - **Off the hot path** ([`Knowledge`]): nothing is read at start-up. The first question
//!   builds the index; it is kept for the container's life and rebuilt when older than
//!   `KNOWLEDGE_SYNC_SECONDS` (default 3600), so an article added or deleted is answered, or no
//!   longer used, within that interval. A source that cannot be read keeps the last good index
//!   (and says so in the log) rather than leave the assistant with none.

pub mod config;
pub mod folder;
pub mod index;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crate::domain::Language;
pub use config::KnowledgeConfig;
pub use index::{Hit, Index};

/// One help article, as read from its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// Where it came from (the file's name in the folder), to cite it.
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
}

/// The knowledge an assistant answers from: built on first use, rebuilt after its interval.
pub struct Knowledge {
    config: KnowledgeConfig,
    current: Mutex<Option<(Instant, Arc<Index>)>>,
}

impl Knowledge {
    pub fn new(config: KnowledgeConfig) -> Self {
        Self {
            config,
            current: Mutex::new(None),
        }
    }

    /// Reads every configured source.
    pub fn read_articles(&self) -> Result<Vec<Article>, KnowledgeError> {
        match &self.config.dir {
            Some(dir) => folder::read(dir),
            None => Ok(Vec::new()),
        }
    }

    /// The index, built now if there is none or it is older than the sync interval.
    pub fn index(&self) -> Arc<Index> {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = current
            .as_ref()
            .is_some_and(|(built, _)| built.elapsed() < self.config.sync_interval);
        if let (true, Some((_, index))) = (fresh, current.as_ref()) {
            return index.clone();
        }
        match self.read_articles() {
            Ok(articles) => {
                let started = Instant::now();
                let index = Arc::new(Index::build(articles));
                tracing::info!(
                    articles = index.articles.len(),
                    passages = index.passages.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "knowledge index built"
                );
                *current = Some((Instant::now(), index.clone()));
                index
            }
            Err(e) => {
                tracing::warn!(error = %e, "knowledge not read; the last index stays");
                let index = current.as_ref().map(|(_, i)| i.clone()).unwrap_or_default();
                *current = Some((Instant::now(), index.clone()));
                index
            }
        }
    }

    /// Drops the index, so the next question reads the sources again.
    pub fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The minimum share of a question's weight the best passage must match to answer it.
    pub fn threshold(&self) -> f32 {
        self.config.threshold
    }

    pub fn sync_interval(&self) -> Duration {
        self.config.sync_interval
    }
}
