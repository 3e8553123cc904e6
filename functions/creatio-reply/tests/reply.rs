//! The Creatio reply webhook against the Creatio sandbox and the Twilio stand-in: it records
//! what the business process reports and answers at once; delivery and closing are the stream's
//! job (here [`stream_checks`] runs what the stream runs for a status check; the whole loop is in
//! tests/tests/agent_loop.rs).

use casebridge::config::Config;
use casebridge::domain::*;
use casebridge::replies::closure::{Closure, ClosureError, apply_status_check};
use casebridge::replies::deliver::ReplyClients;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use creatio_reply::{Deps, handler};
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::Timestamp;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

const TOKEN: &str = "creatio-webhook-token-0123456789";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const SID: &str = "AC22222222222222222222222222222222";
const ANN: &str = "+15551230001";
const OURS: &str = "+15557654321";
const RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";

struct World {
    store: MemoryStore,
    sandbox: Sandbox,
    twilio: TwilioStandIn,
    deps: Deps,
    /// What the stream (the handoff function) reads Creatio and sends SMS with.
    replies: ReplyClients,
    config: Config,
}

async fn world() -> World {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let twilio = TwilioStandIn::start(SID, TWILIO_TOKEN).await.unwrap();
    let mut env = test_support::stack_env("https://cb.example.com", &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", TOKEN),
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_FROM", OURS),
        ("TWILIO_API_URL", twilio.url.as_str()),
    ]);
    let config = test_support::config_of(&env);
    World {
        store: MemoryStore::new(),
        deps: Deps::from_config(&config).unwrap(),
        replies: ReplyClients::from_config(&config, std::time::Duration::from_secs(10)).unwrap(),
        config,
        sandbox,
        twilio,
    }
}

/// A conversation handed to an agent, with its case in Creatio.
async fn with_agent(w: &World, customer: Customer) -> Session {
    let key = ConversationKey::new(
        match customer {
            Customer::Phone(_) => Channel::Sms,
            _ => Channel::Widget,
        },
        customer,
        OURS,
    );
    let (s, _) = w.store.find_or_open(&key, Timestamp::now()).await.unwrap();
    let text = MessageText::parse("my order never arrived").unwrap();
    w.store
        .append(
            &s,
            vec![NewMessage::new(Role::Customer, text)],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    test_support::fixtures::with_an_agent(&w.store, s.id, Timestamp::now()).await;
    w.replies
        .creatio
        .create(
            "Case",
            s.id.case_id().as_uuid(),
            json!({"Subject": "SMS: my order"}),
        )
        .await
        .unwrap();
    w.store.session(s.id).await.unwrap().unwrap()
}

fn ann() -> Customer {
    Customer::Phone(PhoneNumber::parse(ANN, None).unwrap())
}

/// A rep's e-mail reply on the case.
fn rep_writes(w: &World, s: &Session, body_html: &str) -> uuid::Uuid {
    w.sandbox.rep_email(s.id.case_id().as_uuid(), body_html)
}

/// What the outbox holds for an activity.
async fn entry(w: &World, activity: uuid::Uuid) -> Option<OutboxEntry> {
    w.store
        .outbox_entry(ActivityId::from_uuid(activity))
        .await
        .unwrap()
}

fn call(path: &str, auth: Option<&str>, body: &Value) -> lambda_http::Request {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(format!("https://x{path}"));
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    b.header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn new_activity(s: &Session, activity: uuid::Uuid) -> Value {
    json!({"event_type": "new_activity", "caseId": s.id.case_id().as_uuid().to_string(), "activityId": activity.to_string()})
}

async fn send(w: &World, req: lambda_http::Request) -> (u16, Value) {
    let r: Response<Body> = handler(&w.store, &w.deps, req).await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(r.headers()["content-type"], "application/json");
    let body = match r.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    (status, body)
}

#[tokio::test]
async fn a_reply_is_recorded_and_answered_before_creatio_or_twilio_is_asked() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "<p>Hi Ann, it ships <b>today</b>.</p>");
    w.sandbox.clear_log();
    // Twilio is down, and so is Creatio: the webhook records the reply all the same.
    w.twilio.fail_next(&[503, 503, 503, 503]);
    w.sandbox.set_faults(1.0, 503, None);
    let (status, body) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")));
    assert!(w.sandbox.requests().is_empty(), "Creatio was not called");
    assert!(w.twilio.sent().is_empty());
    let e = entry(&w, act).await.unwrap();
    assert_eq!(e.state, OutboxState::Queued);
    assert_eq!(e.case_id, Some(s.id.case_id()));
    assert_eq!(e.source, OutboxSource::Webhook);
    // Nothing is in the transcript until the delivery runs.
    assert_eq!(w.store.transcript(s.id).await.unwrap().unwrap().1.len(), 1);
}

