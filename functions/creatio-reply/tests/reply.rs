//! The Creatio reply webhook against the Creatio sandbox and the Twilio stand-in.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use casebridge::assistant::{Concierge, Settings};
use casebridge::config::{BaseUrl, CreatioAuth, CreatioConfig, TwilioConfig, TwilioSender};
use casebridge::creatio::{CreatioClient, RetryPolicy};
use casebridge::domain::*;
use casebridge::sms::twilio::TwilioClient;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{SessionChanges, Store};
use creatio_reply::{Deps, handler};
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

const TOKEN: &str = "creatio-webhook-token-0123456789";
const TWILIO_TOKEN: &str = "twilio-auth-token";
const SID: &str = "AC22222222222222222222222222222222";
const ANN: &str = "+15551230001";
const OURS: &str = "+15557654321";
const RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(5),
    }
}

struct World {
    store: MemoryStore,
    _sandbox: Sandbox,
    twilio: TwilioStandIn,
    deps: Deps,
}

async fn world() -> World {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let twilio = TwilioStandIn::start(SID, TWILIO_TOKEN).await.unwrap();
    let creatio_config = CreatioConfig::with_defaults(
        BaseUrl::parse("CREATIO_URL", &sandbox.url).unwrap(),
        false,
        CreatioAuth::Forms {
            username: "Supervisor".into(),
            password: "Supervisor".to_owned().into(),
        },
    );
    let http = casebridge::http::client(Duration::from_secs(5)).unwrap();
    let sms = TwilioClient::new(
        http.clone(),
        TwilioConfig {
            account_sid: SID.into(),
            auth_token: TWILIO_TOKEN.to_owned().into(),
            sender: TwilioSender::From(PhoneNumber::parse(OURS, None).unwrap()),
            api_url: BaseUrl::parse("TWILIO_API_URL", &twilio.url).unwrap(),
        },
        Some("https://cb.example.com/sms/status".into()),
        fast(),
    );
    let deps = Deps {
        creatio: CreatioClient::new(&creatio_config, http, fast()),
        creatio_config,
        webhook_token: TOKEN.to_owned().into(),
        sms: Some(Arc::new(sms)),
        settings: Arc::new(Settings::embedded()),
    };
    World {
        store: MemoryStore::new(),
        _sandbox: sandbox,
        twilio,
        deps,
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
    w.store
        .transition(
            s.id,
            Transition::new(SessionState::Assistant, SessionState::HandoffRequested).unwrap(),
            SessionChanges::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    w.store
        .transition(
            s.id,
            Transition::new(SessionState::HandoffRequested, SessionState::WithAgent).unwrap(),
            SessionChanges {
                handoff_reason: None,
                creatio: Some(CreatioLink {
                    case_id: s.id.case_id(),
                    case_number: None,
                    contact_id: None,
                }),
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
    w.deps
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

/// An activity a rep adds on the case.
async fn rep_writes(w: &World, s: &Session, body_html: &str) -> uuid::Uuid {
    let id = uuid::Uuid::new_v4();
    w.deps
        .creatio
        .create(
            "Activity",
            id,
            json!({"Title": "Reply", "Body": body_html, "CaseId": s.id.case_id().as_uuid().to_string()}),
        )
        .await
        .unwrap();
    id
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
async fn an_agent_reply_reaches_the_customer_by_sms_as_clean_text() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(
        &w,
        &s,
        "<p>Hi Ann,</p><p>a replacement ships <b>today</b> &amp; arrives Friday.</p>",
    )
    .await;
    let (status, body) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("sent")));
    let sent = w.twilio.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ANN);
    assert_eq!(
        sent[0].body,
        "Hi Ann,\n\na replacement ships today & arrives Friday."
    );
    let (_, t) = w.store.transcript(s.id).await.unwrap().unwrap();
    let last = t.last().unwrap();
    assert_eq!(last.role, Role::Agent);
    assert_eq!(last.delivery, Some(DeliveryStatus::Queued));
}

#[tokio::test]
async fn the_token_may_ride_in_the_path_and_a_wrong_one_does_nothing() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "hello").await;
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
    assert!(w.twilio.sent().is_empty());
    assert_eq!(w.store.transcript(s.id).await.unwrap().unwrap().1.len(), 1);
    let (status, _) = send(
        &w,
        call(
            &format!("/creatio/reply/{TOKEN}"),
            None,
            &new_activity(&s, act),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(w.twilio.sent().len(), 1);
}

#[tokio::test]
async fn the_same_webhook_twice_sends_one_sms() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "On it!").await;
    for _ in 0..2 {
        let (status, _) = send(
            &w,
            call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(w.twilio.sent().len(), 1);
}

#[tokio::test]
async fn unknown_cases_and_casebridges_own_activities_are_ignored() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let body = json!({"event_type": "new_activity", "caseId": uuid::Uuid::new_v4().to_string(), "activityId": uuid::Uuid::new_v4().to_string()});
    let (status, b) = send(&w, call("/creatio/reply", Some(&bearer()), &body)).await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("ignored: no conversation for this case"))
    );
    // The activity casebridge wrote for message 1 (the signal fires for it too).
    let own = s.id.activity_id(1).as_uuid();
    w.deps
        .creatio
        .create("Activity", own, json!({"Title": "Customer: my order never arrived", "CaseId": s.id.case_id().as_uuid().to_string()}))
        .await
        .unwrap();
    let (status, b) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, own)),
    )
    .await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("ignored: written by casebridge"))
    );
    assert!(w.twilio.sent().is_empty());
}

