//! A sample shop's order API, the other end of casebridge's actions in the local stack's demo
//! and in the tests: `GET /shop/orders/{order}?phone=…` or `?email=…` answers the order as JSON
//! only to the customer it belongs to (404 otherwise, as a shop that checks ownership does), and
//! requires `Authorization: Bearer <token>` (401 otherwise).
//!
//! Tests can make it misbehave ([`Fault`]): answer slowly, with a 500, with a body over any
//! sensible limit, or with text that is not JSON. Every request is logged for assertions (path
//! and query only; the token is checked, never kept).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One order of the sample shop.
#[derive(Debug, Clone)]
pub struct Order {
    pub number: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub shipped_on: Option<String>,
    pub tracking_url: Option<String>,
}

/// How the next answers misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Slow(Duration),
    ServerError,
    /// A JSON body of 2 MiB.
    Oversized,
    /// An HTML error page with 200.
    NotJson,
}

/// A request the shop received: path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopRequest {
    pub path: String,
    pub query: HashMap<String, String>,
}

#[derive(Default)]
struct Inner {
    orders: Vec<Order>,
    fault: Option<Fault>,
    requests: Vec<ShopRequest>,
}

#[derive(Clone)]
struct Shared {
    token: String,
    inner: Arc<Mutex<Inner>>,
}

pub struct ShopStandIn {
    /// Base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    shared: Shared,
}

/// The sample orders: 5511 is Ann's (SMS and widget), 123 is Bob's.
pub fn sample_orders() -> Vec<Order> {
    vec![
        Order {
            number: "5511".into(),
            phone: Some("+15551230001".into()),
            email: Some("ann@example.com".into()),
            status: "shipped".into(),
            shipped_on: Some("2 Dec".into()),
            tracking_url: Some("https://track.example.com/1Z5511".into()),
        },
        Order {
            number: "123".into(),
            phone: Some("+15559990123".into()),
            email: Some("bob@example.com".into()),
            status: "processing".into(),
            shipped_on: None,
            tracking_url: None,
        },
    ]
}

async fn order(
    State(shared): State<Shared>,
    Path(number): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (fault, found) = {
        let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.requests.push(ShopRequest {
            path: format!("/shop/orders/{number}"),
            query: query.clone(),
        });
        let found = inner
            .orders
            .iter()
            .find(|o| {
                o.number == number
                    && (query
                        .get("phone")
                        .is_some_and(|p| o.phone.as_ref() == Some(p))
                        || query.get("email").is_some_and(|e| {
                            o.email.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(e))
                        }))
            })
            .cloned();
        (inner.fault, found)
    };
    let expected = format!("Bearer {}", shared.token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unauthorized"})),
        )
            .into_response();
    }
    match fault {
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html><body>Internal error: NullReferenceException at OrderService.cs:42</body></html>",
            )
                .into_response();
        }
        Some(Fault::Oversized) => {
            let filler = "x".repeat(2 * 1024 * 1024);
            return axum::Json(json!({"status": "shipped", "notes": filler})).into_response();
        }
        Some(Fault::NotJson) => {
            return (
                StatusCode::OK,
                [("content-type", "text/html")],
                "<html><body>Maintenance: back at 5pm. Internal host db-7.internal</body></html>",
            )
                .into_response();
        }
        None => {}
    }
    match found {
        Some(o) => axum::Json(json!({
            "order": o.number,
            "status": o.status,
            "shipped_on": o.shipped_on,
            "tracking_url": o.tracking_url,
            "customer": {"email": o.email, "phone": o.phone},
            "internal_margin": "31%",
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "no such order"})),
        )
            .into_response(),
    }
}

impl ShopStandIn {
    /// The shop with `orders`, on a free loopback port, requiring `token`.
    pub async fn start(token: &str, orders: Vec<Order>) -> std::io::Result<ShopStandIn> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let shared = Shared {
            token: token.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                orders,
                ..Inner::default()
            })),
        };
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .route("/shop/orders/{number}", axum::routing::get(order))
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ShopStandIn {
            url: format!("http://{addr}"),
            shared,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.inner().fault = fault;
    }

    pub fn requests(&self) -> Vec<ShopRequest> {
        self.inner().requests.clone()
    }
}

/// The token the local stack's demo shop requires (not a secret: a loopback demo).
pub const DEMO_TOKEN: &str = "local-demo-shop-token";

/// `[actions]` for the sample shop at `url`: `order_status` for SMS (bound to the phone) and
/// `order_status_web` for the widget (bound to the verified e-mail), the same triggers.
/// `authorization` is the header's value as the settings file writes it (`Bearer …` or
/// `Bearer {env:NAME}`).
pub fn demo_actions(url: &str, authorization: &str) -> String {
    let host = url
        .split("://")
        .nth(1)
        .and_then(|h| h.split([':', '/']).next())
        .unwrap_or("127.0.0.1");
    let action = |name: &str, bound: &str| {
        format!(
            r#"
[[actions.list]]
name = "{name}"
description = "The status of one of the customer's orders, by its number"
url = "{url}/shop/orders/{{order}}?{bound}={{{bound}}}"
headers = {{ Authorization = "{authorization}" }}
timeout_seconds = 2
triggers = ['(?:order|pedido|bestellung|commande|encomenda)\D{{0,12}}(?P<order>\d{{3,10}})']
answer = "Order {{order}}: {{status}}."
title = "Order {{order}}"
params = [
  {{ name = "order", type = "string", pattern = "[0-9]{{3,10}}", description = "the order number" }},
  {{ name = "{bound}", bound = "{bound}" }},
]
keep = [
  {{ name = "status", pointer = "/status", label = "Status" }},
  {{ name = "shipped_on", pointer = "/shipped_on", label = "Shipped" }},
  {{ name = "tracking", pointer = "/tracking_url", label = "Track the parcel", link = true }},
]
"#
        )
    };
    format!(
        "\n[actions]\nallowed_hosts = [\"{host}\"]\n{}{}",
        action("order_status", "phone"),
        action("order_status_web", "email")
    )
}