#[tokio::test]
async fn the_token_may_ride_in_the_path_and_a_wrong_one_records_nothing() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "hello");
    for (path, auth) in [
        ("/creatio/reply", None),
        ("/creatio/reply", Some("Bearer wrong-token")),
        ("/creatio/reply", Some(TOKEN)), // no "Bearer"
        ("/creatio/reply/wrong-token", None),
    ] {
        let (status, body) = send(&w, call(path, auth, &new_activity(&s, act))).await;
        assert_eq!(status, 401, "{path} {auth:?}");
        assert!(body["error"].as_str().unwrap().contains("token"));
    }
    assert_eq!(entry(&w, act).await, None);
    let (status, body) = send(
        &w,
        call(
            &format!("/creatio/reply/{TOKEN}"),
            None,
            &new_activity(&s, act),
        ),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")));
    assert!(entry(&w, act).await.is_some());
}

#[tokio::test]
async fn while_the_token_is_rotated_the_new_and_the_old_one_both_pass() {
    let mut w = world().await;
    let s = with_agent(&w, ann()).await;
    // CREATIO_WEBHOOK_TOKEN (or its parameter in SSM) holds the new token and the old one.
    const NEW: &str = "creatio-webhook-token-rotated-9876";
    let mut env = test_support::stack_env("https://cb.example.com", &w.sandbox.url);
    let both = format!("{NEW} {TOKEN}");
    env.insert("CREATIO_WEBHOOK_TOKEN", both.as_str());
    w.deps = Deps::from_config(&test_support::config_of(&env)).unwrap();
    for token in [NEW, TOKEN] {
        let act = rep_writes(&w, &s, "hello");
        let auth = format!("Bearer {token}");
        let (status, _) = send(
            &w,
            call("/creatio/reply", Some(&auth), &new_activity(&s, act)),
        )
        .await;
        assert_eq!(status, 200, "{token}");
        let path = format!("/creatio/reply/{token}");
        let (status, _) = send(&w, call(&path, None, &new_activity(&s, act))).await;
        assert_eq!(status, 200, "{token} in the path");
    }
    // Anything else, the two together included, is refused.
    let act = rep_writes(&w, &s, "hello");
    for auth in ["Bearer wrong-token".to_owned(), format!("Bearer {both}")] {
        let (status, _) = send(
            &w,
            call("/creatio/reply", Some(&auth), &new_activity(&s, act)),
        )
        .await;
        assert_eq!(status, 401, "{auth}");
    }
    assert_eq!(entry(&w, act).await, None);
}

