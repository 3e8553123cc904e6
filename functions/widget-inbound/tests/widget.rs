//! The widget API as a browser drives it, on the memory store.

mod helpers;

use casebridge::domain::*;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use helpers::*;
use lambda_http::Body;
use serde_json::{Value, json};
use widget_inbound::handle;

#[tokio::test]
async fn the_greeting_is_in_the_page_language_until_the_visitor_writes_in_another() {
    let store = MemoryStore::new();
    // GIVEN a Spanish page
    let s = start(&store, json!({"language": "es-MX"})).await;
    // THEN the greeting is the Spanish one the settings ship
    assert!(s["greeting"].as_str().unwrap().starts_with("¡Hola!"), "{s}");
    assert_eq!(s["language"], "es");
    // AND a language casebridge has no texts for gets the default's
    let other = start(&store, json!({"language": "nl"})).await;
    assert!(
        other["greeting"].as_str().unwrap().contains("assistant"),
        "{other}"
    );
    assert_eq!(other["language"], Value::Null);
    // WHEN the visitor writes in English and comes back to the Spanish page
    let token = s["token"].as_str().unwrap().to_owned();
    let (status, b, _) = call(
        &store,
        req(
            "POST",
            &messages_path(&s),
            Some(&token),
            Some(
                json!({"text": "What is your return policy for opened items?", "client_id": "c1"}),
            ),
        ),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    let mut again = resume(&s);
    again["language"] = json!("es");
    let resumed = start(&store, again).await;
    // THEN what they wrote decides
    assert_eq!(resumed["language"], "en", "{resumed}");
}

#[tokio::test]
async fn a_visitor_chats_with_the_assistant_and_polls_for_the_agent() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    assert_eq!(s["state"], "assistant");
    assert!(s["greeting"].as_str().unwrap().contains("assistant"));
    let token = s["token"].as_str().unwrap().to_owned();
    let path = messages_path(&s);
    let (status, b, resp) = call(
        &store,
        req(
            "POST",
            &path,
            Some(&token),
            Some(json!({"text": "What is your return policy?", "client_id": "c1"})),
        ),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(resp.headers()["access-control-allow-origin"], SITE);
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "customer");
    assert_eq!(msgs[1]["role"], "assistant");
    assert!(msgs[1]["text"].as_str().unwrap().contains("30 days"));
    let last = b["last_seq"].as_u64().unwrap();
    // Nothing new.
    let (status, b, _) = call(
        &store,
        req("GET", &format!("{path}?after={last}"), Some(&token), None),
    )
    .await;
    assert_eq!((status, b["messages"].as_array().unwrap().len()), (200, 0));
    // Asking for a person.
    let (_, b, _) = call(
        &store,
        req(
            "POST",
            &path,
            Some(&token),
            Some(json!({"text": "can I talk to a human"})),
        ),
    )
    .await;
    assert_eq!(b["state"], "handoff_requested");
    let last = b["last_seq"].as_u64().unwrap();
    // An agent reply (as creatio-reply stores it) arrives by polling.
    let id = SessionId::parse(s["session_id"].as_str().unwrap()).unwrap();
    agent_reply(&store, id, "Hi, Bob from support here").await;
    let (_, b, _) = call(
        &store,
        req("GET", &format!("{path}?after={last}"), Some(&token), None),
    )
    .await;
    let msgs = b["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        (msgs[0]["role"].as_str(), msgs[0]["text"].as_str()),
        (Some("agent"), Some("Hi, Bob from support here"))
    );
}

#[tokio::test]
async fn a_retried_send_is_stored_once() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    let token = s["token"].as_str().unwrap();
    let body = json!({"text": "What is your return policy?", "client_id": "same"});
    let (_, first, _) = call(
        &store,
        req("POST", &messages_path(&s), Some(token), Some(body.clone())),
    )
    .await;
    let (_, second, _) = call(
        &store,
        req("POST", &messages_path(&s), Some(token), Some(body)),
    )
    .await;
    assert_eq!(first["messages"], second["messages"]);
    let id = SessionId::parse(s["session_id"].as_str().unwrap()).unwrap();
    assert_eq!(store.transcript(id).await.unwrap().unwrap().1.len(), 2);
}

