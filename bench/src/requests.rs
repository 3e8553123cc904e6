//! Requests per operation (Creatio, DynamoDB) and the local stack's throughput, each measured by
//! running the real handler code against the stand-ins the tests use.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use casebridge::config::Config;
use casebridge::creatio::sync::SyncDeps;
use casebridge::domain::*;
use casebridge::store::dynamo::DynamoStore;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{Retention, StateChange, Store};
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::Timestamp;
use serde_json::json;

pub(crate) type Error = Box<dyn std::error::Error>;

/// The handoff function as deployed on the sandbox (the embedded rules assistant).
pub(crate) fn handoff_deps(sandbox: &Sandbox) -> Result<SyncDeps, Error> {
    let mut env = test_support::stack_env("https://cb.example.com", &sandbox.url);
    env.extend([
        ("WIDGET_SECRET", "bench-link-secret-0123456789abcdef"),
        ("CREATIO_TIMEOUT_SECONDS", "10"),
    ]);
    Ok(SyncDeps::from_config(&Config::from_source(&env)?)?)
}

pub(crate) fn text(t: &str) -> MessageText {
    MessageText::parse(t).unwrap_or_else(|_| MessageText::parse("…").expect("literal"))
}

/// A handed-off SMS session of `n` messages for `phone`.
pub(crate) async fn handed_off(store: &dyn Store, phone: &str, n: usize) -> Result<Session, Error> {
    let key = ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(phone, None)?),
        "+15557654321",
    );
    let (s, _) = store.find_or_open(&key, Timestamp::now()).await?;
    let batch = (0..n.saturating_sub(1))
        .map(|i| {
            let role = if i % 2 == 0 {
                Role::Customer
            } else {
                Role::Assistant
            };
            NewMessage::new(role, text(&format!("message {i} about order #A-10023")))
        })
        .collect();
    store.append(&s, batch, None, Timestamp::now()).await?;
    let s = store.session(s.id).await?.ok_or("session")?;
    store
        .append(
            &s,
            vec![NewMessage::new(
                Role::Assistant,
                text("A person will reply here."),
            )],
            Some(StateChange {
                transition: Transition::new(
                    SessionState::Assistant,
                    SessionState::HandoffRequested,
                )?,
                handoff_reason: Some("customer asked for a person".into()),
            }),
            Timestamp::now(),
        )
        .await?;
    Ok(store.session(s.id).await?.ok_or("session")?)
}

/// Creatio requests for handoffs of 10, 60 and 250 messages and for one follow-up.
pub async fn creatio() -> Result<Vec<(String, usize, &'static str)>, Error> {
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let deps = handoff_deps(&sandbox)?;
    let store = MemoryStore::new();
    // Sign in once (the token is cached per container) with a throwaway handoff.
    let warm = handed_off(&store, "+15551239999", 2).await?;
    casebridge::creatio::sync::sync_session(&store, &deps, warm.id).await?;
    let mut rows = Vec::new();
    let mut last = None;
    for (i, n) in [10usize, 60, 250].into_iter().enumerate() {
        let phone = format!("+1555123000{i}");
        let mut contact = serde_json::Map::new();
        contact.insert("Name".into(), json!(format!("Customer {i}")));
        contact.insert("MobilePhone".into(), json!(phone));
        sandbox.insert("Contact", contact);
        let s = handed_off(&store, &phone, n).await?;
        sandbox.clear_log();
        casebridge::creatio::sync::sync_session(&store, &deps, s.id).await?;
        let goal = if n == 60 { "≤ 3" } else { "" };
        rows.push((
            format!("handoff, {n} messages"),
            sandbox.api_requests(),
            goal,
        ));
        last = Some(s.id);
    }
    let id = last.ok_or("no session")?;
    let s = store.session(id).await?.ok_or("session")?;
    store
        .append(
            &s,
            vec![NewMessage::new(Role::Customer, text("any news?"))],
            None,
            Timestamp::now(),
        )
        .await?;
    sandbox.clear_log();
    casebridge::creatio::sync::sync_session(&store, &deps, id).await?;
    rows.push(("follow-up message".into(), sandbox.api_requests(), "1"));
    Ok(rows)
}

