//! Reading a widget request: its JSON body (bounded, empty reads as the default) and the
//! client's address as API Gateway saw it.

use lambda_http::{Body, Request, RequestExt};
use serde::Deserialize;

use crate::WidgetError;

/// Largest JSON body accepted.
pub(crate) const MAX_BODY: usize = 64 * 1024;

pub(crate) fn body_json<T: for<'de> Deserialize<'de> + Default>(
    event: &Request,
) -> Result<T, WidgetError> {
    let bytes: &[u8] = match event.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.len() > MAX_BODY {
        return Err(WidgetError::TooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| WidgetError::BadRequest(format!("invalid JSON: {e}")))
}

/// The client's address as API Gateway saw it (`requestContext.http.sourceIp`, or `requestContext.identity.sourceIp` for the
/// WebSocket API; the local stack
/// sets it from the connection). Headers are not trusted: a client writes its own.
pub(crate) fn client_address(event: &Request) -> String {
    match event.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        Some(lambda_http::request::RequestContext::WebSocket(ctx)) => {
            ctx.identity.source_ip.clone()
        }
        _ => None,
    }
    .unwrap_or_else(|| "unknown".to_owned())
}
