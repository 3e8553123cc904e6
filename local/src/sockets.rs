//! The WebSocket API, locally: what API Gateway does for the widget's socket, on the stack's own
//! port, so the widget and the functions speak to it exactly as in AWS.
//!
//! - `GET /widget/socket?session=…&token=…&proof=…` (an upgrade): the widget function is invoked
//!   with a `$connect` event (route key, connection id, the peer as `sourceIp`, the browser's
//!   headers and query) and its status decides, as API Gateway's does: 2xx opens the socket,
//!   anything else refuses the handshake with that status. When the socket closes, `$disconnect`.
//! - `POST /widget/socket/@connections/{id}`: the management endpoint the functions post to,
//!   SigV4-signed for `execute-api` (an unsigned post is refused 403 as API Gateway refuses it;
//!   the signature itself is not verified here), 410 for a connection that is gone.
//!
//! `WIDGET_SOCKET_URL` is `ws://<stack>/widget/socket`, so the management endpoint is
//! `http://<stack>/widget/socket`, as `…/<stage>` is in AWS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use casebridge::widget::socket::ConnectionId;
use lambda_http::RequestExt;
use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequestContext;
use tokio::sync::mpsc;

use crate::{App, error};

/// The open sockets: connection id → where its frames go.
#[derive(Default)]
pub struct LocalSockets {
    open: Mutex<HashMap<ConnectionId, mpsc::UnboundedSender<String>>>,
}

impl LocalSockets {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, mpsc::UnboundedSender<String>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sockets are open now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every socket (a test's "the network dropped").
    pub fn drop_all(&self) {
        self.lock().clear();
    }
}

/// A connection id as API Gateway's look: 16 base64 characters.
fn new_connection_id() -> ConnectionId {
    let raw: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(15)
        .chain(std::iter::once('='))
        .collect();
    ConnectionId::parse(&raw).unwrap_or_else(|_| unreachable!("hex and '=' are base64"))
}

/// The event API Gateway hands the function for `route` on `connection`.
fn event(
    route: &str,
    connection: &ConnectionId,
    peer: Option<String>,
    headers: http::HeaderMap,
    query: HashMap<String, String>,
) -> lambda_http::Request {
    let mut context = ApiGatewayWebsocketProxyRequestContext::default();
    context.route_key = Some(route.to_owned());
    context.event_type = Some(
        if route == "$connect" {
            "CONNECT"
        } else {
            "DISCONNECT"
        }
        .into(),
    );
    context.connection_id = Some(connection.as_str().to_owned());
    context.identity.source_ip = peer;
    let mut request = http::Request::builder()
        .method(http::Method::GET)
        .uri("/widget/socket")
        .body(lambda_http::Body::Empty)
        .unwrap_or_default();
    *request.headers_mut() = headers;
    request
        .with_query_string_parameters(query)
        .with_request_context(lambda_http::request::RequestContext::WebSocket(context))
}

async fn call(app: &App, request: lambda_http::Request) -> Option<http::StatusCode> {
    let deps = app.widget.as_ref().ok()?;
    let response =
        widget_inbound::handle(app.store.as_ref(), deps, request, jiff::Timestamp::now()).await;
    Some(response.status())
}

/// `GET /widget/socket`: `$connect`, then the socket.
pub async fn connect(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
    headers: http::HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let connection = new_connection_id();
    let peer = Some(peer.ip().to_string());
    let request = event("$connect", &connection, peer.clone(), headers, query);
    let Some(status) = call(&app, request).await else {
        return error(503, "the widget is not configured");
    };
    if !status.is_success() {
        return error(status.as_u16(), "the socket was refused");
    }
    let (tx, rx) = mpsc::unbounded_channel();
    app.sockets.lock().insert(connection.clone(), tx);
    upgrade.on_upgrade(move |socket| async move {
        relay(socket, rx).await;
        app.sockets.lock().remove(&connection);
        let request = event(
            "$disconnect",
            &connection,
            peer,
            http::HeaderMap::new(),
            HashMap::new(),
        );
        call(&app, request).await;
    })
}

/// Frames from the functions to the browser, until either side closes.
async fn relay(mut socket: WebSocket, mut frames: mpsc::UnboundedReceiver<String>) {
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(text) => {
                    if socket.send(WsMessage::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                // Dropped by the stack (`drop_all`): close as API Gateway would.
                None => {
                    let _ = socket.send(WsMessage::Close(None)).await;
                    return;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => return,
                // The widget sends nothing; API Gateway would route it to `$default`.
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `POST /widget/socket/@connections/{id}`: the management endpoint.
pub async fn post(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: http::HeaderMap,
    body: String,
) -> Response {
    let signed = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.starts_with("AWS4-HMAC-SHA256 ") && a.contains("/execute-api/aws4_request")
        });
    if !signed {
        return (
            http::StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            r#"{"message":"Missing Authentication Token"}"#,
        )
            .into_response();
    }
    let gone = || {
        (
            http::StatusCode::GONE,
            [("content-type", "application/json")],
            r#"{"message":"GoneException"}"#,
        )
            .into_response()
    };
    let Ok(connection) = ConnectionId::parse(&id) else {
        return gone();
    };
    let sender = app.sockets.lock().get(&connection).cloned();
    match sender {
        Some(tx) if tx.send(body).is_ok() => http::StatusCode::OK.into_response(),
        _ => gone(),
    }
}
