//! The SMS webhook as Twilio drives it. Requests are signed here from Twilio's documented
//! algorithm (HMAC-SHA1 over the URL and the sorted parameters, base64), independently of the
//! code under test. Most tests run on the memory store; the cost test runs on DynamoDB (moto).

use base64::Engine;
use std::sync::Arc;

use casebridge::assistant::Concierge;
use casebridge::config::{BaseUrl, TwilioConfig, TwilioSender};
use casebridge::domain::*;
use casebridge::http::RetryPolicy;
use casebridge::sms::twilio::TwilioClient;
use casebridge::sms::{Delivery, SendError, SmsProvider, deliver};
use casebridge::store::memory::MemoryStore;
use casebridge::store::{Consent, Store};
use creatio_sandbox::twilio::TwilioStandIn;
use jiff::SignedDuration;
use lambda_http::{Body, Request, Response};
use sms_inbound::{Deps, handle};

use secrecy::ExposeSecret;

const TOKEN: &str = "twilio-auth-token-for-tests";
const BASE: &str = "https://cb.example.com";
const OURS: &str = "+15557654321";
const ANN: &str = "+15551230001";
use test_support::now;

/// The SMS function as deployed with Twilio's settings and the embedded assistant.
fn deps() -> Deps {
    Deps::from_config(&test_support::config(&[
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_FROM", OURS),
        ("PUBLIC_BASE_URL", BASE),
    ]))
    .unwrap()
}

fn twilio_signature(url: &str, params: &[(&str, &str)]) -> String {
    test_support::twilio::signature(TOKEN, url, params)
}

fn encode(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// A request as API Gateway hands it over; `signature` None means no header.
fn request(path: &str, params: &[(&str, &str)], signature: Option<String>) -> Request {
    let mut b = http::Request::builder()
        .method("POST")
        // What API Gateway reconstructs differs from the public URL Twilio signed.
        .uri(format!(
            "https://abc123.execute-api.us-east-1.amazonaws.com{path}"
        ))
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(sig) = signature {
        b = b.header("x-twilio-signature", sig);
    }
    b.body(Body::from(encode(params))).unwrap()
}

fn signed(path: &str, params: &[(&str, &str)]) -> Request {
    let sig = twilio_signature(&format!("{BASE}{path}"), params);
    request(path, params, Some(sig))
}

fn sms_params<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", OURS),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", ANN),
        ("ApiVersion", "2010-04-01"),
        ("FromCity", "SPRINGFIELD"),
    ]
}

async fn text_sms(store: &dyn Store, sid: &str, body: &str) -> Response<Body> {
    handle(
        store,
        &deps(),
        signed("/sms/inbound", &sms_params(sid, body)),
        now(),
    )
    .await
}

fn body(r: &Response<Body>) -> String {
    match r.body() {
        Body::Text(t) => t.clone(),
        Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        _ => String::new(),
    }
}

/// The `<Message>` text of a TwiML answer, unescaped; None for `<Response/>`.
fn twiml_message(r: &Response<Body>) -> Option<String> {
    assert_eq!(r.status(), 200, "{}", body(r));
    assert_eq!(r.headers()["content-type"], "text/xml");
    let b = body(r);
    let start = b.find("<Message>")? + "<Message>".len();
    let end = b.find("</Message>")?;
    Some(
        b[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

fn ann_key() -> ConversationKey {
    ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(ANN, None).unwrap()),
        OURS,
    )
}

async fn ann_transcript(store: &dyn Store) -> (Session, Vec<Message>) {
    let s = store.active_session(&ann_key()).await.unwrap().unwrap();
    store.transcript(s.id).await.unwrap().unwrap()
}

fn roles(t: &[Message]) -> Vec<Role> {
    t.iter().map(|m| m.role).collect()
}

// ---- signatures ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_signed_message_is_answered_with_twiml() {
    let store = MemoryStore::new();
    let r = text_sms(&store, "SM001", "What is your return policy?").await;
    let reply = twiml_message(&r).expect("a reply");
    assert!(reply.contains("30 days"), "{reply}");
    let (session, t) = ann_transcript(&store).await;
    assert_eq!(session.state, SessionState::Assistant);
    assert_eq!(roles(&t), [Role::Customer, Role::Assistant]);
    assert_eq!(t[0].text.as_str(), "What is your return policy?");
    assert_eq!(t[0].provider_id.as_ref().unwrap().as_str(), "SM001");
}

