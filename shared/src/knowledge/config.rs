//! The knowledge section of the configuration: where articles come from
//! (`CASEBRIDGE_KNOWLEDGE_DIR`; `CASEBRIDGE_KNOWLEDGE_CREATIO=true` for Creatio's knowledge
//! base, restricted to the article types in `CASEBRIDGE_KNOWLEDGE_TYPES` when set;
//! `CASEBRIDGE_KNOWLEDGE_SNAPSHOT=true` to answer from the table's snapshot alone;
//! `CASEBRIDGE_KNOWLEDGE_S3=s3://bucket/prefix/` for a folder in S3, read by the knowledge-sync
//! function), how often the index is rebuilt (`KNOWLEDGE_SYNC_SECONDS`,
//! default 3600) and how much of a question the best passage must match to answer it
//! (`CASEBRIDGE_KNOWLEDGE_THRESHOLD`, default 0.4).

use std::path::PathBuf;
use std::time::Duration;

use crate::config::source::*;
use crate::domain::LookupId;

/// Share of a question's weight the best passage must match, unless configured.
pub const DEFAULT_THRESHOLD: f32 = 0.4;

/// A folder of articles in S3: every `.md`, `.html` and `.txt` object under `prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Folder {
    pub bucket: String,
    pub prefix: String,
}

impl S3Folder {
    /// `s3://bucket/prefix/` (the prefix may be empty).
    pub fn parse(raw: &str) -> Option<Self> {
        let rest = raw.trim().strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules, loosely: 3 to 63 lower-case letters, digits, dots, dashes.
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        bucket_ok.then(|| S3Folder {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct KnowledgeConfig {
    pub dir: Option<PathBuf>,
    /// The folder in S3 (`CASEBRIDGE_KNOWLEDGE_S3`), read by the knowledge-sync function.
    pub s3: Option<S3Folder>,
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
            s3: None,
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
        self.dir.is_some() || self.s3.is_some() || self.creatio
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
    let s3 = var(src, "CASEBRIDGE_KNOWLEDGE_S3")
        .map(|v| {
            S3Folder::parse(&v).ok_or(ConfigError::Invalid {
                name: "CASEBRIDGE_KNOWLEDGE_S3",
                reason: "must be s3://<bucket>/<prefix>".into(),
            })
        })
        .transpose()?;
    Ok(KnowledgeConfig {
        dir: var(src, "CASEBRIDGE_KNOWLEDGE_DIR").map(PathBuf::from),
        s3,
        creatio: bool_var(src, "CASEBRIDGE_KNOWLEDGE_CREATIO", false)?,
        snapshot: bool_var(src, "CASEBRIDGE_KNOWLEDGE_SNAPSHOT", false)?,
        types,
        sync_interval: Duration::from_secs(positive(src, "KNOWLEDGE_SYNC_SECONDS", 3600)? as u64),
        threshold,
    })
}