/// One measured operation: requests by kind (and `TransactWriteItems items`).
#[derive(Clone)]
pub struct Row {
    pub what: &'static str,
    pub counts: BTreeMap<String, usize>,
}

/// A counter key that counts requests (the others count items or bytes inside them).
pub(crate) fn is_request(key: &str) -> bool {
    !key.ends_with(" items") && !key.ends_with(" bytes")
}

impl Row {
    fn get(&self, k: &str) -> usize {
        self.counts.get(k).copied().unwrap_or(0)
    }

    pub fn requests(&self) -> usize {
        self.counts
            .iter()
            .filter(|(k, _)| is_request(k))
            .map(|(_, v)| v)
            .sum()
    }

    pub fn kinds(&self) -> String {
        self.counts
            .iter()
            .filter(|(k, _)| is_request(k))
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Estimated write request units (items under 1 KB).
    pub fn write_units(&self) -> f64 {
        2.0 * self.get("TransactWriteItems items") as f64
            + (self.get("PutItem") + self.get("UpdateItem") + self.get("DeleteItem")) as f64
    }

    /// Items the queries answered with.
    pub fn items_read(&self) -> usize {
        self.get("Query items")
    }

    /// Estimated read request units: strongly consistent, 1 per 4 KB; a `GetItem` or a batch
    /// read's key under 4 KB, a `Query` by the size of its answer (at least 1 each).
    pub fn read_units(&self) -> f64 {
        let query = self
            .get("Query")
            .max(self.get("Query bytes").div_ceil(4096));
        (self.get("GetItem") + query + self.get("BatchGetItem items")) as f64
    }
}

pub(crate) const TOKEN: &str = "bench-twilio-token";
pub(crate) const BASE: &str = "https://api.example.com";
pub(crate) const SECRET: &str = "bench-widget-secret-0123456789abcdef";
pub(crate) const SITE: &str = "https://shop.example.com";

pub(crate) fn sms_request(path: &str, params: &[(&str, &str)]) -> lambda_http::Request {
    test_support::requests::twilio(TOKEN, &format!("{BASE}{path}"), params)
}

pub(crate) fn widget_request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> lambda_http::Request {
    test_support::requests::widget(
        "198.51.100.7",
        SITE,
        method,
        &format!("{BASE}{path}"),
        token,
        body,
    )
}

pub(crate) use test_support::requests::json_of;

/// The widget function as deployed for the bench's site, with `extra` settings.
fn widget_deps(extra: &[(&str, &str)]) -> Result<widget_inbound::Deps, Error> {
    let mut settings = vec![("WIDGET_SECRET", SECRET), ("WIDGET_ALLOWED_ORIGINS", SITE)];
    settings.extend_from_slice(extra);
    Ok(widget_inbound::Deps::from_config(&test_support::config(
        &settings,
    ))?)
}

/// DynamoDB requests per operation, on moto.
pub async fn dynamodb(endpoint: &str) -> Result<Vec<Row>, Error> {
    let counter = test_support::RequestCounter::default();
    let client = counter.install(&casebridge::aws::local_dynamodb_client(endpoint));
    let table = format!("bench-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table).await?;
    let store = DynamoStore::new(client, table, Retention::default());
    let now: Timestamp = "2026-01-14T15:00:00Z".parse()?;
    let sms = sms_inbound::Deps::from_config(&test_support::config(&[
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_FROM", "+15557654321"),
        ("PUBLIC_BASE_URL", BASE),
    ]))?;
    let inbound = |sid: &'static str, body: &'static str| {
        sms_request(
            "/sms/inbound",
            &[
                ("MessageSid", sid),
                ("From", "+15551230001"),
                ("To", "+15557654321"),
                ("Body", body),
                ("NumMedia", "0"),
            ],
        )
    };
    let mut rows = Vec::new();
    sms_inbound::handle(&store, &sms, inbound("SMb0", "hi"), now).await;
    counter.take();
    sms_inbound::handle(
        &store,
        &sms,
        inbound("SMb1", "What is your return policy?"),
        now,
    )
    .await;
    rows.push(Row {
        what: "inbound SMS, answered by the assistant",
        counts: counter.take(),
    });
    sms_inbound::handle(
        &store,
        &sms,
        inbound("SMb1", "What is your return policy?"),
        now,
    )
    .await;
    rows.push(Row {
        what: "the same SMS redelivered by Twilio",
        counts: counter.take(),
    });
    // The reply's provider id is Twilio's; a status callback names it.
    let status = sms_request(
        "/sms/status",
        &[
            ("MessageSid", "SMb1-reply"),
            ("MessageStatus", "delivered"),
            ("To", "+15551230001"),
            ("From", "+15557654321"),
        ],
    );
    sms_inbound::handle(&store, &sms, status, now).await;
    rows.push(Row {
        what: "status callback",
        counts: counter.take(),
    });
    sms_inbound::handle(&store, &sms, inbound("SMb2", "agent please"), now).await;
    counter.take();
    sms_inbound::handle(&store, &sms, inbound("SMb3", "any news?"), now).await;
    rows.push(Row {
        what: "inbound SMS while an agent has the case",
        counts: counter.take(),
    });

    let widget = widget_deps(&[])?;
    let started = widget_inbound::handle(
        &store,
        &widget,
        widget_request("POST", "/widget/sessions", None, Some(json!({}))),
        now,
    )
    .await;
    rows.push(Row {
        what: "widget session start",
        counts: counter.take(),
    });
    let started = json_of(&started);
    let token = started["token"].as_str().unwrap_or_default().to_owned();
    let path = format!(
        "/widget/sessions/{}/messages",
        started["session_id"].as_str().unwrap_or_default()
    );
    widget_inbound::handle(
        &store,
        &widget,
        widget_request(
            "POST",
            &path,
            Some(&token),
            Some(json!({"text": "What is your return policy?", "client_id": "b1"})),
        ),
        now,
    )
    .await;
    rows.push(Row {
        what: "widget message, answered by the assistant",
        counts: counter.take(),
    });
    widget_inbound::handle(
        &store,
        &widget,
        widget_request("GET", &format!("{path}?after=2"), Some(&token), None),
        now,
    )
    .await;
    rows.push(Row {
        what: "widget poll, nothing new",
        counts: counter.take(),
    });
    // The push path: a socket opened and closed, and the read every stored message pays to
    // find the session's sockets (the post itself is API Gateway's, not DynamoDB's).
    let socket = |route: &str, query| {
        test_support::requests::widget_socket(
            route,
            "YmVuY2gtc29ja2V0",
            "198.51.100.7",
            SITE,
            query,
        )
    };
    let expires = now.as_second() + 240;
    let proof =
        casebridge::domain::SessionId::parse(started["session_id"].as_str().unwrap_or_default())
            .map(|id| {
                casebridge::widget::auth::socket_proof(
                    started["visitor_secret"].as_str().unwrap_or_default(),
                    id,
                    expires,
                )
            })
            .unwrap_or_default();
    let open = json!({"session": started["session_id"], "token": token, "expires": expires.to_string(), "proof": proof});
    widget_inbound::handle(&store, &widget, socket("$connect", Some(open)), now).await;
    rows.push(Row {
        what: "widget socket $connect",
        counts: counter.take(),
    });
    if let Ok(id) =
        casebridge::domain::SessionId::parse(started["session_id"].as_str().unwrap_or_default())
    {
        store.connections(id, now).await?;
    }
    rows.push(Row {
        what: "widget push, the session's sockets read",
        counts: counter.take(),
    });
    widget_inbound::handle(&store, &widget, socket("$disconnect", None), now).await;
    rows.push(Row {
        what: "widget socket $disconnect",
        counts: counter.take(),
    });
    widget_inbound::handle(
        &store,
        &widget,
        widget_request(
            "POST",
            &path,
            Some(&token),
            Some(json!({"text": "agent please", "client_id": "b2"})),
        ),
        now,
    )
    .await;
    counter.take();
    widget_inbound::handle(
        &store,
        &widget,
        widget_request(
            "POST",
            &path,
            Some(&token),
            Some(json!({"text": "any news?", "client_id": "b3"})),
        ),
        now,
    )
    .await;
    rows.push(Row {
        what: "widget message while an agent has the case",
        counts: counter.take(),
    });
    rows.extend(long_conversation(&store, &counter, now).await?);
    Ok(rows)
}

/// The first and the 500th message of a widget conversation: the assistant reads a bounded
/// window of the transcript, so both cost the same requests and read the same items.
async fn long_conversation(
    store: &DynamoStore,
    counter: &test_support::RequestCounter,
    now: Timestamp,
) -> Result<Vec<Row>, Error> {
    let widget = widget_deps(&[
        ("WIDGET_MAX_MESSAGES", "1000"),
        ("WIDGET_MAX_BYTES", "1000000"),
    ])?;
    let start = || widget_request("POST", "/widget/sessions", None, Some(json!({})));
    let ask = |started: &serde_json::Value, client_id: &str| {
        let path = format!(
            "/widget/sessions/{}/messages",
            started["session_id"].as_str().unwrap_or_default()
        );
        widget_request(
            "POST",
            &path,
            started["token"].as_str(),
            Some(json!({"text": "What is your return policy?", "client_id": client_id})),
        )
    };
    let mut rows = Vec::new();
    let fresh = json_of(&widget_inbound::handle(store, &widget, start(), now).await);
    counter.take();
    widget_inbound::handle(store, &widget, ask(&fresh, "first"), now).await;
    rows.push(Row {
        what: "widget message, the conversation's 1st",
        counts: counter.take(),
    });
    // A conversation of 498 messages (each about 150 bytes), written straight to the store.
    let long = json_of(&widget_inbound::handle(store, &widget, start(), now).await);
    let id = SessionId::parse(long["session_id"].as_str().unwrap_or_default())
        .map_err(|_| "session id")?;
    test_support::fixtures::earlier_messages(store, id, 498, now).await?;
    counter.take();
    widget_inbound::handle(store, &widget, ask(&long, "late"), now).await;
    rows.push(Row {
        what: "widget message, the conversation's 500th",
        counts: counter.take(),
    });
    Ok(rows)
}

/// Widget messages per second through the local stack's HTTP router on loopback.
pub async fn throughput(visitors: usize, for_how_long: Duration) -> Result<(usize, f64), Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let env: HashMap<&str, &str> = HashMap::from([
        ("PUBLIC_BASE_URL", base.as_str()),
        ("WIDGET_SECRET", SECRET),
        ("WIDGET_ALLOWED_ORIGINS", base.as_str()),
        // Throughput, not the limits: every visitor comes from 127.0.0.1 and talks for the
        // whole run, which the defaults (20 new conversations an hour per address, 200
        // messages a conversation) would stop after 2,000 answers.
        ("WIDGET_SESSIONS_PER_HOUR", "1000000"),
        ("WIDGET_MAX_MESSAGES", "1000000000"),
        ("WIDGET_MAX_BYTES", "1000000000000"),
    ]);
    let app = Arc::new(casebridge_local::App::new(
        Arc::new(MemoryStore::new()),
        Config::from_source(&env)?,
    ));
    tokio::spawn(async move { casebridge_local::serve(listener, app).await });
    let http = reqwest::Client::new();
    let mut sessions = Vec::new();
    for _ in 0..visitors {
        let b: serde_json::Value = http
            .post(format!("{base}/widget/sessions"))
            .header("origin", &base)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        sessions.push((
            b["session_id"].as_str().unwrap_or_default().to_owned(),
            b["token"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = sessions
        .into_iter()
        .map(|(id, token)| {
            let (http, base, done) = (http.clone(), base.clone(), done.clone());
            tokio::spawn(async move {
                let url = format!("{base}/widget/sessions/{id}/messages");
                while start.elapsed() < for_how_long {
                    let ok = http
                        .post(&url)
                        .header("origin", &base)
                        .bearer_auth(&token)
                        .json(&json!({"text": "What is your return policy?"}))
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 200);
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ok((done.load(Ordering::Relaxed), start.elapsed().as_secs_f64()))
}
