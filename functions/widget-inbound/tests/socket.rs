//! The WebSocket API's events as API Gateway sends them (the shape of AWS's documented `$connect`
//! and `$disconnect` events, read by `lambda_http` as the Lambda runtime reads them): a socket
//! opens only with the session's token and its visitor's proof, within the limits, and is
//! forgotten on `$disconnect`.

mod helpers;

use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use casebridge::widget::auth::issue_session_token;
use casebridge::widget::socket::ConnectionId;
use helpers::*;
use serde_json::{Value, json};

/// `$connect` or `$disconnect` for `connection`, as API Gateway invokes the integration.
fn event(
    route: &str,
    connection: &str,
    query: Option<Value>,
    origin: &str,
) -> lambda_http::Request {
    test_support::requests::widget_socket(route, connection, CLIENT, origin, query)
}

fn open_query(s: &Value) -> Value {
    json!({"session": s["session_id"], "token": s["token"], "proof": s["visitor_secret"]})
}

async fn sockets_of(store: &dyn Store, s: &Value) -> Vec<ConnectionId> {
    store.connections(session_id(s), now()).await.unwrap()
}

#[tokio::test]
async fn a_socket_opens_with_the_token_and_the_proof_and_closes_on_disconnect() {
    // GIVEN a visitor's conversation
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    // WHEN API Gateway calls $connect with the session, its token and the visitor's proof
    let (status, b, _) = call(
        &store,
        event("$connect", "L0SM9cOFvHcCIhw=", Some(open_query(&s)), SITE),
    )
    .await;
    // THEN the socket is accepted and recorded for the session
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        sockets_of(&store, &s).await,
        [ConnectionId::parse("L0SM9cOFvHcCIhw=").unwrap()]
    );
    // AND $disconnect, which names only the connection, forgets it
    let (status, _, _) = call(&store, event("$disconnect", "L0SM9cOFvHcCIhw=", None, SITE)).await;
    assert_eq!(status, 200);
    assert!(sockets_of(&store, &s).await.is_empty());
}

#[tokio::test]
async fn a_forged_expired_or_other_visitors_token_opens_no_socket() {
    let store = MemoryStore::new();
    let mine = start(&store, json!({})).await;
    let theirs = start(&store, json!({})).await;
    let visitor =
        casebridge::domain::VisitorId::parse(mine["visitor_id"].as_str().unwrap()).unwrap();
    let expired = issue_session_token(
        SECRET.as_bytes(),
        session_id(&mine),
        &visitor,
        now() - jiff::SignedDuration::from_hours(13),
    );
    let forged = issue_session_token(
        b"not-the-widget-secret-0123456789abcdef",
        session_id(&mine),
        &visitor,
        now(),
    );
    let with = |token: &Value, proof: &Value| json!({"session": mine["session_id"], "token": token, "proof": proof});
    let cases = [
        (
            "no token or proof",
            json!({"session": mine["session_id"]}),
            401,
        ),
        (
            "a forged token",
            with(&json!(forged), &mine["visitor_secret"]),
            401,
        ),
        (
            "an expired token",
            with(&json!(expired), &mine["visitor_secret"]),
            401,
        ),
        // another visitor's token for their own session, on mine
        (
            "another session's token",
            with(&theirs["token"], &theirs["visitor_secret"]),
            403,
        ),
        // my token with another visitor's proof (a token seen in a log, without its proof)
        (
            "another visitor's proof",
            with(&mine["token"], &theirs["visitor_secret"]),
            403,
        ),
    ];
    for (i, (what, query, expected)) in cases.into_iter().enumerate() {
        let (status, b, _) = call(
            &store,
            event("$connect", &format!("conn{i}="), Some(query), SITE),
        )
        .await;
        assert_eq!(status, expected, "{what}: {b}");
    }
    // AND a page on another site, with the right token, is refused by its origin
    let (status, _, _) = call(
        &store,
        event(
            "$connect",
            "conn9=",
            Some(open_query(&mine)),
            "https://evil.example",
        ),
    )
    .await;
    assert_eq!(status, 403);
    assert!(sockets_of(&store, &mine).await.is_empty());
}

#[tokio::test]
async fn sockets_are_limited_per_conversation_and_per_address() {
    // GIVEN a conversation, and a deployment allowing 7 sockets an hour per address
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    let mut deps = deps();
    deps.widget.limits.sockets_per_hour = 7;
    let per_session = deps.widget.limits.sockets_per_session;
    // WHEN the visitor opens tabs
    for i in 0..per_session {
        let (status, b, _) = call_with(
            &store,
            &deps,
            event("$connect", &format!("tab{i}="), Some(open_query(&s)), SITE),
        )
        .await;
        assert_eq!(status, 200, "tab {i}: {b}");
    }
    // THEN one more tab than the conversation may hold is refused, and says why
    let (status, b, _) = call_with(
        &store,
        &deps,
        event("$connect", "tab9=", Some(open_query(&s)), SITE),
    )
    .await;
    assert_eq!(status, 429, "{b}");
    assert!(b["error"].as_str().unwrap().contains("sockets open"), "{b}");
    // AND past the address's hourly allowance, even another conversation's socket is refused
    let other = start(&store, json!({})).await;
    let (status, _, _) = call_with(
        &store,
        &deps,
        event("$connect", "o1=", Some(open_query(&other)), SITE),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, r) = call_with(
        &store,
        &deps,
        event("$connect", "o2=", Some(open_query(&other)), SITE),
    )
    .await;
    assert_eq!(status, 429);
    assert!(r.headers().get("retry-after").is_some());
}
