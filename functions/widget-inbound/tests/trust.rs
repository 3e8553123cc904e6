//! A visitor's conversation belongs to that visitor alone: resuming needs the issued id and its
//! secret, message ids are scoped to their session, every limit answers 429 before anything is
//! stored, identity tokens are held to their times, audience and issuer, and pages and errors
//! give nothing away. Each test here fails without the fix it names.

mod helpers;

use casebridge::domain::*;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{Store, TRANSCRIPT_WINDOW};
use helpers::*;
use lambda_http::Body;
use serde_json::{Value, json};
use widget_inbound::Deps;

async fn say(
    store: &dyn Store,
    deps: &Deps,
    s: &Value,
    text: &str,
    client_id: &str,
) -> (u16, Value) {
    let (status, b, _) = call_with(
        store,
        deps,
        req(
            "POST",
            &messages_path(s),
            s["token"].as_str(),
            Some(json!({"text": text, "client_id": client_id})),
        ),
    )
    .await;
    (status, b)
}

// ---- resume needs proof -------------------------------------------------------------------------

#[tokio::test]
async fn a_second_client_with_a_known_visitor_id_gets_neither_the_session_nor_its_history() {
    let store = MemoryStore::new();
    // GIVEN a visitor who chatted and got a reply from an agent
    let owner = start(&store, json!({})).await;
    let (status, _) = say(&store, &deps(), &owner, "my card ends 4242", "c1").await;
    assert_eq!(status, 200);
    let id = session_id(&owner);
    agent_reply(&store, id, "Your refund is on its way").await;
    let sessions = store.all_sessions().len();
    // WHEN someone who learnt the visitor id presents it, without the secret or with a wrong one
    let visitor = owner["visitor_id"].as_str().unwrap();
    for (what, body) in [
        ("no secret", json!({"visitor_id": visitor})),
        (
            "a wrong secret",
            json!({"visitor_id": visitor, "visitor_secret": "guess"}),
        ),
        (
            "another visitor's secret",
            json!({"visitor_id": visitor, "visitor_secret": start(&store, json!({})).await["visitor_secret"]}),
        ),
    ] {
        let before = store.all_sessions().len();
        let (status, b, _) = call(&store, req("POST", "/widget/sessions", None, Some(body))).await;
        // THEN they are refused with no token, no session and no messages
        assert_eq!(status, 401, "{what}: {b}");
        assert!(
            b.get("token").is_none() && b.get("messages").is_none(),
            "{what}: {b}"
        );
        assert_eq!(store.all_sessions().len(), before, "{what}");
    }
    assert_eq!(
        store.all_sessions().len(),
        sessions + 1,
        "only the probe's own start"
    );
    // AND the visitor with both resumes the conversation and its history
    let back = start(&store, resume(&owner)).await;
    assert_eq!(back["session_id"], owner["session_id"]);
    let texts: Vec<&str> = back["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert!(texts.contains(&"Your refund is on its way"), "{texts:?}");
}

#[tokio::test]
async fn a_visitor_id_the_server_did_not_issue_is_a_clear_400() {
    let store = MemoryStore::new();
    for id in [
        "weakid01",
        "device-phone-1",
        &"A".repeat(64),
        &"a".repeat(32),
        "",
    ] {
        let (status, b, _) = call(
            &store,
            req(
                "POST",
                "/widget/sessions",
                None,
                Some(json!({"visitor_id": id, "visitor_secret": "x"})),
            ),
        )
        .await;
        assert_eq!(status, 400, "{id}: {b}");
        assert!(
            b["error"].as_str().unwrap().starts_with("visitor_id"),
            "{b}"
        );
    }
    assert!(store.all_sessions().is_empty());
}

#[tokio::test]
async fn the_visitor_id_and_its_secret_never_reach_the_transcript_page_or_the_case() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    say(
        &store,
        &deps(),
        &s,
        "I need a person please, order A-9",
        "c1",
    )
    .await;
    let (visitor, secret) = (
        s["visitor_id"].as_str().unwrap(),
        s["visitor_secret"].as_str().unwrap(),
    );
    let id = session_id(&s);
    let sig = casebridge::widget::links::transcript_signature(SECRET.as_bytes(), id);
    let (status, page, resp) = call(
        &store,
        req("GET", &format!("/transcripts/{id}?sig={sig}"), None, None),
    )
    .await;
    assert_eq!(status, 200);
    let html = page.as_str().unwrap();
    assert!(!html.contains(visitor) && !html.contains(secret));
    // What the case and the contact show is the label, which does not lead back to the id.
    let session = store.session(id).await.unwrap().unwrap();
    let shown = session.key.customer.masked();
    assert!(
        shown.starts_with("visitor ") && !visitor.contains(&shown[8..]),
        "{shown}"
    );
    assert!(
        html.contains(&shown),
        "the page names the visitor by the label"
    );
    // AND the page cannot be framed, sniffed or leak its signed address
    let h = resp.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

// ---- dedupe per session -------------------------------------------------------------------------

#[tokio::test]
async fn two_sessions_with_the_same_client_id_both_store_their_message() {
    let store = MemoryStore::new();
    // GIVEN two visitors whose widgets chose the same client_id
    let a = start(&store, json!({})).await;
    let b = start(&store, json!({})).await;
    // WHEN both send a message with it
    let (sa, ra) = say(&store, &deps(), &a, "where is my parcel", "w-1").await;
    let (sb, rb) = say(&store, &deps(), &b, "do you ship to Canada", "w-1").await;
    // THEN both are stored and answered
    assert_eq!((sa, sb), (200, 200));
    assert_eq!(ra["messages"][0]["text"], "where is my parcel");
    assert_eq!(rb["messages"][0]["text"], "do you ship to Canada");
    for (s, text) in [(&a, "where is my parcel"), (&b, "do you ship to Canada")] {
        let (_, t) = store.transcript(session_id(s)).await.unwrap().unwrap();
        assert!(
            t.iter().any(|m| m.text.as_str() == text),
            "{text} was dropped"
        );
    }
    // AND a retry within one session is still stored once
    say(&store, &deps(), &a, "where is my parcel", "w-1").await;
    let (_, t) = store.transcript(session_id(&a)).await.unwrap().unwrap();
    assert_eq!(t.iter().filter(|m| m.role == Role::Customer).count(), 1);
}

// ---- limits -------------------------------------------------------------------------------------

#[tokio::test]
async fn a_conversation_past_its_limits_answers_429_and_stores_nothing() {
    let store = MemoryStore::new();
    let mut d = deps();
    d.widget.limits.max_messages = 6;
    d.widget.limits.max_bytes = 60;
    // GIVEN a conversation with room for two more exchanges of text
    let s = start_with(&store, &d, json!({})).await;
    assert_eq!(
        say(&store, &d, &s, "What is your return policy?", "1")
            .await
            .0,
        200
    );
    // WHEN a message would go past the bytes allowed
    let (status, b) = say(&store, &d, &s, &"x".repeat(40), "2").await;
    // THEN 429 naming the limit, without Retry-After (waiting does not help), and nothing stored
    assert_eq!(status, 429, "{b}");
    assert!(b["error"].as_str().unwrap().contains("60 bytes"), "{b}");
    assert_eq!(stored_len(&store, session_id(&s)).await, 2);
    // AND past the number of messages likewise
    assert_eq!(say(&store, &d, &s, "Do you ship abroad?", "3").await.0, 200);
    assert_eq!(say(&store, &d, &s, "ok", "4").await.0, 200);
    let (status, b) = say(&store, &d, &s, "thanks", "5").await;
    assert_eq!(status, 429, "{b}");
    assert!(b["error"].as_str().unwrap().contains("6 messages"), "{b}");
    assert_eq!(stored_len(&store, session_id(&s)).await, 6);
}

#[tokio::test]
async fn new_conversations_from_one_address_are_limited_with_retry_after() {
    let store = MemoryStore::new();
    let mut d = deps();
    d.widget.limits.sessions_per_hour = 2;
    let start_from = |ip: &'static str| {
        let (store, d) = (&store, &d);
        async move {
            handle_at(
                store,
                d,
                req_from(ip, "POST", "/widget/sessions", None, Some(json!({}))),
            )
            .await
        }
    };
    // GIVEN two conversations started from one address
    assert_eq!(start_from("203.0.113.5").await.status(), 200);
    assert_eq!(start_from("203.0.113.5").await.status(), 200);
    // WHEN a third is asked for from it
    let r = start_from("203.0.113.5").await;
    // THEN 429 with Retry-After, and no session
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(store.all_sessions().len(), 2);
    // AND another address is not held back
    assert_eq!(start_from("203.0.113.6").await.status(), 200);
}

