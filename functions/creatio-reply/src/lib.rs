//! Creatio business-process webhook (POST /creatio/reply, POST /creatio/reply/{token}): agent replies and case status.
//!
//! The handler takes its dependencies as arguments; `main.rs` builds them once per container, and
//! the local runner and the tests call this same function. Its behaviour arrives with its issue;
//! until then every route answers 501 with a JSON error, never a panic or a plain-text 200.

use casebridge::config::Config;
use casebridge::store::Store;
use lambda_http::{Body, Error, Request, Response};

pub async fn handler(
    _store: &dyn Store,
    _config: &Config,
    _event: Request,
) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(501)
        .header("content-type", "application/json")
        .body(Body::from(r#"{"error":"not implemented yet"}"#))?)
}
