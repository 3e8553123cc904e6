//! CORS limited to `WIDGET_ALLOWED_ORIGINS`.
//!
//! A request from a browser carries `Origin`; one not on the list is refused with a 403 (and no
//! `Access-Control-Allow-Origin`, so the browser would block the answer anyway). Requests without
//! `Origin` (a site's backend, curl) are not browser requests and pass. Preflights get the
//! methods and headers the widget uses, cached for 10 minutes.

use casebridge::config::WidgetConfig;
use lambda_http::{Body, Request, Response};

use crate::WidgetError;

/// The request's allowed origin, None when it has none; Err when it has one not on the list.
pub fn check(event: &Request, widget: &WidgetConfig) -> Result<Option<String>, WidgetError> {
    let Some(origin) = event.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let origin = origin.trim_end_matches('/');
    if widget
        .allowed_origins
        .iter()
        .any(|o| o == origin || o == "*")
    {
        Ok(Some(origin.to_owned()))
    } else {
        Err(WidgetError::OriginNotAllowed)
    }
}

pub fn decorate(response: &mut Response<Body>, origin: Option<&str>) {
    let Some(origin) = origin.and_then(|o| http::HeaderValue::from_str(o).ok()) else {
        return;
    };
    let h = response.headers_mut();
    h.insert("access-control-allow-origin", origin);
    h.insert("vary", http::HeaderValue::from_static("Origin"));
}

pub fn preflight(origin: Option<&str>) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = http::StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        http::HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "access-control-allow-headers",
        http::HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        "access-control-max-age",
        http::HeaderValue::from_static("600"),
    );
    decorate(&mut r, origin);
    r
}
