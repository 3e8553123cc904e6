//! The WebSocket API's events as API Gateway sends them (the shape of AWS's documented `$connect`
//! and `$disconnect` events, read by `lambda_http` as the Lambda runtime reads them): a socket
//! opens only with the session's token and a fresh socket proof from its visitor's secret, within
//! the limits, and is forgotten on `$disconnect`.

mod helpers;

use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use casebridge::widget::auth::{issue_session_token, socket_proof};
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

/// What the widget puts in the socket's URL: the token, and a proof computed from the visitor
/// secret that expires in four minutes.
fn open_query(s: &Value) -> Value {
    let expires = now().as_second() + 240;
    json!({
        "session": s["session_id"],
        "token": s["token"],
        "expires": expires.to_string(),
        "proof": socket_proof(s["visitor_secret"].as_str().unwrap(), session_id(s), expires),
    })
}

/// `$connect` of `connection` for the visitor of `s`, as the widget opens it, on `deps`.
async fn open_with(
    store: &dyn Store,
    deps: &widget_inbound::Deps,
    connection: &str,
    s: &Value,
) -> (u16, Value, lambda_http::Response<lambda_http::Body>) {
    call_with(
        store,
        deps,
        event("$connect", connection, Some(open_query(s)), SITE),
    )
    .await
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
    let in_4_min = now().as_second() + 240;
    let proof_of = |s: &Value, session: &Value, expires: i64| {
        let session = casebridge::domain::SessionId::parse(session.as_str().unwrap()).unwrap();
        json!(socket_proof(
            s["visitor_secret"].as_str().unwrap(),
            session,
            expires
        ))
    };
    let with = |token: &Value, proof: Value, expires: i64| json!({"session": mine["session_id"], "token": token, "expires": expires.to_string(), "proof": proof});
    let (mine_id, theirs_id) = (&mine["session_id"], &theirs["session_id"]);
    let (past, hours) = (now().as_second() - 60, now().as_second() + 7200);
    let cases = [
        ("no token or proof", json!({"session": mine_id}), 401),
        (
            "a forged token",
            with(&json!(forged), proof_of(&mine, mine_id, in_4_min), in_4_min),
            401,
        ),
        (
            "an expired token",
            with(
                &json!(expired),
                proof_of(&mine, mine_id, in_4_min),
                in_4_min,
            ),
            401,
        ),
        // another visitor's token for their own session, on mine
        (
            "another session's token",
            with(
                &theirs["token"],
                proof_of(&theirs, mine_id, in_4_min),
                in_4_min,
            ),
            403,
        ),
        // my token with another visitor's proof (a token seen in a log, without its proof)
        (
            "another visitor's proof",
            with(
                &mine["token"],
                proof_of(&theirs, mine_id, in_4_min),
                in_4_min,
            ),
            403,
        ),
        // my proof for my other session, one that expired, one valid for hours
        (
            "a proof for another session",
            with(
                &mine["token"],
                proof_of(&mine, theirs_id, in_4_min),
                in_4_min,
            ),
            403,
        ),
        (
            "a proof that expired",
            with(&mine["token"], proof_of(&mine, mine_id, past), past),
            403,
        ),
        (
            "a proof valid for hours",
            with(&mine["token"], proof_of(&mine, mine_id, hours), hours),
            403,
        ),
        // the visitor secret itself never goes in a URL, and is no socket proof
        (
            "the visitor secret",
            with(&mine["token"], mine["visitor_secret"].clone(), in_4_min),
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
        let (status, b, _) = open_with(&store, &deps, &format!("tab{i}="), &s).await;
        assert_eq!(status, 200, "tab {i}: {b}");
    }
    // THEN one more tab than the conversation may hold is refused, and says why
    let (status, b, _) = open_with(&store, &deps, "tab9=", &s).await;
    assert_eq!(status, 429, "{b}");
    assert!(b["error"].as_str().unwrap().contains("sockets open"), "{b}");
    // AND the refused tab used none of the address's allowance: 5 of 7 are used, two more open,
    // and past the hour's allowance even another conversation's socket is refused
    let other = start(&store, json!({})).await;
    for c in ["o1=", "o2="] {
        let (status, _, _) = open_with(&store, &deps, c, &other).await;
        assert_eq!(status, 200, "{c}");
    }
    let (status, _, r) = open_with(&store, &deps, "o3=", &other).await;
    assert_eq!(status, 429);
    assert!(r.headers().get("retry-after").is_some());
}
