//! Building a snapshot from the sources: the folder (read whole, it is local) and Creatio's
//! knowledge base (incrementally from the previous snapshot). Run by `casebridge knowledge
//! sync`, the scheduled knowledge-sync function and the local stack; never by a function that
//! answers customers.

use jiff::Timestamp;

use super::snapshot::{Snapshot, SnapshotStore, publish};
use super::{Article, KnowledgeConfig, KnowledgeError, folder};
use crate::config::{Config, ConfigError};
use crate::creatio::CreatioClient;
use crate::creatio::RetryPolicy;

/// The articles the sources hold now. `creatio` is the client when the Creatio source is on;
/// `previous` the last snapshot, whose Creatio articles are kept unless changed or deleted.
///
/// A source this run does not read keeps its articles from `previous`: the scheduled function
/// reads Creatio and has no folder, while `casebridge knowledge sync` run where the folder is
/// (a laptop, the team's CI) replaces the folder's articles and keeps Creatio's.
///
/// `files`: the folder's articles when the caller read them itself (the knowledge-sync function
/// from S3); None reads `config.dir` when set.
pub async fn build(
    config: &KnowledgeConfig,
    files: Option<Vec<Article>>,
    creatio: Option<&CreatioClient>,
    previous: Option<&Snapshot>,
    now: Timestamp,
) -> Result<Snapshot, KnowledgeError> {
    let from_creatio = |a: &&Article| a.id.starts_with(super::creatio::ID_PREFIX);
    let mut articles: Vec<Article> = match (files, &config.dir) {
        (Some(files), _) => files,
        (None, Some(dir)) => folder::read(dir)?,
        (None, None) => previous
            .map(|p| {
                p.articles
                    .iter()
                    .filter(|a| !from_creatio(a))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
    };
    if config.creatio {
        let client = creatio.ok_or(KnowledgeError::CreatioNotConfigured)?;
        let kept: Vec<Article> = previous
            .map(|p| {
                p.articles
                    .iter()
                    .filter(|a| a.id.starts_with(super::creatio::ID_PREFIX))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let since = previous
            .and_then(|p| p.creatio_read_at)
            .map(|at| (kept.as_slice(), at));
        let from_creatio = super::creatio::read(client, &config.types, since)
            .await
            .map_err(KnowledgeError::Creatio)?;
        articles.extend(from_creatio);
        let mut snapshot = Snapshot::new(articles, now);
        snapshot.creatio_read_at = Some(now);
        return Ok(snapshot);
    }
    if let Some(p) = previous {
        articles.extend(p.articles.iter().filter(from_creatio).cloned());
    }
    let mut snapshot = Snapshot::new(articles, now);
    snapshot.creatio_read_at = previous.and_then(|p| p.creatio_read_at);
    Ok(snapshot)
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub version: u64,
    pub articles: usize,
    /// False when the articles had not changed since the current snapshot (nothing written).
    pub written: bool,
}

/// Reads the sources (incrementally from the current snapshot) and publishes the result to
/// `store`: what `casebridge knowledge sync` and the knowledge-sync function run.
pub async fn sync_to(
    store: &dyn SnapshotStore,
    config: &KnowledgeConfig,
    creatio: Option<&CreatioClient>,
    now: Timestamp,
) -> Result<Synced, KnowledgeError> {
    sync_files_to(store, config, None, creatio, now).await
}

/// [`sync_to`] with the folder's articles read by the caller (`files`, see [`build`]).
pub async fn sync_files_to(
    store: &dyn SnapshotStore,
    config: &KnowledgeConfig,
    files: Option<Vec<Article>>,
    creatio: Option<&CreatioClient>,
    now: Timestamp,
) -> Result<Synced, KnowledgeError> {
    // A previous snapshot that cannot be read (a format from another version, a lost chunk)
    // is rebuilt from the sources in full rather than block every sync after it.
    let previous = match store.current().await? {
        Some((version, _)) => match store.load(version).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "previous knowledge snapshot unreadable; reading all");
                None
            }
        },
        None => None,
    };
    let snapshot = build(config, files, creatio, previous.as_ref(), now).await?;
    let written = publish(store, &snapshot).await?;
    let current = if written {
        snapshot.version
    } else {
        previous.as_ref().map_or(snapshot.version, |p| p.version)
    };
    tracing::info!(
        version = current,
        articles = snapshot.articles.len(),
        written,
        "knowledge synced"
    );
    Ok(Synced {
        version: current,
        articles: snapshot.articles.len(),
        written,
    })
}

/// The sources a sync reads, from the configuration; built once per container (the
/// knowledge-sync function, the CLI).
pub struct Sources {
    pub knowledge: KnowledgeConfig,
    /// Creatio, when its knowledge base is a source.
    pub creatio: Option<CreatioClient>,
}

impl Sources {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let knowledge = config.knowledge.clone();
        if !knowledge.has_source() {
            return Err(ConfigError::Invalid {
                name: "CASEBRIDGE_KNOWLEDGE_CREATIO",
                reason: "the knowledge sync has no source: set CASEBRIDGE_KNOWLEDGE_CREATIO=true, \
                         CASEBRIDGE_KNOWLEDGE_S3 or CASEBRIDGE_KNOWLEDGE_DIR"
                    .into(),
            });
        }
        let creatio = match knowledge.creatio {
            false => None,
            true => {
                let c = config.creatio()?;
                let http = crate::http::client(c.timeout).map_err(|e| ConfigError::Invalid {
                    name: "CREATIO_URL",
                    reason: format!("cannot build an HTTP client: {e}"),
                })?;
                Some(CreatioClient::new(c, http, RetryPolicy::default()))
            }
        };
        Ok(Self { knowledge, creatio })
    }

    /// Reads them and publishes the snapshot ([`sync_to`]).
    pub async fn sync_to(
        &self,
        store: &dyn SnapshotStore,
        now: Timestamp,
    ) -> Result<Synced, KnowledgeError> {
        sync_to(store, &self.knowledge, self.creatio.as_ref(), now).await
    }

    /// [`Sources::sync_to`] with the folder's articles read by the caller (from S3).
    pub async fn sync_files_to(
        &self,
        store: &dyn SnapshotStore,
        files: Vec<Article>,
        now: Timestamp,
    ) -> Result<Synced, KnowledgeError> {
        sync_files_to(
            store,
            &self.knowledge,
            Some(files),
            self.creatio.as_ref(),
            now,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn sources(env: &[(&str, &str)]) -> Result<Sources, ConfigError> {
        let map: HashMap<&str, &str> = env.iter().copied().collect();
        Sources::from_config(&Config::from_source(&map)?)
    }

    #[test]
    fn a_sync_without_a_source_or_without_creatio_is_named_at_start_up() {
        let err = sources(&[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CASEBRIDGE_KNOWLEDGE_CREATIO"), "{err}");
        let err = sources(&[("CASEBRIDGE_KNOWLEDGE_CREATIO", "true")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("CREATIO_URL"), "{err}");
    }
}