#[tokio::test]
async fn the_same_webhook_twice_is_recorded_once() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "On it!");
    let mut answers = Vec::new();
    for _ in 0..3 {
        let (status, body) = send(
            &w,
            call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
        )
        .await;
        answers.push((status, body["status"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        answers,
        [
            (200, "queued".to_owned()),
            (200, "already queued".to_owned()),
            (200, "already queued".to_owned())
        ]
    );
    assert_eq!(w.store.unfinished_outbox().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_case_id_is_optional_for_a_new_activity() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "no case id in the call");
    let (status, body) = send(
        &w,
        call(
            "/creatio/reply",
            Some(&bearer()),
            &json!({"event_type": "new_activity", "activityId": act.to_string()}),
        ),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")));
    assert_eq!(entry(&w, act).await.unwrap().case_id, None);
}

#[tokio::test]
async fn bodies_are_read_the_way_creatio_sends_them_and_bad_ones_are_named() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "braces and upper case");
    // Keys in other cases and spellings, GUIDs in braces and upper case, extra fields.
    let body = json!({
        "EventType": "new_activity",
        "CASE_ID": format!("{{{}}}", s.id.case_id().as_uuid().to_string().to_uppercase()),
        "ActivityID": act.to_string().to_uppercase(),
        "ProcessName": "casebridge reply",
    });
    let (status, _) = send(&w, call("/creatio/reply", Some(&bearer()), &body)).await;
    assert_eq!(status, 200);
    assert_eq!(entry(&w, act).await.unwrap().case_id, Some(s.id.case_id()));
    let cases = [
        (
            json!({"event_type": "new_activity"}),
            "activityId is missing",
        ),
        (
            json!({"event_type": "new_activity", "caseId": "12345", "activityId": act.to_string()}),
            "caseId is not a GUID",
        ),
        (
            json!({"event_type": "new_activity", "activityId": "[#Activity.Id#]"}),
            "activityId is not a GUID",
        ),
        (
            json!({"event_type": "case_updated"}),
            "caseId is missing (required for case_updated)",
        ),
        (
            json!({"event_type": "deleted", "caseId": uuid::Uuid::new_v4().to_string()}),
            "not new_activity or case_updated",
        ),
        (
            json!({"caseId": uuid::Uuid::new_v4().to_string()}),
            "event_type is missing",
        ),
        (json!(["not", "an", "object"]), "JSON object"),
    ];
    for (body, needle) in cases {
        let (status, b) = send(&w, call("/creatio/reply", Some(&bearer()), &body)).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            b["error"].as_str().unwrap().contains(needle),
            "{b} lacks {needle}"
        );
    }
    let raw = http::Request::builder()
        .method("POST")
        .uri("https://x/creatio/reply")
        .header("authorization", bearer())
        .body(Body::from("{not json"))
        .unwrap();
    assert_eq!(send(&w, raw).await.0, 400);
    assert_eq!(w.store.unfinished_outbox().await.unwrap().len(), 1);
}

/// What the table's stream runs for the status check of `s`'s case.
async fn stream_checks(w: &World, s: &Session) -> Result<Closure, ClosureError> {
    apply_status_check(
        &w.store,
        &w.replies.deps(),
        s.id.case_id(),
        Timestamp::now(),
    )
    .await
}

fn case_updated(s: &Session) -> Value {
    json!({"event_type": "case_updated", "caseId": s.id.case_id().as_uuid().to_string()})
}

async fn resolve(w: &World, s: &Session) {
    w.replies
        .creatio
        .patch(
            "Case",
            s.id.case_id().as_uuid(),
            json!({"StatusId": RESOLVED}),
        )
        .await
        .unwrap();
}

async fn state(w: &World, s: &Session) -> SessionState {
    w.store.session(s.id).await.unwrap().unwrap().state
}