#[tokio::test]
async fn while_the_twilio_token_is_rotated_webhooks_signed_with_either_pass() {
    // GIVEN TWILIO_AUTH_TOKEN holding the new (secondary) token and the old primary one
    const NEW: &str = "twilio-secondary-token-for-tests";
    let both = format!("{NEW} {TOKEN}");
    let config = test_support::config(&[
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", &both),
        ("TWILIO_FROM", OURS),
        ("PUBLIC_BASE_URL", BASE),
    ]);
    // THEN sends authenticate with the new one, and the old one is only ever checked
    let twilio = config.twilio().unwrap();
    assert_eq!(twilio.auth_token.expose_secret(), NEW);
    assert_eq!(
        twilio
            .previous_auth_token
            .as_ref()
            .map(|t| t.expose_secret()),
        Some(TOKEN)
    );
    let deps = Deps::from_config(&config).unwrap();
    let store = MemoryStore::new();
    // AND a webhook signed with the old token (before the promotion) or the new one (after)
    // is answered, and one signed with anything else is refused
    let url = format!("{BASE}/sms/inbound");
    for (sid, token, want) in [
        ("SM701", TOKEN, 200),
        ("SM702", NEW, 200),
        ("SM703", "some-other-twilio-token", 403),
    ] {
        let params = sms_params(sid, "What is your return policy?");
        let sig = test_support::twilio::signature(token, &url, &params);
        let r = handle(
            &store,
            &deps,
            request("/sms/inbound", &params, Some(sig)),
            now(),
        )
        .await;
        assert_eq!(r.status(), want, "{sid}");
    }
    // AND three tokens are a configuration mistake, named at start-up
    let three = format!("{NEW} {TOKEN} third-token-0000");
    let err = casebridge::config::Config::from_source(&std::collections::HashMap::from([
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", three.as_str()),
        ("TWILIO_FROM", OURS),
    ]))
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("TWILIO_AUTH_TOKEN"), "{err}");
}

#[tokio::test]
async fn missing_or_wrong_signatures_are_refused_and_store_nothing() {
    let store = MemoryStore::new();
    let params = sms_params("SM002", "hello");
    let cases = [
        ("missing", request("/sms/inbound", &params, None)),
        (
            "wrong key",
            request(
                "/sms/inbound",
                &params,
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
            ),
        ),
        (
            // Signed for another URL (the API Gateway one): not what Twilio called.
            "wrong url",
            request(
                "/sms/inbound",
                &params,
                Some(twilio_signature(
                    "https://abc123.execute-api.us-east-1.amazonaws.com/sms/inbound",
                    &params,
                )),
            ),
        ),
        ("tampered body", {
            let sig = twilio_signature(&format!("{BASE}/sms/inbound"), &params);
            request("/sms/inbound", &sms_params("SM002", "hellO"), Some(sig))
        }),
    ];
    for (what, req) in cases {
        let r = handle(&store, &deps(), req, now()).await;
        assert_eq!(r.status(), 403, "{what}");
        assert_eq!(r.headers()["content-type"], "application/json", "{what}");
        assert!(
            body(&r).contains("X-Twilio-Signature"),
            "{what}: {}",
            body(&r)
        );
    }
    assert!(store.all_sessions().is_empty(), "nothing stored");
}