async fn handle_at(
    store: &MemoryStore,
    d: &Deps,
    r: lambda_http::Request,
) -> lambda_http::Response<Body> {
    widget_inbound::handle(store, d, r, now()).await
}

#[tokio::test]
async fn handoffs_from_one_address_are_limited_and_a_refused_one_stores_nothing() {
    let store = MemoryStore::new();
    let mut d = deps();
    d.widget.limits.handoffs_per_day = 1;
    // GIVEN a visitor from one address who was handed to a person
    let a = start_with(&store, &d, json!({})).await;
    let (_, b) = say(&store, &d, &a, "can I talk to a human", "1").await;
    assert_eq!(b["state"], "handoff_requested");
    // WHEN a second conversation from that address asks for a person
    let other = start_with(&store, &d, json!({})).await;
    let r = handle_at(
        &store,
        &d,
        req(
            "POST",
            &messages_path(&other),
            other["token"].as_str(),
            Some(json!({"text": "let me speak to an agent", "client_id": "1"})),
        ),
    )
    .await;
    // THEN 429 with Retry-After, and the conversation is as it was
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let (s, t) = store.transcript(session_id(&other)).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::Assistant);
    assert!(t.is_empty(), "{t:?}");
    // AND a question the assistant answers still goes through
    assert_eq!(
        say(&store, &d, &other, "What is your return policy?", "2")
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_poll_answers_one_bounded_page() {
    let store = MemoryStore::new();
    let d = deps();
    let s = start(&store, json!({})).await;
    let id = session_id(&s);
    // GIVEN 120 agent messages waiting
    for chunk in 0..6 {
        let session = store.session(id).await.unwrap().unwrap();
        let batch = (0..20)
            .map(|i| {
                NewMessage::new(
                    Role::Agent,
                    MessageText::parse(&format!("update {}", chunk * 20 + i)).unwrap(),
                )
            })
            .collect();
        store.append(&session, batch, None, now()).await.unwrap();
    }
    // WHEN the widget polls from the start
    let (_, b, _) = call(
        &store,
        req(
            "GET",
            &format!("{}?after=0", messages_path(&s)),
            s["token"].as_str(),
            None,
        ),
    )
    .await;
    // THEN it gets one page and is told there is more
    let page = d.widget.limits.poll_page;
    assert_eq!(b["messages"].as_array().unwrap().len(), page);
    assert_eq!(b["more"], true);
    let last = b["last_seq"].as_u64().unwrap();
    assert_eq!(last, page as u64);
    // AND the last page says there is no more
    let (_, b, _) = call(
        &store,
        req(
            "GET",
            &format!("{}?after=100", messages_path(&s)),
            s["token"].as_str(),
            None,
        ),
    )
    .await;
    assert_eq!(
        (b["messages"].as_array().unwrap().len(), &b["more"]),
        (20, &json!(false))
    );
}

#[tokio::test]
async fn the_500th_message_costs_what_the_first_costs() {
    let Some((store, counter)) = test_support::moto::counted_store("widget-long").await else {
        return;
    };
    let mut d = deps();
    d.widget.limits.max_messages = 1000;
    d.widget.limits.max_bytes = 1_000_000;
    let question = "What is your return policy?";
    // GIVEN a new conversation: the cost of its first message
    let fresh = start_with(&store, &d, json!({})).await;
    counter.take();
    assert_eq!(say(&store, &d, &fresh, question, "first").await.0, 200);
    let first = counter.take();
    // AND a conversation 498 messages long
    let long = start_with(&store, &d, json!({})).await;
    let id = session_id(&long);
    test_support::fixtures::earlier_messages(&store, id, 498, now())
        .await
        .unwrap();
    assert_eq!(store.session(id).await.unwrap().unwrap().last_seq, 498);
    counter.take();
    // WHEN its 499th message is answered (the 500th)
    let (status, b) = say(&store, &d, &long, question, "late").await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["last_seq"], 500);
    let late = counter.take();
    // THEN it took the same requests as the first, and read a bounded window
    for op in ["Query", "TransactWriteItems", "GetItem", "BatchGetItem"] {
        assert_eq!(
            late.get(op),
            first.get(op),
            "{op}: first {first:?}, 500th {late:?}"
        );
    }
    let read = late.get("Query items").copied().unwrap_or(0);
    assert!(read <= TRANSCRIPT_WINDOW + 1, "read {read} items: {late:?}");
}

