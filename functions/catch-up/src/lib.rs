//! Catch-up: the scheduled function that asks Creatio for the rep replies and closed cases no
//! business process reported (an EventBridge rule in template.yaml, every
//! `CREATIO_CATCHUP_SECONDS`). Each poll is one Creatio request; what it finds goes into the
//! outbox and is delivered from the stream like a webhook's report
//! ([`casebridge::replies::catchup`]).
//!
//! The scheduled event's content does not matter: every invocation is one poll. A transient
//! failure fails the invocation (the next poll, a minute later, covers the same ground: the marks
//! only move after what they cover was recorded).

use std::time::Duration;

use casebridge::config::{Config, ConfigError};
use casebridge::replies::catchup::{self, Polled};
use casebridge::replies::deliver::ReplyClients;
use casebridge::store::Store;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

/// Everything a poll needs besides the store; built once per container.
pub struct Deps {
    pub replies: ReplyClients,
    /// The schedule's interval (the first poll of a deployment looks back that far).
    pub interval: Duration,
}

impl Deps {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        Ok(Self {
            // A poll is one request; a busy instance gets the same room as a sync.
            replies: ReplyClients::from_config(config, config.creatio()?.timeout)?,
            interval: config.catchup_interval.unwrap_or(Duration::from_secs(60)),
        })
    }
}

fn summary(p: &Polled) -> Value {
    json!({
        "activities": p.activities,
        "queued": p.queued,
        "requeued": p.requeued,
        "closed_cases": p.closed_cases,
        "closed": p.closed,
    })
}

pub async fn handler(
    store: &dyn Store,
    deps: &Deps,
    _event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Error> {
    let span = tracing::info_span!("catch_up");
    use tracing::Instrument;
    async move {
        match catchup::poll(
            store,
            &deps.replies.deps(),
            deps.interval,
            jiff::Timestamp::now(),
        )
        .await
        {
            Ok(p) => Ok(summary(&p)),
            Err(e) => {
                tracing::error!(error = %e, transient = e.is_transient(), "catch-up poll failed");
                Err(e.into())
            }
        }
    }
    .instrument(span)
    .await
}