#[tokio::test]
async fn an_opted_out_customer_is_not_texted_and_the_case_hears_of_it() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    w.twilio.opt_out(ANN);
    let act = rep_writes(&w, &s, "Any update?").await;
    let (status, b) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!(status, 200);
    assert!(b["status"].as_str().unwrap().starts_with("not sent"));
    assert!(w.twilio.sent().is_empty());
    let (_, t) = w.store.transcript(s.id).await.unwrap().unwrap();
    let note = t.last().unwrap();
    assert_eq!(note.role, Role::System);
    assert_eq!(
        note.text.as_str(),
        "Reply not delivered: the customer has opted out of SMS (replied STOP)"
    );
}

#[tokio::test]
async fn a_transient_twilio_failure_then_a_retry_sends_exactly_once() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "Thanks for waiting").await;
    w.twilio.fail_next(&[503, 503]);
    let (status, _) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!(status, 503, "so the process can retry");
    assert!(w.twilio.sent().is_empty());
    let (status, b) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!((status, b["status"].as_str()), (200, Some("sent")));
    let (status, _) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(w.twilio.sent().len(), 1);
    let agent_msgs = w
        .store
        .transcript(s.id)
        .await
        .unwrap()
        .unwrap()
        .1
        .iter()
        .filter(|m| m.role == Role::Agent)
        .count();
    assert_eq!(agent_msgs, 1);
}

#[tokio::test]
async fn a_widget_reply_is_stored_for_polling() {
    let w = world().await;
    let s = with_agent(
        &w,
        Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap()),
    )
    .await;
    let act = rep_writes(&w, &s, "Hello from support").await;
    let (status, b) = send(
        &w,
        call("/creatio/reply", Some(&bearer()), &new_activity(&s, act)),
    )
    .await;
    assert_eq!(
        (status, b["status"].as_str()),
        (200, Some("stored for the widget"))
    );
    let new = w.store.messages_after(s.id, 1).await.unwrap();
    assert_eq!(new[0].text.as_str(), "Hello from support");
    assert!(w.twilio.sent().is_empty());
}

#[tokio::test]
async fn bodies_are_read_the_way_creatio_sends_them_and_bad_ones_are_named() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let act = rep_writes(&w, &s, "braces and upper case").await;
    // Keys in other cases and spellings, GUIDs in braces and upper case, extra fields.
    let body = json!({
        "EventType": "new_activity",
        "CASE_ID": format!("{{{}}}", s.id.case_id().as_uuid().to_string().to_uppercase()),
        "ActivityID": act.to_string().to_uppercase(),
        "ProcessName": "casebridge reply",
    });
    let (status, _) = send(&w, call("/creatio/reply", Some(&bearer()), &body)).await;
    assert_eq!(status, 200);
    assert_eq!(w.twilio.sent().len(), 1);
    let cases = [
        (json!({"event_type": "new_activity"}), "caseId is missing"),
        (
            json!({"event_type": "new_activity", "caseId": "12345"}),
            "caseId is not a GUID",
        ),
        (
            json!({"event_type": "new_activity", "caseId": uuid::Uuid::new_v4().to_string()}),
            "activityId is missing",
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
}

fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TWILIO_TOKEN.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_resolved_case_closes_the_conversation_and_the_next_sms_gets_the_assistant() {
    let w = world().await;
    let s = with_agent(&w, ann()).await;
    let update =
        json!({"event_type": "case_updated", "caseId": s.id.case_id().as_uuid().to_string()});
    // Still open: nothing happens.
    let (_, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!(b["status"], "ignored: the case is still open");
    // The rep resolves it.
    w.deps
        .creatio
        .patch(
            "Case",
            s.id.case_id().as_uuid(),
            json!({"StatusId": RESOLVED}),
        )
        .await
        .unwrap();
    let (status, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!((status, b["status"].as_str()), (200, Some("closed")));
    assert_eq!(
        w.store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
    let sent = w.twilio.sent();
    assert_eq!(sent.len(), 1, "the closing notice");
    assert!(sent[0].body.contains("resolved"));
    // The customer's next SMS opens a new session, and the assistant answers it.
    let sms = sms_inbound::Deps {
        concierge: Concierge::embedded_default(),
        auth_token: TWILIO_TOKEN.to_owned().into(),
        public_base_url: Some(BaseUrl::parse("PUBLIC_BASE_URL", "https://cb.example.com").unwrap()),
        default_country: DefaultCountry::US,
        idle_timeout: jiff::SignedDuration::from_hours(3),
    };
    let params = [
        ("MessageSid", "SM900"),
        ("From", ANN),
        ("To", OURS),
        ("Body", "What is your return policy?"),
    ];
    let req = http::Request::builder()
        .method("POST")
        .uri("https://x/sms/inbound")
        .header(
            "x-twilio-signature",
            twilio_signature("https://cb.example.com/sms/inbound", &params),
        )
        .body(Body::from(
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        ))
        .unwrap();
    let r = sms_inbound::handler(&w.store, &sms, req).await.unwrap();
    let Body::Text(xml) = r.body() else {
        panic!("TwiML")
    };
    assert!(xml.contains("30 days"), "{xml}");
    let key = ConversationKey::new(Channel::Sms, ann(), OURS);
    let next = w.store.active_session(&key).await.unwrap().unwrap();
    assert_ne!(next.id, s.id);
    assert_eq!(next.state, SessionState::Assistant);
    // The same update again changes nothing.
    let (_, b) = send(&w, call("/creatio/reply", Some(&bearer()), &update)).await;
    assert_eq!(b["status"], "ignored: already closed");
    assert_eq!(w.twilio.sent().len(), 1);
}
