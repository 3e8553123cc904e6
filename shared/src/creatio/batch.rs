//! Writes in `$batch` requests: [`BatchOp`]s sent in chunks of `CREATIO_BATCH_SIZE` (at most
//! [`MAX_BATCH`]) with `Prefer: continue-on-error`, one result per op, creates that failed
//! checked for the record they meant to write, transient failures sent again.

use super::*;
use backon::{BackoffBuilder, ExponentialBuilder};

/// One write in a `$batch`.
#[derive(Debug, Clone)]
pub enum BatchOp {
    Create {
        entity: String,
        id: Uuid,
        body: Value,
    },
    Patch {
        entity: String,
        id: Uuid,
        body: Value,
    },
}

impl BatchOp {
    /// A create; `Id` is added to the body.
    pub fn create(entity: &str, id: Uuid, mut body: Value) -> Self {
        if let Value::Object(map) = &mut body {
            map.insert("Id".into(), Value::String(id.hyphenated().to_string()));
        }
        BatchOp::Create {
            entity: entity.to_owned(),
            id,
            body,
        }
    }

    pub fn patch(entity: &str, id: Uuid, body: Value) -> Self {
        BatchOp::Patch {
            entity: entity.to_owned(),
            id,
            body,
        }
    }

    fn entity(&self) -> &str {
        match self {
            BatchOp::Create { entity, .. } | BatchOp::Patch { entity, .. } => entity,
        }
    }

    fn id(&self) -> Uuid {
        match self {
            BatchOp::Create { id, .. } | BatchOp::Patch { id, .. } => *id,
        }
    }
}

/// The outcome of one batch op.
pub type BatchResult = Result<Created, CreatioError>;

