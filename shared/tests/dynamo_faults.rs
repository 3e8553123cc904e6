//! DynamoDB under throttling: a proxy in front of moto answers some requests as DynamoDB does
//! when a table is throttled (HTTP 400, `ProvisionedThroughputExceededException`, the JSON
//! protocol's error body) and passes the rest through. A throttled request was not applied, so
//! retrying it is safe: the SDK's standard retry does, and the store's operations succeed. When
//! every attempt is throttled, the error reaches the caller as transient (the functions answer
//! 503, so Twilio or the stream tries again later) rather than as a lost message.
//!
//! Needs `AWS_ENDPOINT_URL_DYNAMODB` (moto; `scripts/test` starts it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use casebridge::domain::*;
use casebridge::store::dynamo::DynamoStore;
use casebridge::store::{Consent, Retention, Store, StoreError};
use jiff::Timestamp;

struct Proxy {
    moto: String,
    http: reqwest::Client,
    /// Throttle every request whose number modulo `every` is 0 (`every` = 1: all of them).
    every: AtomicUsize,
    seen: AtomicUsize,
    throttled: AtomicUsize,
    /// Answer every `BatchGetItem` as DynamoDB does when it read none of the keys: HTTP 200,
    /// nothing in `Responses`, every requested key back in `UnprocessedKeys`.
    unprocess_batches: std::sync::atomic::AtomicBool,
    /// Apply this many `TransactWriteItems` and lose their answers (HTTP 500, which the SDK
    /// retries): a write that landed while the caller never heard back.
    lose_transaction_answers: AtomicUsize,
}

