//! Pushing to the widget over a WebSocket: API Gateway's WebSocket API holds the browser's
//! socket, and casebridge posts to it through the API's management endpoint
//! (`POST {stage URL}/@connections/{connection id}`, SigV4-signed for `execute-api`).
//!
//! **Why this shape.** Lambda cannot hold a socket, so API Gateway does: it calls the widget
//! function on `$connect` (which checks the session token and the visitor's proof, then records
//! the connection) and `$disconnect` (which forgets it), and whoever stores a message for a widget
//! session posts it to every connection of that session ([`push`]). The post is one signed HTTPS
//! call over the shared client ([`crate::aws::Access`]), so no management SDK crate is linked.
//!
//! **Nothing is lost when a push is.** Every pushed message carries its `seq`; the widget shows a
//! seq once, and after a (re)connect it asks `GET …/messages?after=<last seq>` for what it missed.
//! A push that fails is logged and left: the poll, which slows to once a minute while a socket is
//! open, still finds the message. A connection API Gateway calls gone (410) is removed at once,
//! unless it was opened in the last 10 s: API Gateway also answers 410 while the handshake that
//! `$connect` approved is finishing, and that socket will be open in a moment (its widget polls
//! once on open, so the message is not lost either way).
//!
//! **What is stored.** A connection item per socket, keyed by its session, with a TTL of two
//! hours (API Gateway's longest connection), and a pointer from the connection id to its session
//! for `$disconnect`, which names only the connection. No text, no address.
//!
//! **Limits** ([`crate::widget::config::WidgetLimits`]): sockets per session (tabs of one
//! visitor) and new sockets per client address an hour, refused at `$connect` with 429.
//!
//! Facts (AWS documentation, "Use @connections commands in your backend service" and the
//! WebSocket quotas): the callback URL is `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/@connections/{connection_id}`;
//! a gone connection answers 410 `GoneException`; a connection lasts at most 2 hours and closes
//! after 10 idle minutes; a message is at most 128 KB in 32 KB frames; a post from the `$connect`
//! integration itself fails (the connection is not open yet).

use serde_json::{Value, json};

use crate::aws::{Access, LambdaEnv};
pub use crate::domain::{CONNECTION_LIFETIME, ConnectionId};
use crate::domain::{Message, Role, Session, SessionState};
use crate::store::Store;
pub use crate::widget::config::SocketUrl;

/// Why a post to a connection did not arrive.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// 410: the socket is closed; its item is removed.
    #[error("the connection is gone")]
    Gone,
    #[error("posting to the connection failed: {0}")]
    Failed(String),
}

/// The management endpoint's client: posts to connections.
///
/// Inside Lambda its signed HTTP client is built on the first push, not at start-up: building one
/// is about 0.4 ms of a cold start (the bench), and most invocations of the handoff and the
/// catch-up never push.
#[derive(Clone, Debug)]
pub struct Sockets {
    access: std::sync::Arc<std::sync::OnceLock<Result<Access, String>>>,
    lambda: Option<LambdaEnv>,
    url: SocketUrl,
}

impl Sockets {
    pub fn new(access: Access, url: SocketUrl) -> Self {
        Self {
            access: std::sync::Arc::new(std::sync::OnceLock::from(Ok(access))),
            lambda: None,
            url,
        }
    }

    /// Inside a Lambda function: its region and role, signed for on the first push.
    pub fn from_lambda_env(env: &LambdaEnv, url: SocketUrl) -> Self {
        Self {
            access: Default::default(),
            lambda: Some(env.clone()),
            url,
        }
    }

    fn access(&self) -> Result<&Access, PostError> {
        self.access
            .get_or_init(|| match &self.lambda {
                Some(env) => {
                    Access::lambda(env, "AWS_ENDPOINT_URL_EXECUTE_API").map_err(|e| e.to_string())
                }
                None => Err("no AWS identity to sign with".into()),
            })
            .as_ref()
            .map_err(|e| PostError::Failed(e.clone()))
    }

    /// What a Lambda function pushes with: None when `WIDGET_SOCKET_URL` is not set.
    pub fn for_lambda(env: &LambdaEnv, config: &crate::config::Config) -> Option<Self> {
        config
            .widget_socket
            .clone()
            .map(|url| Self::from_lambda_env(env, url))
    }

    pub fn url(&self) -> &SocketUrl {
        &self.url
    }

    /// `POST @connections/{id}` with `body` as the message.
    pub async fn post(&self, connection: &ConnectionId, body: &str) -> Result<(), PostError> {
        let url = self.url.connection_url(connection);
        let (status, _) = self
            .access()?
            .post_signed(
                "execute-api",
                &url,
                &[("content-type", "application/json")],
                body.to_owned(),
            )
            .await
            .map_err(|e| PostError::Failed(format!("{e:?}")))?;
        match status {
            200..=299 => Ok(()),
            410 => Err(PostError::Gone),
            other => Err(PostError::Failed(format!("HTTP {other}"))),
        }
    }
}

