//! The scheduled knowledge sync: reads the knowledge sources (a folder, Creatio's knowledge base
//! when `CASEBRIDGE_KNOWLEDGE_CREATIO=true`) and saves the table's snapshot, which the functions
//! that answer customers load ([`casebridge::knowledge::snapshot`]). The same run as
//! `casebridge knowledge sync`; an unchanged knowledge base writes nothing.

use casebridge::knowledge::snapshot::SnapshotStore;
use casebridge::knowledge::sync::{Sources, Synced};
use lambda_runtime::LambdaEvent;
use serde_json::Value;

/// What a sync needs besides the snapshot store; built once per container.
pub type Deps = Sources;

/// One scheduled run. A failure is returned, so the invocation counts as an error (and its
/// alarm fires); the functions keep the last snapshot meanwhile.
pub async fn handler(
    snapshots: &dyn SnapshotStore,
    deps: &Deps,
    _event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let Synced {
        version,
        articles,
        written,
    } = deps.sync_to(snapshots, jiff::Timestamp::now()).await?;
    Ok(serde_json::json!({"version": version, "articles": articles, "written": written}))
}
