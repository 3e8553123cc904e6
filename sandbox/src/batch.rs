//! `POST {root}/$batch` in Creatio's JSON format: at most 100 sub-requests, each answered with
//! its own status and body; a failed one stops the rest unless the request carries
//! `Prefer: continue-on-error`. Faults are injected per sub-request.

use serde_json::{Value, json};

use crate::Inner;
use crate::errors::{json_response, odata_error};

/// The JSON body of a response built by `odata` (synchronously: those bodies are full strings).
fn sub_response_body(resp: axum::response::Response) -> Value {
    collect(resp.into_body())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// Reads a fully-buffered axum body without an async runtime hop.
fn collect(body: axum::body::Body) -> Option<Vec<u8>> {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};
    let fut = axum::body::to_bytes(body, usize::MAX);
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(b)) => Some(b.to_vec()),
        _ => None,
    }
}

impl Inner {
    pub(crate) fn batch(
        &mut self,
        body: &[u8],
        continue_on_error: bool,
        count: &mut usize,
        base_url: &str,
    ) -> axum::response::Response {
        #[derive(serde::Deserialize)]
        struct Req {
            method: String,
            url: String,
            id: String,
            #[serde(default)]
            body: Option<Value>,
        }
        #[derive(serde::Deserialize)]
        struct Batch {
            requests: Vec<Req>,
        }
        let batch: Batch = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => {
                return odata_error(400, &format!("The batch request body is not valid: {e}"));
            }
        };
        *count = batch.requests.len();
        if batch.requests.len() > 100 {
            return odata_error(
                400,
                "The number of requests in the batch exceeds the limit of 100.",
            );
        }
        let root = self.root();
        let mut responses = Vec::new();
        for r in batch.requests {
            let url = r
                .url
                .split_once(&format!("{root}/"))
                .map(|(_, rest)| rest)
                .unwrap_or(&r.url)
                .trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let sub_body = r.body.map(|b| b.to_string()).unwrap_or_default();
            let resp = if let Some(status) = self.planned_failure(&r.method, path) {
                odata_error(status, "Service temporarily unavailable (planned)")
            } else if self.fault() {
                odata_error(
                    self.config.fault_status,
                    "Service temporarily unavailable (injected)",
                )
            } else {
                self.tables.odata(
                    &r.method.to_ascii_uppercase(),
                    path,
                    &crate::auth::parse_form(query),
                    sub_body.as_bytes(),
                    &format!("{base_url}{root}/{path}"),
                )
            };
            let status = resp.status().as_u16();
            let body = sub_response_body(resp);
            responses.push(json!({"id": r.id, "status": status, "headers": {"Content-Type": "application/json; odata.metadata=minimal"}, "body": body}));
            if status >= 400 && !continue_on_error {
                break;
            }
        }
        json_response(200, json!({"responses": responses}))
    }
}