#[tokio::test]
async fn the_port_443_variant_and_query_strings_are_signed_as_twilio_does() {
    let store = MemoryStore::new();
    let params = sms_params("SM003", "hours?");
    // Twilio was configured with the explicit port.
    let sig = twilio_signature("https://cb.example.com:443/sms/inbound", &params);
    let r = handle(
        &store,
        &deps(),
        request("/sms/inbound", &params, Some(sig)),
        now(),
    )
    .await;
    assert!(twiml_message(&r).is_some());
    // A query string is part of the signed URL.
    let params = sms_params("SM004", "hours?");
    let sig = twilio_signature(&format!("{BASE}/sms/inbound?site=eu"), &params);
    let r = handle(
        &store,
        &deps(),
        request("/sms/inbound?site=eu", &params, Some(sig.clone())),
        now(),
    )
    .await;
    assert!(twiml_message(&r).is_some());
    // The same signature without the query is wrong.
    let r = handle(
        &store,
        &deps(),
        request("/sms/inbound", &params, Some(sig)),
        now(),
    )
    .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn without_public_base_url_the_host_twilio_called_is_signed() {
    let store = MemoryStore::new();
    let mut d = deps();
    d.public_base_url = None;
    let params = sms_params("SM006b", "hours?");
    let sig = twilio_signature(
        "https://abc123.execute-api.us-east-1.amazonaws.com/sms/inbound",
        &params,
    );
    let mut req = request("/sms/inbound", &params, Some(sig));
    req.headers_mut().insert(
        "host",
        http::HeaderValue::from_static("abc123.execute-api.us-east-1.amazonaws.com"),
    );
    let r = handle(&store, &d, req, now()).await;
    assert!(twiml_message(&r).is_some());
    // Another host is another URL.
    let params = sms_params("SM006c", "hours?");
    let sig = twilio_signature(
        "https://abc123.execute-api.us-east-1.amazonaws.com/sms/inbound",
        &params,
    );
    let mut req = request("/sms/inbound", &params, Some(sig));
    req.headers_mut()
        .insert("host", http::HeaderValue::from_static("evil.example.com"));
    assert_eq!(handle(&store, &d, req, now()).await.status(), 403);
}

#[tokio::test]
async fn a_base64_encoded_body_from_api_gateway_is_read() {
    let store = MemoryStore::new();
    let params = sms_params("SM005", "Do you ship to Canada? 🚚 & more");
    let sig = twilio_signature(&format!("{BASE}/sms/inbound"), &params);
    let event = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /sms/inbound",
        "rawPath": "/sms/inbound",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/x-www-form-urlencoded",
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-twilio-signature": sig,
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123", "requestId": "r1", "routeKey": "POST /sms/inbound", "stage": "$default",
            "time": "14/Jan/2026:15:00:00 +0000", "timeEpoch": 1768402800000u64,
            "http": {"method": "POST", "path": "/sms/inbound", "protocol": "HTTP/1.1", "sourceIp": "54.1.2.3", "userAgent": "TwilioProxy/1.1"}
        },
        "body": base64::engine::general_purpose::STANDARD.encode(encode(&params)),
        "isBase64Encoded": true
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let r = handle(&store, &deps(), req, now()).await;
    assert_eq!(r.status(), 200, "{}", body(&r));
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(t[0].text.as_str(), "Do you ship to Canada? 🚚 & more");
}