impl CreatioClient {
    /// Runs `ops` as `$batch` requests of `CREATIO_BATCH_SIZE` (at most [`MAX_BATCH`]) with
    /// `Prefer: continue-on-error`,
    /// and returns one result per op, in order. Creates that fail are checked with GETs (in a
    /// batch too) and count as done when the record is there. Ops that failed transiently are
    /// sent again (bounded, with backoff); permanent failures are returned, never retried.
    /// `Err` only when Creatio could not be used at all (credentials refused).
    pub async fn batch(&self, ops: &[BatchOp]) -> Result<Vec<BatchResult>, CreatioError> {
        let mut results: Vec<Option<BatchResult>> = vec![None; ops.len()];
        let mut pending: Vec<usize> = (0..ops.len()).collect();
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_jitter()
            .without_max_times()
            .build();
        let mut last_transient: Option<CreatioError> = None;
        for attempt in 0..self.retry.attempts.max(1) {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                if let Some(d) = delays.next() {
                    tokio::time::sleep(d).await;
                }
                tracing::warn!(attempt, ops = pending.len(), "retrying Creatio batch ops");
            }
            let mut failed: Vec<(usize, CreatioError)> = Vec::new();
            for chunk in pending.chunks(self.batch_size) {
                let sub: Vec<(usize, &BatchOp)> = chunk.iter().map(|&i| (i, &ops[i])).collect();
                match self.send_batch(&sub).await {
                    Ok(outcomes) => {
                        for (i, outcome) in outcomes {
                            match outcome {
                                Ok(v) => results[i] = Some(Ok(Created::New(v))),
                                Err(e) => failed.push((i, e)),
                            }
                        }
                    }
                    Err(e @ CreatioError::Auth(_)) => return Err(e),
                    Err(e) => failed.extend(chunk.iter().map(|&i| (i, e.clone()))),
                }
            }
            // A failed create whose record exists is done (duplicate Id, or it landed anyway).
            // A refusal of the data itself (a lookup that does not exist, a text too long, a
            // required column empty) wrote nothing: no need to look.
            let creates: Vec<usize> = failed
                .iter()
                .filter(|(i, e)| {
                    matches!(ops[*i], BatchOp::Create { .. })
                        && !matches!(
                            e.data_kind(),
                            Some(
                                error::DataErrorKind::ForeignKey
                                    | error::DataErrorKind::TooLong
                                    | error::DataErrorKind::Required
                            )
                        )
                })
                .map(|(i, _)| *i)
                .collect();
            let present = self.which_exist(ops, &creates).await?;
            // A case and its activities go in one batch, each activity pointing at the case: when
            // the case's create failed for a moment, Creatio refuses the activities after it
            // with a foreign-key error. That refusal is the case's failure, not the
            // activity's: the activity goes again with the case.
            let a_create_failed_for_now = failed
                .iter()
                .any(|(i, e)| matches!(ops[*i], BatchOp::Create { .. }) && e.is_transient());
            pending.clear();
            for (i, e) in failed {
                // A create refused as a duplicate key is there: casebridge's ids are derived
                // from the session and the message, so the record with this id is the one an
                // earlier attempt wrote (its answer lost), even when the check above could not
                // be made.
                let duplicate = matches!(ops[i], BatchOp::Create { .. })
                    && e.data_kind() == Some(error::DataErrorKind::Duplicate);
                if present.contains(&i) || duplicate {
                    results[i] = Some(Ok(Created::AlreadyThere));
                } else if e.is_transient() {
                    last_transient = Some(e);
                    pending.push(i);
                } else if a_create_failed_for_now
                    && e.data_kind() == Some(error::DataErrorKind::ForeignKey)
                {
                    pending.push(i);
                } else {
                    tracing::warn!(entity = ops[i].entity(), id = %ops[i].id(), error = %e, "Creatio refused a batch op");
                    results[i] = Some(Err(e));
                }
            }
        }
        let gave_up = last_transient.unwrap_or(CreatioError::Transport("gave up".into()));
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(gave_up.clone())))
            .collect())
    }

    /// Of the create ops at `indices`, those whose record exists, checked with batched GETs.
    /// A check that cannot be made counts as "not there", which leaves the op to be retried.
    async fn which_exist(
        &self,
        ops: &[BatchOp],
        indices: &[usize],
    ) -> Result<Vec<usize>, CreatioError> {
        let mut present = Vec::new();
        for chunk in indices.chunks(MAX_BATCH) {
            let requests: Vec<BatchSubRequest> = chunk
                .iter()
                .map(|&i| BatchSubRequest {
                    method: "GET",
                    url: format!("{}?$select=Id", entity_path(ops[i].entity(), ops[i].id())),
                    id: i.to_string(),
                    body: None,
                    headers: serde_json::Map::new(),
                })
                .collect();
            match self.post_batch(&BatchBody { requests }).await {
                Ok(resp) => present.extend(
                    resp.responses
                        .iter()
                        .filter(|r| r.status == 200)
                        .filter_map(|r| r.id.parse::<usize>().ok()),
                ),
                Err(e @ CreatioError::Auth(_)) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(present)
    }

    /// One `$batch` request; a result per op (missing answers count as transient failures).
    async fn send_batch(
        &self,
        ops: &[(usize, &BatchOp)],
    ) -> Result<Vec<(usize, Result<Value, CreatioError>)>, CreatioError> {
        let mut headers = serde_json::Map::new();
        headers.insert(
            "Content-Type".into(),
            Value::String("application/json;odata=verbose".into()),
        );
        let requests = ops
            .iter()
            .map(|(i, op)| match op {
                BatchOp::Create { entity, body, .. } => BatchSubRequest {
                    method: "POST",
                    url: entity.clone(),
                    id: i.to_string(),
                    body: Some(body),
                    headers: headers.clone(),
                },
                BatchOp::Patch { entity, id, body } => BatchSubRequest {
                    method: "PATCH",
                    url: entity_path(entity, *id),
                    id: i.to_string(),
                    body: Some(body),
                    headers: headers.clone(),
                },
            })
            .collect();
        let resp = self.post_batch(&BatchBody { requests }).await?;
        let mut by_id: HashMap<String, (u16, Option<Value>)> = resp
            .responses
            .into_iter()
            .map(|r| (r.id, (r.status, r.body)))
            .collect();
        Ok(ops
            .iter()
            .map(|(i, op)| {
                let outcome = match by_id.remove(&i.to_string()) {
                    Some((status, body)) if (200..300).contains(&status) => {
                        Ok(body.unwrap_or(Value::Null))
                    }
                    Some((status, body)) => Err(CreatioError::from_answer(
                        status,
                        &body.map(|b| b.to_string()).unwrap_or_default(),
                        op.entity(),
                    )),
                    None => Err(CreatioError::Transport(
                        "the batch answer has no result for this request".into(),
                    )),
                };
                (*i, outcome)
            })
            .collect())
    }

    pub(super) async fn post_batch(
        &self,
        body: &BatchBody<'_>,
    ) -> Result<BatchResponseBody, CreatioError> {
        let url = format!("{}/$batch", self.odata_root);
        let body = serde_json::to_value(body)
            .map_err(|e| CreatioError::Protocol(format!("batch body: {e}")))?;
        let a = self
            .exchange(Method::POST, &url, &[], Some(&body), true)
            .await?;
        serde_json::from_str(&a.body)
            .map_err(|_| CreatioError::Protocol("the $batch answer was not a batch".into()))
    }
}