// ---- tokens -------------------------------------------------------------------------------------

#[tokio::test]
async fn identity_tokens_are_held_to_their_times_audience_and_issuer() {
    let store = MemoryStore::new();
    let mut d = deps();
    d.widget.identity.audience = Some("https://shop.example.com".into());
    d.widget.identity.issuer = Some("shop-auth".into());
    let n = now().as_second();
    let token = |claims: Value| jwt(r#"{"alg":"HS256","typ":"JWT"}"#, &claims, IDENTITY);
    let good = json!({"email": "Pat@Example.com", "exp": n + 600, "iat": n, "aud": "https://shop.example.com", "iss": "shop-auth"});
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    for (what, claims) in [
        ("exp = i64::MAX", with("exp", json!(i64::MAX))),
        ("exp = i64::MIN", with("exp", json!(i64::MIN))),
        ("nbf in an hour", with("nbf", json!(n + 3600))),
        ("a week's lifetime", with("exp", json!(n + 7 * 24 * 3600))),
        (
            "another audience",
            with("aud", json!("https://evil.example")),
        ),
        ("no audience", {
            let mut c = good.clone();
            c.as_object_mut().unwrap().remove("aud");
            c
        }),
        ("another issuer", with("iss", json!("someone-else"))),
    ] {
        let (status, b, _) = call_with(
            &store,
            &d,
            req(
                "POST",
                "/widget/sessions",
                None,
                Some(json!({"identity": token(claims)})),
            ),
        )
        .await;
        assert_eq!(status, 401, "{what}: {b}");
    }
    assert!(store.all_sessions().is_empty());
    // The right token is accepted, and the email's case does not make another customer.
    let a = start_with(&store, &d, json!({"identity": token(good.clone())})).await;
    let b = start_with(
        &store,
        &d,
        json!({"identity": token(with("email", json!("pat@example.com")))}),
    )
    .await;
    assert_eq!(a["session_id"], b["session_id"]);
    let aud_list = with("aud", json!(["other", "https://shop.example.com"]));
    let c = start_with(&store, &d, json!({"identity": token(aud_list)})).await;
    assert_eq!(c["session_id"], a["session_id"]);
}

#[tokio::test]
async fn a_session_token_with_an_extreme_expiry_is_refused_not_a_panic() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    for exp in [i64::MAX, i64::MIN] {
        let forged = jwt(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &json!({"sub": s["session_id"], "vid": s["visitor_id"], "exp": exp, "iat": now().as_second(), "aud": "casebridge-widget"}),
            SECRET,
        );
        let (status, b, _) = call(
            &store,
            req(
                "POST",
                &messages_path(&s),
                Some(&forged),
                Some(json!({"text": "hi"})),
            ),
        )
        .await;
        assert_eq!(status, 401, "exp {exp}: {b}");
    }
}