#[tokio::test]
async fn a_resolved_case_closes_the_conversation_and_the_next_sms_gets_the_assistant() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let update = case_updated(&s);
    // Still open: recorded, and the stream's check leaves the conversation alone.
    let (status, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!((status, b["status"].as_str()), (200, Some("queued")));
    assert_eq!(stream_checks(&w, &s).await.unwrap(), Closure::StillOpen);
    assert_eq!(state(&w, &s).await, SessionState::WithAgent);
    // The rep resolves it, and the process reports it: the webhook only records.
    resolve(&w, &s).await;
    w.sandbox.clear_log();
    let (status, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!((status, b["status"].as_str()), (200, Some("queued")));
    assert_eq!(w.sandbox.api_requests(), 0, "the webhook asked Creatio");
    assert!(w.twilio.sent().is_empty());
    let check = w.store.status_check(s.id.case_id()).await.unwrap().unwrap();
    assert_eq!((check.state, check.reports), (OutboxState::Queued, 2));
    // The stream closes it, with the notice.
    assert_eq!(stream_checks(&w, &s).await.unwrap(), Closure::Closed);
    assert_eq!(state(&w, &s).await, SessionState::Closed);
    let check = w.store.status_check(s.id.case_id()).await.unwrap().unwrap();
    assert_eq!(check.state, OutboxState::Done);
    let sent = w.twilio.sent();
    assert_eq!(sent.len(), 1, "the closing notice");
    assert!(sent[0].body.contains("resolved"));
    // The customer's next SMS opens a new session, and the assistant answers it.
    let sms = sms_inbound::Deps::from_config(&w.config).unwrap();
    let req = test_support::requests::twilio(
        TWILIO_TOKEN,
        "https://cb.example.com/sms/inbound",
        &test_support::requests::inbound_sms(
            "SM900",
            SID,
            ANN,
            OURS,
            "What is your return policy?",
        ),
    );
    let r = sms_inbound::handler(&w.store, &sms, req).await.unwrap();
    let Body::Text(xml) = r.body() else {
        panic!("TwiML")
    };
    assert!(xml.contains("30 days"), "{xml}");
    let key = ConversationKey::new(Channel::Sms, ann(), OURS);
    let next = w.store.active_session(&key).await.unwrap().unwrap();
    assert_ne!(next.id, s.id);
    assert_eq!(next.state, SessionState::Assistant);
    // The same update again changes nothing, and is not even recorded.
    let (_, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!(b["status"], "ignored: already closed");
    let check = w.store.status_check(s.id.case_id()).await.unwrap().unwrap();
    assert_eq!((check.state, check.reports), (OutboxState::Done, 2));
    assert_eq!(stream_checks(&w, &s).await.unwrap(), Closure::AlreadyClosed);
    assert_eq!(w.twilio.sent().len(), 1);
}

#[tokio::test]
async fn a_case_closed_webhook_whose_delivery_fails_after_the_200_still_closes_the_conversation() {
    // GIVEN Ann's conversation with a rep, whose case the rep resolves
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    resolve(&w, &s).await;
    // AND Creatio is down when the process reports it
    w.sandbox.set_faults(1.0, 503, None);
    let (status, b) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &case_updated(&s)),
    )
    .await;
    // THEN the webhook still answers 200: the report is recorded
    assert_eq!((status, b["status"].as_str()), (200, Some("queued")));
    // AND the stream's first try fails for now, closes nothing, and says so on the check
    let first = stream_checks(&w, &s).await.unwrap_err();
    assert!(first.is_transient(), "{first}");
    assert_eq!(state(&w, &s).await, SessionState::WithAgent);
    let check = w.store.status_check(s.id.case_id()).await.unwrap().unwrap();
    assert_eq!((check.state, check.attempts), (OutboxState::Retrying, 1));
    assert_eq!(
        w.store.unfinished_status_checks().await.unwrap().len(),
        1,
        "the replay finds it"
    );
    // WHEN Creatio is back but Twilio cannot take the closing notice, the stream's retry closes
    // the conversation and fails for now again, for the notice
    w.sandbox.set_faults(0.0, 503, None);
    // (503 to every attempt the Twilio client makes for one send)
    let attempts = casebridge::http::RetryPolicy::default().attempts;
    w.twilio.fail_next(&vec![503; attempts]);
    let second = stream_checks(&w, &s).await.unwrap_err();
    assert!(matches!(second, ClosureError::Notice(_)), "{second}");
    assert_eq!(state(&w, &s).await, SessionState::Closed);
    assert!(w.twilio.sent().is_empty());
    // AND the next retry sends the notice, once
    assert_eq!(stream_checks(&w, &s).await.unwrap(), Closure::AlreadyClosed);
    let sent = w.twilio.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].body.contains("resolved"));
    assert_eq!(stream_checks(&w, &s).await.unwrap(), Closure::AlreadyClosed);
    assert_eq!(w.twilio.sent().len(), 1, "the notice went out twice");
    assert!(w.store.unfinished_status_checks().await.unwrap().is_empty());
}