#[tokio::test]
async fn tokens_are_checked_and_bound_to_their_session() {
    let store = MemoryStore::new();
    let a = start(&store, json!({})).await;
    let b = start(&store, json!({})).await;
    let path = messages_path(&a);
    let msg = json!({"text": "hello"});
    // Missing, forged, expired.
    let forged = casebridge::widget::auth::issue_session_token(
        b"some-other-secret-0123456789abcdef",
        SessionId::parse(a["session_id"].as_str().unwrap()).unwrap(),
        &VisitorId::new_random(),
        now(),
    );
    let expired = casebridge::widget::auth::issue_session_token(
        SECRET.as_bytes(),
        SessionId::parse(a["session_id"].as_str().unwrap()).unwrap(),
        &VisitorId::new_random(),
        now() - jiff::SignedDuration::from_hours(24),
    );
    let none_alg = format!(
        "{}.{}.",
        b64(r#"{"alg":"none"}"#),
        b64(&json!({"sub": a["session_id"], "vid": "abcdefgh", "exp": later(), "aud": "casebridge-widget"}).to_string())
    );
    for (what, token) in [
        ("missing", None),
        ("forged", Some(forged.as_str())),
        ("expired", Some(expired.as_str())),
        ("alg none", Some(none_alg.as_str())),
    ] {
        let (status, body, _) = call(&store, req("POST", &path, token, Some(msg.clone()))).await;
        assert_eq!(status, 401, "{what}: {body}");
        let (status, _, _) = call(&store, req("GET", &path, token, None)).await;
        assert_eq!(status, 401, "{what}");
    }
    // B's token on A's session.
    let (status, _, _) = call(
        &store,
        req("POST", &path, b["token"].as_str(), Some(msg.clone())),
    )
    .await;
    assert_eq!(status, 403);
    // Not a session id at all.
    let (status, _, _) = call(
        &store,
        req(
            "GET",
            "/widget/sessions/not-a-session/messages",
            a["token"].as_str(),
            None,
        ),
    )
    .await;
    assert_eq!(status, 404);
    let id = SessionId::parse(a["session_id"].as_str().unwrap()).unwrap();
    assert!(
        store.transcript(id).await.unwrap().unwrap().1.is_empty(),
        "nothing stored"
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_400() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    let token = s["token"].as_str().unwrap();
    let path = messages_path(&s);
    let cases = [
        (json!({"text": ""}), "empty"),
        (json!({"text": "   "}), "empty"),
        (json!({}), "text is missing"),
        (json!({"text": "x".repeat(8001)}), "limit"),
        (json!({"text": "hi", "client_id": "has space"}), "client_id"),
    ];
    for (body, needle) in cases {
        let (status, b, _) = call(&store, req("POST", &path, Some(token), Some(body))).await;
        assert_eq!(status, 400);
        assert!(
            b["error"].as_str().unwrap().contains(needle),
            "{b} lacks {needle}"
        );
    }
    let raw = http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.com{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from("{\"text\": "))
        .unwrap();
    let (status, b, _) = call(&store, raw).await;
    assert_eq!(status, 400, "{b}");
    assert!(b["error"].as_str().unwrap().starts_with("invalid JSON"));
    let big = json!({"text": "y".repeat(70 * 1024)});
    assert_eq!(
        call(&store, req("POST", &path, Some(token), Some(big)))
            .await
            .0,
        413
    );
    let (status, _, _) = call(
        &store,
        req("GET", &format!("{path}?after=minus-one"), Some(token), None),
    )
    .await;
    assert_eq!(status, 400);
    // HTML in a message is stored and returned as text.
    let (_, b, _) = call(
        &store,
        req(
            "POST",
            &path,
            Some(token),
            Some(json!({"text": "<img src=x onerror=alert(1)>"})),
        ),
    )
    .await;
    assert_eq!(b["messages"][0]["text"], "<img src=x onerror=alert(1)>");
}

#[tokio::test]
async fn cors_is_limited_to_the_allowed_origins() {
    let store = MemoryStore::new();
    let preflight = http::Request::builder()
        .method("OPTIONS")
        .uri("https://api.example.com/widget/sessions")
        .header("origin", SITE)
        .header("access-control-request-method", "POST")
        .body(Body::Empty)
        .unwrap();
    let (status, _, resp) = call(&store, preflight).await;
    assert_eq!(status, 204);
    assert_eq!(resp.headers()["access-control-allow-origin"], SITE);
    assert!(
        resp.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(
        resp.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let evil = http::Request::builder()
        .method("POST")
        .uri("https://api.example.com/widget/sessions")
        .header("origin", "https://evil.example")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, resp) = call(&store, evil).await;
    assert_eq!(status, 403);
    assert!(resp.headers().get("access-control-allow-origin").is_none());
    assert!(store.all_sessions().is_empty());
}

#[tokio::test]
async fn a_verified_visitor_is_matched_by_email_and_resumes_on_another_device() {
    let store = MemoryStore::new();
    let jwt = identity("ann@example.com", later(), IDENTITY);
    let phone = start(&store, json!({"identity": jwt})).await;
    let laptop = start(&store, json!({"identity": jwt})).await;
    assert_eq!(
        phone["session_id"], laptop["session_id"],
        "the open session resumes"
    );
    let id = SessionId::parse(phone["session_id"].as_str().unwrap()).unwrap();
    let s = store.session(id).await.unwrap().unwrap();
    assert_eq!(
        s.key.customer,
        Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap())
    );
    // Refused identities store nothing.
    for (what, bad) in [
        ("expired", identity("ann@example.com", 1000, IDENTITY)),
        (
            "wrong key",
            identity("ann@example.com", later(), "not-the-site-key"),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(r#"{"alg":"none"}"#),
                b64(&json!({"email": "eve@example.com", "exp": later()}).to_string())
            ),
        ),
    ] {
        let before = store.all_sessions().len();
        let (status, b, _) = call(
            &store,
            req(
                "POST",
                "/widget/sessions",
                None,
                Some(json!({"identity": bad})),
            ),
        )
        .await;
        assert_eq!(status, 401, "{what}: {b}");
        assert_eq!(store.all_sessions().len(), before, "{what}");
    }
}

#[tokio::test]
async fn what_a_visitor_types_about_themselves_stays_unverified() {
    let store = MemoryStore::new();
    let s = start(
        &store,
        json!({"name": "Mallory", "email": "ceo@bigcorp.example"}),
    )
    .await;
    let id = SessionId::parse(s["session_id"].as_str().unwrap()).unwrap();
    let (session, t) = store.transcript(id).await.unwrap().unwrap();
    assert!(
        matches!(session.key.customer, Customer::Visitor(_)),
        "not matched by a typed email"
    );
    assert_eq!(t[0].role, Role::System);
    assert!(t[0].text.as_str().contains("(unverified)"));
    // The visitor does not see casebridge's notes.
    assert!(s["messages"].as_array().unwrap().is_empty());
    // The same visitor (id and secret) resumes the same session.
    let again = start(&store, resume(&s)).await;
    assert_eq!(again["session_id"], s["session_id"]);
}

#[tokio::test]
async fn the_transcript_page_needs_its_signature_and_escapes_everything() {
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    let token = s["token"].as_str().unwrap();
    call(
        &store,
        req(
            "POST",
            &messages_path(&s),
            Some(token),
            Some(json!({"text": "<script>alert('x')</script> my order #A-1234"})),
        ),
    )
    .await;
    let id = SessionId::parse(s["session_id"].as_str().unwrap()).unwrap();
    let sig = casebridge::widget::links::transcript_signature(SECRET.as_bytes(), id);
    let get = |path: String| {
        http::Request::builder()
            .method("GET")
            .uri(format!("https://api.example.com{path}"))
            .body(Body::Empty)
            .unwrap()
    };
    let (status, body, resp) = call(&store, get(format!("/transcripts/{id}?sig={sig}"))).await;
    assert_eq!(status, 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = body.as_str().unwrap();
    assert!(html.contains("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"));
    assert!(!html.contains("<script>"));
    assert!(
        html.contains("Order numbers: A-1234"),
        "the summary is on the page"
    );
    for bad in [
        format!("/transcripts/{id}?sig=00"),
        format!("/transcripts/{id}"),
        format!("/transcripts/{}?sig={sig}", SessionId::new_random()),
    ] {
        assert_eq!(call(&store, get(bad.clone())).await.0, 404, "{bad}");
    }
}

#[tokio::test]
async fn the_widget_script_is_small_and_never_renders_html() {
    let store = MemoryStore::new();
    let r = http::Request::builder()
        .method("GET")
        .uri("https://api.example.com/widget.js")
        .body(Body::Empty)
        .unwrap();
    let (status, _, resp) = call(&store, r).await;
    assert_eq!(status, 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/javascript")
    );
    let js = widget_inbound::WIDGET_JS;
    // Under 10 KB as a CDN or the browser's cache holds it: gzipped.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, js.as_bytes()).unwrap();
    let gzipped = gz.finish().unwrap().len();
    assert!(gzipped < 10 * 1024, "{gzipped} bytes gzipped");
    assert!(js.len() < 32 * 1024, "{} bytes", js.len());
    assert!(
        !js.contains("innerHTML")
            && !js.contains("insertAdjacentHTML")
            && !js.contains("document.write")
    );
    assert!(js.contains("textContent"));
}

#[tokio::test]
async fn an_anonymous_visitor_who_signs_in_keeps_the_conversation() {
    let store = MemoryStore::new();
    // GIVEN an anonymous chat
    let anon = start(&store, json!({})).await;
    let token = anon["token"].as_str().unwrap();
    call(
        &store,
        req(
            "POST",
            &messages_path(&anon),
            Some(token),
            Some(json!({"text": "hello there, order #A-55"})),
        ),
    )
    .await;
    // WHEN the site signs the visitor in (same device, now with an identity JWT)
    let jwt = identity("ann.signed@example.com", later(), IDENTITY);
    let mut with_identity = resume(&anon);
    with_identity["identity"] = json!(jwt);
    let signed = start(&store, with_identity).await;
    // THEN the conversation continues, now under the verified email
    assert_eq!(signed["session_id"], anon["session_id"]);
    let id = SessionId::parse(signed["session_id"].as_str().unwrap()).unwrap();
    let (s, t) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(
        s.key.customer,
        Customer::Email(VerifiedEmail::parse("ann.signed@example.com").unwrap())
    );
    assert!(t.iter().any(|m| m.text.as_str().contains("order #A-55")));
    assert!(
        t.iter()
            .any(|m| m.role == Role::System && m.text.as_str().contains("verified by the site"))
    );
    // AND the visitor's other device finds it by the identity
    let laptop = start(&store, json!({"identity": jwt})).await;
    assert_eq!(laptop["session_id"], anon["session_id"]);
}

// ---- cost ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_answered_widget_message_costs_one_query_and_one_transaction() {
    let Some((store, counter)) = test_support::moto::counted_store("widget-cost").await else {
        return;
    };
    let send = |token: &str, path: &str, text: &str, id: &str| {
        req(
            "POST",
            path,
            Some(token),
            Some(json!({"text": text, "client_id": id})),
        )
    };
    // GIVEN a started session
    let started = handle(
        &store,
        &deps(),
        req("POST", "/widget/sessions", None, Some(json!({}))),
        now(),
    )
    .await;
    let Body::Text(b) = started.body() else {
        panic!("no body")
    };
    let b: Value = serde_json::from_str(b).unwrap();
    let (token, path) = (b["token"].as_str().unwrap().to_owned(), messages_path(&b));
    counter.take();
    // WHEN the visitor asks something the assistant answers
    let r = handle(
        &store,
        &deps(),
        send(&token, &path, "What is your return policy?", "c1"),
        now(),
    )
    .await;
    assert_eq!(r.status(), 200, "{:?}", r.body());
    // THEN one query read the session with its transcript and one transaction stored both
    let counts = counter.take();
    assert_eq!(counts.get("Query"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("TransactWriteItems"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetItem"), None, "{counts:?}");
    // AND the visitor got the message and the reply
    let Body::Text(b) = r.body() else {
        panic!("no body")
    };
    let b: Value = serde_json::from_str(b).unwrap();
    let roles: Vec<&str> = b["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["customer", "assistant"], "{b}");
    // AND a retried POST stores nothing and gets the same answer
    let again = handle(
        &store,
        &deps(),
        send(&token, &path, "What is your return policy?", "c1"),
        now(),
    )
    .await;
    let Body::Text(a) = again.body() else {
        panic!("no body")
    };
    let a: Value = serde_json::from_str(a).unwrap();
    assert_eq!(a["messages"], b["messages"]);
    let id = SessionId::parse(path.split('/').nth(3).unwrap()).unwrap();
    let (_, transcript) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(transcript.len(), 2);
}

#[tokio::test]
async fn an_action_answers_a_verified_visitor_with_a_card_and_asks_an_anonymous_one_to_sign_in() {
    use creatio_sandbox::shop::{ShopStandIn, sample_orders};
    // GIVEN the widget deployed with the shop's order actions
    let shop = ShopStandIn::start("shop-token", sample_orders())
        .await
        .unwrap();
    let settings = test_support::with_shop_actions(&shop.url, "shop-token");
    let deps = widget_inbound::Deps::from_config(&test_support::config(&[
        ("WIDGET_SECRET", SECRET),
        ("WIDGET_IDENTITY_SECRET", IDENTITY),
        ("WIDGET_ALLOWED_ORIGINS", SITE),
        ("CASEBRIDGE_CONFIG", settings.to_str().unwrap()),
    ]))
    .unwrap();
    let store = MemoryStore::new();
    let ask = |started: Value| {
        let deps = &deps;
        let store = &store;
        async move {
            let token = started["token"].as_str().unwrap().to_owned();
            let (status, b, _) = call_with(
                store,
                deps,
                req(
                    "POST",
                    &messages_path(&started),
                    Some(&token),
                    Some(json!({"text": "Where is my order 5511?", "client_id": "o1"})),
                ),
            )
            .await;
            assert_eq!(status, 200, "{b}");
            b["messages"][1].clone()
        }
    };
    // WHEN a visitor signed in as Ann asks about her order
    let ann = start_with(
        &store,
        &deps,
        json!({"identity": identity("ann@example.com", later(), IDENTITY)}),
    )
    .await;
    let session = session_id(&ann);
    let answer = ask(ann).await;
    // THEN the answer carries a card (and its text says the same)
    assert_eq!(answer["card"]["title"], "Order 5511", "{answer}");
    assert_eq!(answer["card"]["rows"][0]["value"], "shipped");
    assert_eq!(
        answer["card"]["links"][0]["url"],
        "https://track.example.com/1Z5511"
    );
    assert!(answer["text"].as_str().unwrap().contains("shipped"));
    assert_eq!(shop.requests()[0].query["email"], "ann@example.com");
    // AND an anonymous visitor is asked to sign in, with no call to the shop
    let anonymous = start_with(&store, &deps, json!({})).await;
    let answer = ask(anonymous).await;
    assert!(
        answer["text"].as_str().unwrap().contains("sign in"),
        "{answer}"
    );
    assert!(answer.get("card").is_none());
    assert_eq!(shop.requests().len(), 1);
    // AND the transcript page says which action answered
    let sig = casebridge::widget::links::transcript_signature(SECRET.as_bytes(), session);
    let page = call_with(
        &store,
        &deps,
        req(
            "GET",
            &format!("/transcripts/{session}?sig={sig}"),
            None,
            None,
        ),
    )
    .await
    .2;
    let Body::Text(html) = page.body() else {
        panic!("no page")
    };
    assert!(html.contains("Order 5511: shipped."), "{html}");
    assert!(
        html.contains("Answered by the action order_status_web"),
        "{html}"
    );
    std::fs::remove_file(settings).ok();
}

#[tokio::test]
async fn the_visitor_says_how_far_they_have_read_and_only_forward() {
    // GIVEN a conversation with a rep's reply
    let store = MemoryStore::new();
    let s = start(&store, json!({})).await;
    let id = session_id(&s);
    agent_reply(&store, id, "Hi, Bob here.").await;
    let last = store.session(id).await.unwrap().unwrap().last_seq;
    let path = messages_path(&s).replace("/messages", "/read");
    let token = s["token"].as_str();
    // WHEN the widget says the reply was on screen
    let (status, b, _) = call(
        &store,
        req("POST", &path, token, Some(json!({"seq": last}))),
    )
    .await;
    // THEN it is recorded on the session, for the case's read receipt
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["recorded"], true);
    let read = store.session(id).await.unwrap().unwrap().read.unwrap();
    assert_eq!(read.seq, last);
    // AND saying it again, or less, writes nothing
    let (status, b, _) = call(
        &store,
        req("POST", &path, token, Some(json!({"seq": last}))),
    )
    .await;
    assert_eq!((status, b["recorded"].clone()), (200, json!(false)));
    // AND a seq past the conversation, none, or another session's token is refused
    let (status, b, _) = call(
        &store,
        req("POST", &path, token, Some(json!({"seq": last + 1}))),
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert!(b["error"].as_str().unwrap().contains("past"), "{b}");
    let (status, _, _) = call(&store, req("POST", &path, token, Some(json!({})))).await;
    assert_eq!(status, 400);
    let other = start(&store, json!({})).await;
    let (status, _, _) = call(
        &store,
        req(
            "POST",
            &path,
            other["token"].as_str(),
            Some(json!({"seq": last})),
        ),
    )
    .await;
    assert_eq!(status, 403);
}