// ---- text ---------------------------------------------------------------------------------------

#[tokio::test]
async fn hidden_characters_never_reach_the_transcript() {
    let store = MemoryStore::new();
    let s = start(&store, json!({"name": "Eve\u{202e}lin"})).await;
    // A message of NUL characters is empty, not an empty message.
    let (status, b) = say(&store, &deps(), &s, "\0\0\0", "1").await;
    assert_eq!(status, 400, "{b}");
    let (status, b) = say(
        &store,
        &deps(),
        &s,
        "refund for invoice\u{202e}fdp.exe\u{200b} please",
        "2",
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let (_, t) = store.transcript(session_id(&s)).await.unwrap().unwrap();
    for m in &t {
        assert!(
            !m.text
                .as_str()
                .chars()
                .any(|c| matches!(c, '\u{202e}' | '\u{200b}' | '\0')),
            "{:?}",
            m.text.as_str()
        );
    }
    assert!(
        t.iter()
            .any(|m| m.text.as_str() == "refund for invoicefdp.exe please")
    );
    assert!(t.iter().any(|m| m.text.as_str().contains("\"Evelin\"")));
}

async fn stored_len(store: &MemoryStore, id: SessionId) -> usize {
    store.transcript(id).await.unwrap().unwrap().1.len()
}
