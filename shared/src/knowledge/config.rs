//! The knowledge section of the configuration: where articles come from
//! (`CASEBRIDGE_KNOWLEDGE_DIR`; `CASEBRIDGE_KNOWLEDGE_CREATIO=true` for Creatio's knowledge
//! base, restricted to the article types in `CASEBRIDGE_KNOWLEDGE_TYPES` when set;
//! `CASEBRIDGE_KNOWLEDGE_SNAPSHOT=true` to answer from the table's snapshot alone), how often the index is rebuilt (`KNOWLEDGE_SYNC_SECONDS`,
//! default 3600) and how much of a question the best passage must match to answer it
//! (`CASEBRIDGE_KNOWLEDGE_THRESHOLD`, default 0.4).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::source::*;
use crate::domain::LookupId;

/// Share of a question's weight the best passage must match, unless configured.
pub const DEFAULT_THRESHOLD: f32 = 0.4;

#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeConfig {
    pub dir: Option<PathBuf>,
    /// Read Creatio's `KnowledgeBase` too.
    pub creatio: bool,
    /// Only articles of these `KnowledgeBaseType`s (all when empty).
    pub types: Vec<LookupId>,
    /// Answer from the table's snapshot, whoever wrote it (`CASEBRIDGE_KNOWLEDGE_SNAPSHOT`):
    /// a deployment whose folder is synced by `casebridge knowledge sync` from elsewhere.
    pub snapshot: bool,
    pub sync_interval: Duration,
    pub threshold: f32,
}

impl KnowledgeConfig {
    /// Articles from `dir`, rebuilt hourly, the default threshold.
    pub fn folder(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            creatio: false,
            types: Vec::new(),
            snapshot: false,
            sync_interval: Duration::from_secs(3600),
            threshold: DEFAULT_THRESHOLD,
        }
    }

    /// Is there anything to answer from?
    pub fn is_configured(&self) -> bool {
        self.has_source() || self.snapshot
    }

    /// Does this configuration name a source to read (what a sync needs)?
    pub fn has_source(&self) -> bool {
        self.dir.is_some() || self.creatio
    }
}

pub(crate) fn knowledge_config(src: &dyn Source) -> Result<KnowledgeConfig, ConfigError> {
    let threshold = match var(src, "CASEBRIDGE_KNOWLEDGE_THRESHOLD") {
        None => DEFAULT_THRESHOLD,
        Some(v) => v
            .trim()
            .parse::<f32>()
            .ok()
            .filter(|t| (0.0..=1.0).contains(t))
            .ok_or(ConfigError::Invalid {
                name: "CASEBRIDGE_KNOWLEDGE_THRESHOLD",
                reason: "must be a number from 0 to 1".into(),
            })?,
    };
    let types = guid_list(src, "CASEBRIDGE_KNOWLEDGE_TYPES")?;
    Ok(KnowledgeConfig {
        dir: var(src, "CASEBRIDGE_KNOWLEDGE_DIR").map(PathBuf::from),
        creatio: bool_var(src, "CASEBRIDGE_KNOWLEDGE_CREATIO", false)?,
        snapshot: bool_var(src, "CASEBRIDGE_KNOWLEDGE_SNAPSHOT", false)?,
        types,
        sync_interval: Duration::from_secs(positive(src, "KNOWLEDGE_SYNC_SECONDS", 3600)? as u64),
        threshold,
    })
}