async fn relay(State(p): State<Arc<Proxy>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = p.seen.fetch_add(1, Ordering::SeqCst) + 1;
    let every = p.every.load(Ordering::SeqCst);
    if every > 0 && n % every == 0 {
        p.throttled.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::BAD_REQUEST,
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-requestid", "THROTTLED0000000000000000000000000000000000000000000"),
            ],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."}"#,
        )
            .into_response();
    }
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if p.unprocess_batches.load(Ordering::SeqCst) && target.ends_with(".BatchGetItem") {
        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let tables = request["RequestItems"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let responses: serde_json::Map<String, serde_json::Value> = tables
            .keys()
            .map(|t| (t.clone(), serde_json::json!([])))
            .collect();
        return (
            StatusCode::OK,
            [("content-type", "application/x-amz-json-1.0")],
            serde_json::json!({"Responses": responses, "UnprocessedKeys": tables}).to_string(),
        )
            .into_response();
    }
    let lose = target.ends_with(".TransactWriteItems")
        && p.lose_transaction_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let mut req = p.http.post(&p.moto).body(body);
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    match req.send().await {
        Ok(_) if lose => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/x-amz-json-1.0")],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#,
        )
            .into_response(),
        Ok(r) => {
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/x-amz-json-1.0")
                .to_owned();
            let body = r.bytes().await.unwrap_or_default();
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
                [("content-type", ct)],
                body,
            )
                .into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

async fn setup() -> Option<(Arc<Proxy>, DynamoStore)> {
    let moto = test_support::moto::endpoint()?;
    let table = test_support::moto::table_name("faults");
    DynamoStore::create_table(&casebridge::aws::local_dynamodb_client(&moto), &table)
        .await
        .unwrap();
    let proxy = Arc::new(Proxy {
        moto,
        http: casebridge::http::client(std::time::Duration::from_secs(10)).unwrap(),
        every: AtomicUsize::new(0),
        seen: AtomicUsize::new(0),
        throttled: AtomicUsize::new(0),
        unprocess_batches: std::sync::atomic::AtomicBool::new(false),
        lose_transaction_answers: AtomicUsize::new(0),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(relay)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = casebridge::aws::local_dynamodb_client(&url);
    Some((proxy, DynamoStore::new(client, table, Retention::default())))
}

fn key() -> ConversationKey {
    ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse("+15551230001", None).unwrap()),
        "+15557654321",
    )
}

fn msg(i: usize) -> NewMessage {
    NewMessage::new(
        Role::Customer,
        MessageText::parse(&format!("message {i}")).unwrap(),
    )
    .with_provider_id(ProviderMessageId::parse(&format!("SM{i:04}")).unwrap())
}

#[tokio::test]
async fn throttled_requests_are_retried_and_nothing_is_lost_or_doubled() {
    let Some((proxy, store)) = setup().await else {
        return;
    };
    // GIVEN every third request throttled
    proxy.every.store(3, Ordering::SeqCst);
    // WHEN a conversation of 20 messages is stored, each delivered twice
    let (mut session, _) = store.find_or_open(&key(), Timestamp::now()).await.unwrap();
    for i in 0..20 {
        for _ in 0..2 {
            let appended = store
                .append(&session, vec![msg(i)], None, Timestamp::now())
                .await;
            let appended = appended.expect("a throttled request is retried by the SDK");
            if let casebridge::store::Appended::Stored { session: s, .. } = appended {
                session = *s;
            }
        }
    }
    // THEN every message is there once, in order
    let (_, transcript) = store.transcript(session.id).await.unwrap().unwrap();
    let texts: Vec<&str> = transcript.iter().map(|m| m.text.as_str()).collect();
    let want: Vec<String> = (0..20).map(|i| format!("message {i}")).collect();
    assert_eq!(texts, want);
    assert_eq!(
        transcript.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<u64>>()
    );
    let throttled = proxy.throttled.load(Ordering::SeqCst);
    assert!(throttled >= 20, "the proxy throttled {throttled} requests");
    eprintln!(
        "{} requests, {throttled} throttled, all retried",
        proxy.seen.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn keys_a_batch_read_leaves_unprocessed_are_read_one_by_one() {
    let Some((proxy, store)) = setup().await else {
        return;
    };
    // GIVEN a conversation with a message, whose customer opted out
    let (session, _) = store.find_or_open(&key(), Timestamp::now()).await.unwrap();
    store
        .append(&session, vec![msg(1)], None, Timestamp::now())
        .await
        .unwrap();
    let since: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
    store
        .set_consent(&key().customer, Consent::OptedOut { since }, since)
        .await
        .unwrap();
    // WHEN DynamoDB processes none of a batch read's keys
    proxy.unprocess_batches.store(true, Ordering::SeqCst);
    let turn = store.open_turn(&key(), Timestamp::now()).await.unwrap();
    // THEN the turn still finds the session (not a new one), its message and the opt-out
    assert!(!turn.opened);
    assert_eq!(turn.session.id, session.id);
    assert_eq!(turn.transcript.len(), 1);
    assert_eq!(turn.consent, Consent::OptedOut { since });
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_surfaces_as_transient() {
    let Some((proxy, store)) = setup().await else {
        return;
    };
    let (session, _) = store.find_or_open(&key(), Timestamp::now()).await.unwrap();
    // GIVEN every request throttled
    proxy.every.store(1, Ordering::SeqCst);
    let before = proxy.seen.load(Ordering::SeqCst);
    // WHEN a message is appended
    let err = store
        .append(&session, vec![msg(1)], None, Timestamp::now())
        .await
        .unwrap_err();
    // THEN the SDK tried more than once, and the error says "try again later"
    assert!(proxy.seen.load(Ordering::SeqCst) - before >= 2, "retried");
    assert!(
        matches!(&err, StoreError::Backend { retryable: true, message } if message.contains("ProvisionedThroughputExceeded")),
        "{err:?}"
    );
    assert!(err.is_transient());
    // AND once the throttling ends, the same append goes through once
    proxy.every.store(0, Ordering::SeqCst);
    store
        .append(&session, vec![msg(1)], None, Timestamp::now())
        .await
        .unwrap();
    let (_, transcript) = store.transcript(session.id).await.unwrap().unwrap();
    assert_eq!(transcript.len(), 1);
}

#[tokio::test]
async fn a_write_that_landed_although_its_answer_was_lost_is_not_written_twice() {
    let Some((proxy, store)) = setup().await else {
        return;
    };
    let (mut session, _) = store.find_or_open(&key(), Timestamp::now()).await.unwrap();
    for (i, lost) in [(1, false), (2, true), (3, true), (4, false)] {
        // GIVEN DynamoDB applies the append but its answer never arrives (the SDK retries it,
        // and the retry finds the seq already taken)
        if lost {
            proxy.lose_transaction_answers.store(1, Ordering::SeqCst);
        }
        // A note without a provider id: nothing else would tell the retry it is a duplicate.
        let note = NewMessage::new(
            Role::System,
            MessageText::parse(&format!("note {i}")).unwrap(),
        );
        let appended = store
            .append(&session, vec![note], None, Timestamp::now())
            .await
            .unwrap();
        // THEN the append reports its own write, with the seq it got
        let casebridge::store::Appended::Stored {
            session: s,
            messages,
        } = appended
        else {
            panic!("stored expected");
        };
        assert_eq!(messages[0].seq, i);
        session = *s;
    }
    assert_eq!(proxy.lose_transaction_answers.load(Ordering::SeqCst), 0);
    // AND every note is there once, in order
    let (s, transcript) = store.transcript(session.id).await.unwrap().unwrap();
    let texts: Vec<&str> = transcript.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["note 1", "note 2", "note 3", "note 4"]);
    assert_eq!(s.last_seq, 4);
}
