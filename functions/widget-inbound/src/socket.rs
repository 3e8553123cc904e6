//! The WebSocket API's routes (template.yaml's `WidgetSocketApi`): API Gateway holds the socket
//! and calls this function on `$connect` and `$disconnect`; pushes go the other way
//! ([`casebridge::widget::socket`]).
//!
//! **`$connect`** (`wss://…/<stage>?session=<id>&token=<session token>&expires=<epoch s>&proof=<socket
//! proof>`: a browser cannot set headers on a WebSocket) is allowed only when, as for every API
//! call, the origin is allowed and the session token is valid and for that session; and also the
//! socket proof ([`casebridge::widget::auth::socket_proof`]: an HMAC keyed with the visitor
//! secret, computed in the browser) goes with the visitor the token was issued to, that session,
//! and an `expires` at most five minutes ahead. The visitor secret itself never travels in a
//! URL, and a URL someone logged opens nothing once it expires; a token alone opens nothing. The
//! session must exist and be open. Then the limits: the sockets one conversation may hold (its
//! tabs), and the sockets a client address may open an hour (counted only for a socket the
//! conversation may have, so a refused extra tab does not use up its office's allowance). A
//! refusal is the HTTP status API Gateway gives the browser's handshake (401, 403, 404, 409,
//! 429). **`$disconnect`** forgets the socket. Nothing is ever sent from here: API Gateway
//! refuses a post to a connection before its `$connect` has answered.

use casebridge::domain::{SessionId, SessionState};
use casebridge::store::{Allowance, Store};
use casebridge::widget::auth::{verify_session_token, verify_socket_proof};
use casebridge::widget::socket::ConnectionId;
use jiff::Timestamp;
use lambda_http::aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use secrecy::ExposeSecret;

use crate::request::client_address;
use crate::{Deps, WidgetError, json_response};

/// What API Gateway calls the function for (its route key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRoute {
    Connect,
    Disconnect,
    /// A message from the browser: the widget sends none.
    Message,
}

impl SocketRoute {
    pub fn of(route_key: Option<&str>) -> Self {
        match route_key {
            Some("$connect") => SocketRoute::Connect,
            Some("$disconnect") => SocketRoute::Disconnect,
            _ => SocketRoute::Message,
        }
    }
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

pub async fn handle(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    context: &ApiGatewayWebsocketProxyRequestContext,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    let connection = context
        .connection_id
        .as_deref()
        .and_then(|c| ConnectionId::parse(c).ok())
        .ok_or_else(|| WidgetError::BadRequest("no connection id".into()))?;
    match SocketRoute::of(context.route_key.as_deref()) {
        SocketRoute::Connect => connect(store, deps, event, &connection, now).await,
        SocketRoute::Disconnect => {
            store.remove_connection(&connection, None).await?;
            Ok(json_response(200, &serde_json::json!({})))
        }
        SocketRoute::Message => Err(WidgetError::BadRequest(
            "this socket only receives; send messages with POST …/messages".into(),
        )),
    }
}

fn query(event: &Request, name: &str) -> Option<String> {
    event
        .query_string_parameters_ref()
        .and_then(|q| q.first(name).map(str::to_owned))
}

async fn connect(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    connection: &ConnectionId,
    now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    crate::cors::check(event, &deps.widget)?;
    let (Some(session), Some(token), Some(expires), Some(proof)) = (
        query(event, "session"),
        query(event, "token"),
        query(event, "expires").and_then(|e| e.parse::<i64>().ok()),
        query(event, "proof"),
    ) else {
        return Err(WidgetError::Unauthorized(
            "a socket opens with session, token, expires and proof".into(),
        ));
    };
    let id = SessionId::parse(&session).map_err(|_| WidgetError::NotFound)?;
    let secret = deps.widget.secret.expose_secret().as_bytes();
    let (sid, visitor) = verify_session_token(secret, token.trim(), now)?;
    if sid != id || !verify_socket_proof(secret, &visitor, id, expires, &proof, now) {
        return Err(WidgetError::Forbidden);
    }
    let session = store.session(id).await?.ok_or(WidgetError::NotFound)?;
    if session.state == SessionState::Closed {
        return Ok(crate::closed());
    }
    let limits = &deps.widget.limits;
    if store.connections(id, now).await?.len() >= limits.sockets_per_session {
        return Err(WidgetError::TooMany {
            message: format!(
                "this conversation has {} sockets open; close a tab",
                limits.sockets_per_session
            ),
            retry_after: None,
        });
    }
    let key = format!("widget-sockets:{}", client_address(event));
    if let Allowance::Exhausted { retry_after } = store
        .take_allowance(&key, HOUR, limits.sockets_per_hour, now)
        .await?
    {
        return Err(WidgetError::TooMany {
            message: format!(
                "too many sockets from this address; at most {} an hour",
                limits.sockets_per_hour
            ),
            retry_after: Some(retry_after),
        });
    }
    store.add_connection(id, connection, now).await?;
    tracing::info!(session_id = %id, "widget socket connected");
    Ok(json_response(200, &serde_json::json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_keys_name_the_routes() {
        assert_eq!(SocketRoute::of(Some("$connect")), SocketRoute::Connect);
        assert_eq!(
            SocketRoute::of(Some("$disconnect")),
            SocketRoute::Disconnect
        );
        assert_eq!(SocketRoute::of(Some("$default")), SocketRoute::Message);
        assert_eq!(SocketRoute::of(None), SocketRoute::Message);
    }
}
