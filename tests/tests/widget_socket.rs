//! The widget's socket on the local stack, which serves API Gateway's WebSocket protocol and
//! management endpoint on its own port and invokes the widget function on `$connect` and
//! `$disconnect` as API Gateway does: real WebSocket clients, the real reply path (the console's
//! reply is an activity in the Creatio sandbox and a call of `/creatio/reply`), the real signed
//! pushes.

use std::sync::Arc;
use std::time::Duration;

use casebridge::config::Config;
use casebridge::store::memory::MemoryStore;
use casebridge::widget::socket::ConnectionId;
use casebridge_local::{App, spawn_sync};
use creatio_sandbox::{Sandbox, SandboxConfig};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Stack {
    base: String,
    app: Arc<App>,
    sandbox: Sandbox,
    http: reqwest::Client,
}

async fn stack() -> Stack {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let socket = format!("ws://{addr}/widget/socket");
    let mut env = test_support::stack_env(&base, &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", "local-test-webhook-token"),
        ("WIDGET_SECRET", "local-test-widget-secret-0123456789abcdef"),
        ("WIDGET_ALLOWED_ORIGINS", base.as_str()),
        ("WIDGET_SOCKET_URL", socket.as_str()),
    ]);
    let app = Arc::new(App::new(
        Arc::new(MemoryStore::new()),
        Config::from_source(&env).unwrap(),
    ));
    spawn_sync(app.clone());
    let served = app.clone();
    tokio::spawn(async move { casebridge_local::serve(listener, served).await });
    Stack {
        base,
        app,
        sandbox,
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

impl Stack {
    async fn start(&self) -> Value {
        let r = self
            .http
            .post(format!("{}/widget/sessions", self.base))
            .header("origin", &self.base)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn say(&self, s: &Value, text: &str) -> Value {
        let r = self
            .http
            .post(format!(
                "{}/widget/sessions/{}/messages",
                self.base,
                s["session_id"].as_str().unwrap()
            ))
            .header("origin", &self.base)
            .bearer_auth(s["token"].as_str().unwrap())
            .json(&json!({"text": text, "client_id": uuid::Uuid::new_v4().simple().to_string()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Opens a socket as the widget does: the session, its token, and a proof from the visitor
    /// secret `secret` (the browser computes it with WebCrypto).
    async fn open(&self, s: &Value, token: &str, secret: &str) -> Result<Socket, u16> {
        let expires = jiff::Timestamp::now().as_second() + 240;
        let proof = casebridge::widget::auth::socket_proof(secret, self.session(s), expires);
        let url = format!(
            "{}?session={}&token={token}&expires={expires}&proof={proof}",
            s["socket_url"].as_str().unwrap(),
            s["session_id"].as_str().unwrap(),
        );
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("origin", self.base.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }

    async fn tab(&self, s: &Value) -> Socket {
        self.open(
            s,
            s["token"].as_str().unwrap(),
            s["visitor_secret"].as_str().unwrap(),
        )
        .await
        .expect("the socket opens")
    }

    fn session(&self, s: &Value) -> casebridge::domain::SessionId {
        casebridge::domain::SessionId::parse(s["session_id"].as_str().unwrap()).unwrap()
    }

    /// The rep answers on the case from the console (an activity in Creatio, then the webhook).
    async fn rep_replies(&self, text: &str) {
        let case = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(c) = self.sandbox.records("Case").first() {
                    return c["Id"].as_str().unwrap().to_owned();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the case is created");
        let r = self
            .http
            .post(format!("{}/console/reply", self.base))
            .header("origin", &self.base)
            .form(&[
                ("case_id", case.as_str()),
                ("text", text),
                ("token", self.app.console_token.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
    }
}

/// The next frame whose messages include one from `role`.
async fn frame_with(socket: &mut Socket, role: &str) -> Value {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let Some(Ok(m)) = socket.next().await else {
                panic!("the socket closed");
            };
            let Ok(text) = m.to_text() else { continue };
            let Ok(frame) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if frame["messages"]
                .as_array()
                .is_some_and(|ms| ms.iter().any(|m| m["role"] == role))
            {
                return frame;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no frame with a {role} message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_of_one_visitor_both_receive_the_reps_reply() {
    // GIVEN a visitor with the conversation open in two tabs
    let stack = stack().await;
    let s = stack.start().await;
    assert!(
        s["socket_url"].as_str().unwrap().starts_with("ws://"),
        "{s}"
    );
    let mut one = stack.tab(&s).await;
    let mut two = stack.tab(&s).await;
    // WHEN tab one asks for a person
    stack.say(&s, "talk to a human please").await;
    // THEN tab two sees the question and the answer too
    let seen = frame_with(&mut two, "customer").await;
    assert_eq!(seen["messages"][0]["text"], "talk to a human please");
    // AND when the rep answers on the case, both tabs get the reply, with its seq
    stack.rep_replies("Hi, Bob here: it ships today.").await;
    for tab in [&mut one, &mut two] {
        let frame = frame_with(tab, "agent").await;
        let reply = frame["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["role"] == "agent")
            .unwrap()
            .clone();
        assert_eq!(reply["text"], "Hi, Bob here: it ships today.");
        assert!(reply["seq"].as_u64().unwrap() > 2, "{reply}");
        assert_eq!(frame["last_seq"], reply["seq"]);
    }
    let _ = one.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_a_gone_connection_forgets_it_and_still_reaches_the_open_one() {
    // GIVEN a visitor's open socket, and a socket API Gateway has since closed without a
    // $disconnect reaching casebridge
    let stack = stack().await;
    let s = stack.start().await;
    let mut open = stack.tab(&s).await;
    let gone = ConnectionId::parse("Z29uZS1zb2NrZXQ=").unwrap();
    let store = stack.app.store.as_ref();
    let a_minute_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
    store
        .add_connection(stack.session(&s), &gone, a_minute_ago)
        .await
        .unwrap();
    // AND one API Gateway approved a moment ago, whose handshake is still finishing: it answers
    // 410 too, and must not be forgotten
    let opening = ConnectionId::parse("b3BlbmluZy1zb2NrZXQ=").unwrap();
    store
        .add_connection(stack.session(&s), &opening, jiff::Timestamp::now())
        .await
        .unwrap();
    // WHEN a message is stored for the session (the visitor writes from another device)
    stack.say(&s, "What is your return policy?").await;
    // THEN the open socket gets it
    frame_with(&mut open, "assistant").await;
    // AND the gone one (410 from the management endpoint) is forgotten, the opening one kept
    let left = store
        .connections(stack.session(&s), jiff::Timestamp::now())
        .await
        .unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(!left.contains(&gone) && left.contains(&opening), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_is_refused_with_the_functions_status_and_a_closed_socket_is_forgotten() {
    let stack = stack().await;
    let s = stack.start().await;
    let other = stack.start().await;
    let proof = s["visitor_secret"].as_str().unwrap();
    // A forged token: 401 to the browser's handshake.
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    assert_eq!(stack.open(&s, forged, proof).await.err(), Some(401));
    // Another visitor's proof with my token: 403.
    let theirs = other["visitor_secret"].as_str().unwrap();
    assert_eq!(
        stack
            .open(&s, s["token"].as_str().unwrap(), theirs)
            .await
            .err(),
        Some(403)
    );
    assert!(stack.app.sockets.is_empty());
    // A socket that opens, then drops: $disconnect forgets it.
    let tab = stack.tab(&s).await;
    assert_eq!(stack.app.sockets.len(), 1);
    drop(tab);
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let left = stack
                .app
                .store
                .connections(stack.session(&s), jiff::Timestamp::now())
                .await
                .unwrap();
            if left.is_empty() && stack.app.sockets.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the closed socket is forgotten");
}