/// A message as the widget reads it (the poll, the send's answer and the push all use this).
pub fn message_json(m: &Message) -> Value {
    let mut v = json!({"seq": m.seq, "role": m.role.as_str(), "text": m.text.as_str(), "at": m.at.to_string()});
    if !m.attachments.is_empty() {
        v["attachments"] = m
            .attachments
            .iter()
            .map(|a| json!({"url": a.url, "content_type": a.content_type}))
            .collect();
    }
    if let Some(card) = &m.card {
        v["card"] = json!(card);
    }
    v
}

/// What the visitor sees: everything but casebridge's own notes.
pub fn visible(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .filter(|m| m.role != Role::System)
        .map(message_json)
        .collect()
}

/// The one frame casebridge pushes: the session's state and the messages just stored (maybe
/// none, for a state change), with the seqs they span (casebridge's own notes included, though
/// not shown), so the widget can tell a frame that follows on from one after a gap.
pub fn frame(state: SessionState, messages: &[Message]) -> String {
    let mut v = json!({
        "type": "update",
        "state": state.as_str(),
        "messages": visible(messages),
    });
    if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
        v["first_seq"] = json!(first.seq);
        v["last_seq"] = json!(last.seq);
    }
    v.to_string()
}

/// A socket opened this recently that answers 410 is kept: API Gateway answers a post 410 until
/// the handshake `$connect` approved has completed.
const GONE_GRACE: jiff::SignedDuration = jiff::SignedDuration::from_secs(10);

/// How long one post to a connection may take (API Gateway answers in milliseconds).
const POST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Posts `messages` (just stored) and the session's state to every open socket of `session`.
/// Never fails: a push is an extra (see the module doc). Gone connections are removed; other
/// failures are logged and counted.
pub async fn push(
    store: &dyn Store,
    sockets: Option<&Sockets>,
    session: &Session,
    messages: &[Message],
) {
    let Some(sockets) = sockets else { return };
    if !matches!(session.key.channel, crate::domain::Channel::Widget) {
        return;
    }
    let open = match store.connections(session.id, jiff::Timestamp::now()).await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %e, "widget push skipped: connections not read");
            return;
        }
    };
    if open.is_empty() {
        return;
    }
    let body = frame(session.state, messages);
    // All sockets at once, each given [`POST_TIMEOUT`]: a push must never hold up the visitor's
    // send, nor a reply's delivery, for long.
    let mut posts = tokio::task::JoinSet::new();
    for connection in open {
        let (sockets, body) = (sockets.clone(), body.clone());
        posts.spawn(async move {
            let posted = tokio::time::timeout(POST_TIMEOUT, sockets.post(&connection, &body))
                .await
                .unwrap_or_else(|_| Err(PostError::Failed("timed out".into())));
            (connection, posted)
        });
    }
    while let Some(done) = posts.join_next().await {
        let Ok((connection, posted)) = done else {
            continue;
        };
        match posted {
            Ok(()) => {
                tracing::debug!(session_id = %session.id, "widget push sent");
            }
            Err(PostError::Gone) => {
                // A socket whose handshake is still finishing answers 410 too: only one opened
                // a while ago is taken as gone (a fresh one polls once it is open anyway).
                let cut = jiff::Timestamp::now() - GONE_GRACE;
                match store.remove_connection(&connection, Some(cut)).await {
                    Ok(Some(_)) => {
                        tracing::info!(session_id = %session.id, "widget socket gone; forgotten")
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "gone widget socket not removed"),
                }
            }
            Err(e) => {
                tracing::warn!(session_id = %session.id, error = %e, "widget push failed; the poll will find it");
                crate::metrics::emit(crate::metrics::Metric::PushFailed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_url_gives_the_management_endpoint_and_encodes_the_connection() {
        let url = SocketUrl::parse(
            "WIDGET_SOCKET_URL",
            "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod/",
        )
        .unwrap();
        assert_eq!(
            url.as_str(),
            "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"
        );
        let id = ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap();
        assert_eq!(
            url.connection_url(&id),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/@connections/L0SM9cOFvHcCIhw%3D"
        );
        // ws:// only on loopback, and nothing but a socket URL
        assert!(SocketUrl::parse("WIDGET_SOCKET_URL", "ws://127.0.0.1:3000/widget/socket").is_ok());
        for bad in [
            "ws://example.com/prod",
            "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
            "wss://x/prod?token=1",
            "wss://",
        ] {
            assert!(SocketUrl::parse("WIDGET_SOCKET_URL", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_connection_id_is_base64_like_and_bounded() {
        assert!(ConnectionId::parse("L0SM9cOFvHcCIhw=").is_ok());
        assert!(ConnectionId::parse("a+b/c_d-e").is_ok());
        for bad in ["", "a b", "a#b", "x/../y\n", &"a".repeat(129)] {
            assert!(ConnectionId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