#[tokio::test]
async fn malformed_input_is_a_json_400_and_stores_nothing() {
    let store = MemoryStore::new();
    let mut no_from = sms_params("SM006", "hi");
    no_from.retain(|(k, _)| *k != "From");
    let mut bad_from = sms_params("SM007", "hi");
    for p in bad_from.iter_mut().filter(|(k, _)| *k == "From") {
        p.1 = "+1555' or 1=1";
    }
    let mut bad_media = sms_params("SM008", "hi");
    for p in bad_media.iter_mut().filter(|(k, _)| *k == "NumMedia") {
        p.1 = "lots";
    }
    for (what, params) in [
        ("no From", no_from),
        ("bad From", bad_from),
        ("bad NumMedia", bad_media),
    ] {
        let r = handle(&store, &deps(), signed("/sms/inbound", &params), now()).await;
        assert_eq!(r.status(), 400, "{what}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert!(serde_json::from_str::<serde_json::Value>(&body(&r)).unwrap()["error"].is_string());
    }
    assert!(store.all_sessions().is_empty());
    // A GET, or another path, is not a webhook.
    let get = http::Request::builder()
        .method("GET")
        .uri("https://x/sms/inbound")
        .body(Body::Empty)
        .unwrap();
    assert_eq!(handle(&store, &deps(), get, now()).await.status(), 405);
}

// ---- delivery semantics -----------------------------------------------------------------------

#[tokio::test]
async fn the_same_message_sid_three_times_is_stored_once_and_answered_alike() {
    let store = MemoryStore::new();
    let mut answers = Vec::new();
    for _ in 0..3 {
        let r = text_sms(&store, "SM010", "How long does shipping take?").await;
        answers.push(twiml_message(&r));
    }
    assert!(answers[0].as_deref().unwrap().contains("2 business days"));
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(roles(&t), [Role::Customer, Role::Assistant], "stored once");
}

#[tokio::test]
async fn a_retry_after_a_lost_reply_gets_the_reply() {
    // GIVEN the message was stored but the first delivery died before the reply was
    let store = MemoryStore::new();
    let (s, _) = store.find_or_open(&ann_key(), now()).await.unwrap();
    let msg = NewMessage::new(
        Role::Customer,
        MessageText::parse("return policy?").unwrap(),
    )
    .with_provider_id(ProviderMessageId::parse("SM011").unwrap());
    store.append(&s, vec![msg], None, now()).await.unwrap();
    // WHEN Twilio retries THEN the customer gets the answer, and the message is not doubled
    let r = text_sms(&store, "SM011", "return policy?").await;
    assert!(twiml_message(&r).unwrap().contains("30 days"));
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(roles(&t), [Role::Customer, Role::Assistant]);
}

#[tokio::test]
async fn a_question_answered_only_on_a_retry_is_still_recorded_as_unanswered() {
    // GIVEN a question nothing covers, stored by a first delivery that died before answering
    let store = MemoryStore::new();
    let (s, _) = store.find_or_open(&ann_key(), now()).await.unwrap();
    let question = "Do you sell bicycles for children?";
    let msg = NewMessage::new(Role::Customer, MessageText::parse(question).unwrap())
        .with_provider_id(ProviderMessageId::parse("SM012").unwrap());
    store.append(&s, vec![msg], None, now()).await.unwrap();
    // WHEN Twilio retries and the assistant can only fall back
    text_sms(&store, "SM012", question).await;
    // THEN the question is listed for `casebridge knowledge gaps`, once
    let gaps = store
        .gaps(now() - jiff::SignedDuration::from_hours(1), now())
        .await
        .unwrap();
    let questions: Vec<&str> = gaps.iter().map(|g| g.question.as_str()).collect();
    assert_eq!(questions, [question]);
}

#[tokio::test]
async fn an_sms_about_an_order_is_answered_from_the_shop_with_the_phone_bound() {
    use creatio_sandbox::shop::{ShopStandIn, sample_orders};
    // GIVEN the SMS function deployed with the shop's order actions
    let shop = ShopStandIn::start("shop-token", sample_orders())
        .await
        .unwrap();
    let settings = test_support::with_shop_actions(&shop.url, "shop-token");
    let deps = Deps::from_config(&test_support::config(&[
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_FROM", OURS),
        ("PUBLIC_BASE_URL", BASE),
        ("CASEBRIDGE_CONFIG", settings.to_str().unwrap()),
    ]))
    .unwrap();
    let store = MemoryStore::new();
    // WHEN Ann texts about her order
    let r = handle(
        &store,
        &deps,
        signed(
            "/sms/inbound",
            &sms_params("SM0A1", "where is my order 5511"),
        ),
        now(),
    )
    .await;
    // THEN the reply is the order's status, found with the number the SMS came from
    let answer = twiml_message(&r).unwrap();
    assert!(answer.starts_with("Order 5511: shipped."), "{answer}");
    assert_eq!(shop.requests()[0].query["phone"], ANN);
    // AND the transcript keeps which action answered
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(t[1].card.as_ref().unwrap().action, "order_status");
    std::fs::remove_file(settings).ok();
}

#[tokio::test]
async fn asking_for_a_person_hands_off_and_then_the_assistant_is_silent() {
    let store = MemoryStore::new();
    let r = text_sms(&store, "SM020", "I need to talk to a human").await;
    let notice = twiml_message(&r).unwrap();
    assert!(notice.contains("connecting you with a person"), "{notice}");
    let (session, _) = ann_transcript(&store).await;
    assert_eq!(session.state, SessionState::HandoffRequested);
    assert_eq!(
        session.handoff_reason.as_deref(),
        Some("customer asked for a person")
    );
    // Later messages are stored for the agent, and not answered.
    let r = text_sms(&store, "SM021", "What is your return policy?").await;
    assert_eq!(twiml_message(&r), None);
    assert!(body(&r).ends_with("<Response/>"));
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(roles(&t), [Role::Customer, Role::Assistant, Role::Customer]);
}

#[tokio::test]
async fn replies_are_xml_escaped() {
    let store = MemoryStore::new();
    // The fallback of a custom FAQ answer with markup characters.
    let doc = include_str!("../../../shared/src/assistant/default.toml").replacen(
        "Sorry, I don't have an answer for that.",
        // TOML escapes the quotes; the text itself is `Sorry, 2 < 3 & "no" answer.` (a `<tag>`
        // would be stripped as HTML before it got here: SMS is plain text).
        "Sorry, 2 < 3 & \\\"no\\\" answer.",
        1,
    );
    let mut d = deps();
    d.concierge = Concierge::new(
        Arc::new(casebridge::assistant::rules::RulesAssistant::default()),
        Arc::new(casebridge::assistant::Settings::parse(&doc).unwrap()),
    );
    let r = handle(
        &store,
        &d,
        signed("/sms/inbound", &sms_params("SM030", "bicycles?")),
        now(),
    )
    .await;
    let raw = body(&r);
    assert!(
        raw.contains("<Message>Sorry, 2 &lt; 3 &amp; &quot;no&quot; answer."),
        "{raw}"
    );
}

#[tokio::test]
async fn an_idle_session_with_the_assistant_gives_way_to_a_new_one() {
    let store = MemoryStore::new();
    text_sms(&store, "SM040", "What are your opening hours?").await;
    let (first, _) = ann_transcript(&store).await;
    assert_eq!(first.state, SessionState::Assistant);
    // 4 hours later (idle timeout 3 h) the customer starts over with the assistant.
    let later = now() + SignedDuration::from_hours(4);
    let r = handle(
        &store,
        &deps(),
        signed(
            "/sms/inbound",
            &sms_params("SM041", "What is your return policy?"),
        ),
        later,
    )
    .await;
    assert!(twiml_message(&r).unwrap().contains("30 days"));
    let (second, t) = ann_transcript(&store).await;
    assert_ne!(second.id, first.id);
    assert_eq!(t.len(), 2);
    assert_eq!(
        store.session(first.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
    // Within the timeout, the session continues.
    let r = handle(
        &store,
        &deps(),
        signed("/sms/inbound", &sms_params("SM042", "hours?")),
        later + SignedDuration::from_hours(1),
    )
    .await;
    assert!(twiml_message(&r).is_some());
    assert_eq!(ann_transcript(&store).await.0.id, second.id);
}

#[tokio::test]
async fn a_conversation_a_person_holds_is_never_idle_closed() {
    let store = MemoryStore::new();
    text_sms(&store, "SM043", "agent").await;
    let (first, _) = ann_transcript(&store).await;
    assert_eq!(first.state, SessionState::HandoffRequested);
    // A week later: stored on the same session, and the assistant stays silent.
    let later = now() + SignedDuration::from_hours(24 * 7);
    let r = handle(
        &store,
        &deps(),
        signed("/sms/inbound", &sms_params("SM044", "still waiting")),
        later,
    )
    .await;
    assert_eq!(twiml_message(&r), None);
    let (same, t) = ann_transcript(&store).await;
    assert_eq!(same.id, first.id);
    assert_eq!(same.state, SessionState::HandoffRequested);
    assert_eq!(t.last().unwrap().text.as_str(), "still waiting");
}

#[tokio::test]
async fn mms_media_are_kept_as_references() {
    let store = MemoryStore::new();
    let url0 = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1";
    let url1 = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME2";
    let mut params = sms_params("MM050", "");
    for p in params.iter_mut().filter(|(k, _)| *k == "NumMedia") {
        p.1 = "2";
    }
    params.extend([
        ("MediaUrl0", url0),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", url1),
        ("MediaContentType1", "application/pdf"),
    ]);
    let r = handle(&store, &deps(), signed("/sms/inbound", &params), now()).await;
    assert_eq!(r.status(), 200);
    let (_, t) = ann_transcript(&store).await;
    assert_eq!(t[0].text.as_str(), "[2 attachment(s)]");
    assert_eq!(
        t[0].attachments,
        [
            Attachment {
                url: url0.into(),
                content_type: Some("image/jpeg".into())
            },
            Attachment {
                url: url1.into(),
                content_type: Some("application/pdf".into())
            }
        ]
    );
}

// ---- compliance ---------------------------------------------------------------------------------

#[tokio::test]
async fn stop_start_and_help() {
    let store = MemoryStore::new();
    let ann = Customer::Phone(PhoneNumber::parse(ANN, None).unwrap());
    // HELP answers the configured help text.
    let r = text_sms(&store, "SM060", "HELP").await;
    assert_eq!(
        twiml_message(&r).unwrap(),
        Concierge::embedded_default().settings().sms.help_text
    );
    // STOP: consent recorded, no reply, a note for the agent.
    let r = text_sms(&store, "SM061", "Stop").await;
    assert_eq!(twiml_message(&r), None);
    assert!(matches!(
        store.consent(&ann).await.unwrap(),
        Consent::OptedOut { .. }
    ));
    // Anything after STOP is stored, never answered, HELP included.
    assert_eq!(
        twiml_message(&text_sms(&store, "SM062", "What is your return policy?").await),
        None
    );
    assert_eq!(
        twiml_message(&text_sms(&store, "SM063", "help").await),
        None
    );
    // START: consent back, and the assistant answers again.
    assert_eq!(
        twiml_message(&text_sms(&store, "SM064", "START").await),
        None
    );
    assert_eq!(store.consent(&ann).await.unwrap(), Consent::Granted);
    assert!(
        twiml_message(&text_sms(&store, "SM065", "What is your return policy?").await).is_some()
    );
    let (_, t) = ann_transcript(&store).await;
    let texts: Vec<(Role, &str)> = t.iter().map(|m| (m.role, m.text.as_str())).collect();
    assert_eq!(texts[2].0, Role::Customer);
    assert_eq!(texts[2].1, "Stop");
    assert_eq!(texts[3].0, Role::System);
    assert!(texts[3].1.starts_with("Customer opted out of SMS"));
    assert_eq!(
        roles(&t),
        [
            Role::Customer, // HELP
            Role::Assistant,
            Role::Customer, // Stop
            Role::System,
            Role::Customer, // return policy (not answered)
            Role::Customer, // help (not answered)
            Role::Customer, // START
            Role::System,
            Role::Customer, // return policy
            Role::Assistant,
        ]
    );
    // A STOP redelivered after the START changes nothing: not the transcript, not the consent.
    assert_eq!(
        twiml_message(&text_sms(&store, "SM061", "Stop").await),
        None
    );
    assert_eq!(ann_transcript(&store).await.1.len(), 10);
    assert_eq!(store.consent(&ann).await.unwrap(), Consent::Granted);
}

// ---- status callbacks ---------------------------------------------------------------------------

async fn outbound(store: &dyn Store, sid: &str) -> (SessionId, u64) {
    let (s, _) = store.find_or_open(&ann_key(), now()).await.unwrap();
    let agent = NewMessage::new(
        Role::Agent,
        MessageText::parse("Your refund is on its way").unwrap(),
    );
    let casebridge::store::Appended::Stored { messages, .. } =
        store.append(&s, vec![agent], None, now()).await.unwrap()
    else {
        panic!("stored");
    };
    let seq = messages[0].seq;
    store
        .record_delivery(
            s.id,
            seq,
            DeliveryStatus::Queued,
            Some(&ProviderMessageId::parse(sid).unwrap()),
        )
        .await
        .unwrap();
    (s.id, seq)
}

fn status_params<'a>(
    sid: &'a str,
    status: &'a str,
    code: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", OURS),
        ("To", ANN),
        ("ApiVersion", "2010-04-01"),
    ];
    if let Some(c) = code {
        p.push(("ErrorCode", c));
    }
    p
}

#[tokio::test]
async fn status_callbacks_are_recorded_and_failures_reach_the_transcript() {
    let store = MemoryStore::new();
    let (id, seq) = outbound(&store, "SM070").await;
    let r = handle(
        &store,
        &deps(),
        signed("/sms/status", &status_params("SM070", "delivered", None)),
        now(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (_, t) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(
        t[seq as usize - 1].delivery,
        Some(DeliveryStatus::Delivered)
    );

    let (id, seq) = outbound(&store, "SM071").await;
    for _ in 0..2 {
        let r = handle(
            &store,
            &deps(),
            signed(
                "/sms/status",
                &status_params("SM071", "undelivered", Some("30003")),
            ),
            now(),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let (_, t) = store.transcript(id).await.unwrap().unwrap();
    assert_eq!(
        t[seq as usize - 1].delivery,
        Some(DeliveryStatus::Undelivered {
            error_code: Some("30003".into())
        })
    );
    let notes: Vec<&str> = t
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        notes,
        [
            "Reply not delivered: the handset is unreachable (switched off or out of coverage) (Twilio error 30003)"
        ],
        "one note however often the callback comes"
    );
    // Unsigned callbacks are refused; unknown messages acknowledged and ignored.
    let params = status_params("SM071", "delivered", None);
    let r = handle(
        &store,
        &deps(),
        request("/sms/status", &params, None),
        now(),
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = handle(
        &store,
        &deps(),
        signed(
            "/sms/status",
            &status_params("SM999", "failed", Some("30005")),
        ),
        now(),
    )
    .await;
    assert_eq!(r.status(), 200);
}

// ---- sending ------------------------------------------------------------------------------------

const SID: &str = "AC11111111111111111111111111111111";

async fn twilio() -> (TwilioStandIn, TwilioClient) {
    let stand_in = TwilioStandIn::start(SID, TOKEN).await.unwrap();
    let client = TwilioClient::new(
        casebridge::http::client(std::time::Duration::from_secs(5)).unwrap(),
        TwilioConfig {
            account_sid: SID.into(),
            auth_token: TOKEN.to_owned().into(),
            previous_auth_token: None,
            sender: TwilioSender::From(PhoneNumber::parse(OURS, None).unwrap()),
            api_url: BaseUrl::parse("TWILIO_API_URL", &stand_in.url).unwrap(),
        },
        Some(format!("{BASE}/sms/status")),
        RetryPolicy {
            attempts: 4,
            min_delay: std::time::Duration::from_millis(5),
            max_delay: std::time::Duration::from_millis(20),
        },
    );
    (stand_in, client)
}

fn ann() -> PhoneNumber {
    PhoneNumber::parse(ANN, None).unwrap()
}

#[tokio::test]
async fn sending_uses_basic_auth_and_the_documented_fields() {
    let (stand_in, client) = twilio().await;
    let sent = client
        .send(&ann(), "Your refund is on its way")
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].sid.as_str().starts_with("SM"));
    let got = stand_in.sent();
    assert_eq!(got[0].to, ANN);
    assert_eq!(got[0].from.as_deref(), Some(OURS));
    assert_eq!(got[0].body, "Your refund is on its way");
    assert_eq!(
        got[0].status_callback.as_deref(),
        Some("https://cb.example.com/sms/status")
    );
    // A long body goes as several messages, split at words.
    let long = "word ".repeat(500);
    assert_eq!(client.send(&ann(), &long).await.unwrap().len(), 2);
    assert!(
        stand_in.sent()[1..]
            .iter()
            .all(|s| s.body.chars().count() <= 1600)
    );
    // Wrong credentials are permanent and named.
    let wrong = TwilioClient::new(
        casebridge::http::client(std::time::Duration::from_secs(5)).unwrap(),
        TwilioConfig {
            account_sid: SID.into(),
            auth_token: "wrong".to_owned().into(),
            previous_auth_token: None,
            sender: TwilioSender::MessagingService("MG00000000000000000000000000000000".into()),
            api_url: BaseUrl::parse("TWILIO_API_URL", &stand_in.url).unwrap(),
        },
        None,
        RetryPolicy::default(),
    );
    assert_eq!(wrong.send(&ann(), "x").await, Err(SendError::Credentials));
}

#[tokio::test]
async fn throttling_is_retried_and_sends_exactly_once() {
    let (stand_in, client) = twilio().await;
    stand_in.fail_next(&[429, 503]);
    let sent = client.send(&ann(), "hello").await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(stand_in.attempts(), 3);
    assert_eq!(stand_in.sent().len(), 1);
    // Throttled beyond the retry budget: transient, for the caller to retry later.
    stand_in.fail_next(&[429, 429, 429, 429]);
    assert!(matches!(
        client.send(&ann(), "again").await,
        Err(SendError::Transient(_))
    ));
    assert_eq!(stand_in.sent().len(), 1);
}

#[tokio::test]
async fn an_opted_out_customer_is_recorded_and_not_sent_to_again() {
    let (stand_in, client) = twilio().await;
    let store = MemoryStore::new();
    let (id, seq) = outbound(&store, "SM080").await;
    // GIVEN Twilio knows Ann replied STOP (say, to another app on the number)
    stand_in.opt_out(ANN);
    // WHEN an agent reply is delivered THEN 21610 is recorded as consent and on the message
    let d = deliver(&store, &client, id, seq, &ann(), "hi", now())
        .await
        .unwrap();
    assert_eq!(d, Delivery::OptedOut);
    assert!(matches!(
        store.consent(&Customer::Phone(ann())).await.unwrap(),
        Consent::OptedOut { .. }
    ));
    let (_, t) = store.transcript(id).await.unwrap().unwrap();
    assert!(matches!(
        t[seq as usize - 1].delivery,
        Some(DeliveryStatus::NotSent { .. })
    ));
    // AND the next reply is not even attempted
    let attempts = stand_in.attempts();
    let d = deliver(&store, &client, id, seq, &ann(), "hi again", now())
        .await
        .unwrap();
    assert_eq!(d, Delivery::OptedOut);
    assert_eq!(stand_in.attempts(), attempts);
    assert!(stand_in.sent().is_empty());
}

// ---- cost ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_answered_sms_costs_two_reads_and_one_transaction() {
    let Some((store, counter)) = test_support::moto::counted_store("sms-cost").await else {
        return;
    };
    // The conversation's first message also opens the session.
    text_sms(&store, "SM090", "hi").await;
    counter.take();
    // A message the assistant answers: the pointer and the consent in one batch read, the
    // session with its transcript in one query, the message and the reply in one transaction.
    let r = text_sms(&store, "SM091", "What is your return policy?").await;
    assert!(twiml_message(&r).is_some());
    let counts = counter.take();
    assert_eq!(counts.get("BatchGetItem"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("Query"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("TransactWriteItems"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("GetItem"), None, "{counts:?}");
    eprintln!("DynamoDB requests for one answered inbound SMS: {counts:?}");
    // With an agent: one transaction, no reply.
    text_sms(&store, "SM092", "agent").await;
    counter.take();
    let r = text_sms(&store, "SM093", "any news?").await;
    assert_eq!(twiml_message(&r), None);
    let counts = counter.take();
    assert_eq!(counts.get("TransactWriteItems"), Some(&1), "{counts:?}");
}
