//! The customer's language, end to end: a Spanish SMS asking for a person is handed off with the
//! Spanish notice, the case the handoff creates in Creatio carries `es` in the configured
//! column (`CREATIO_CASE_LANGUAGE_COLUMN`, a custom `UsrLanguage` text column here), and when
//! the rep resolves it the customer is told so in Spanish.

use casebridge::domain::*;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use creatio_sandbox::{CustomColumn, Sandbox, SandboxConfig};
use serde_json::json;

const SID: &str = "AC00000000000000000000000000000025";
const TWILIO_TOKEN: &str = "language-twilio-token";
const OURS: &str = "+15550002525";
const ANA: &str = "+15551232525";
const BASE: &str = "https://cb.example.com";

/// The TwiML answer's text.
fn said(answer: &lambda_http::Response<lambda_http::Body>) -> String {
    match answer.body() {
        lambda_http::Body::Text(t) => t.clone(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn a_spanish_sms_asking_for_a_person_gets_the_spanish_notice_and_es_on_the_case() {
    // GIVEN a Creatio whose Case has a custom UsrLanguage column casebridge is told to fill
    let sandbox = Sandbox::start(SandboxConfig {
        custom_columns: vec![CustomColumn::text("Case", "UsrLanguage", 10)],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let twilio = creatio_sandbox::twilio::TwilioStandIn::start(SID, TWILIO_TOKEN)
        .await
        .unwrap();
    let mut env = test_support::stack_env(BASE, &sandbox.url);
    env.extend([
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_FROM", OURS),
        ("TWILIO_API_URL", twilio.url.as_str()),
        ("CREATIO_CASE_LANGUAGE_COLUMN", "UsrLanguage"),
    ]);
    let config = test_support::config_of(&env);
    let sms = sms_inbound::Deps::from_config(&config).unwrap();
    let mut handoff = handoff::Deps::from_config(&config).unwrap();
    handoff.creatio = handoff.creatio.with_retry(test_support::quick_retry(2));
    let store = MemoryStore::new();
    let text = |sid: &'static str, body: &'static str| {
        test_support::requests::twilio(
            TWILIO_TOKEN,
            &format!("{BASE}/sms/inbound"),
            &test_support::requests::inbound_sms(sid, SID, ANA, OURS, body),
        )
    };
    // WHEN Ana writes in Spanish and then asks for a person
    let first = sms_inbound::handle(
        &store,
        &sms,
        text("SM25a", "Hola, mi pedido todavía no ha llegado a casa"),
        test_support::now(),
    )
    .await;
    assert_eq!(first.status(), 200);
    let answer = sms_inbound::handle(
        &store,
        &sms,
        text("SM25b", "Quiero hablar con una persona, por favor"),
        test_support::now(),
    )
    .await;
    // THEN she is told in Spanish that a person will answer
    let twiml = said(&answer);
    assert!(twiml.contains("te paso con una persona"), "{twiml}");
    let key = ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(ANA, None).unwrap()),
        OURS,
    );
    let session = store.active_session(&key).await.unwrap().unwrap();
    assert_eq!(session.state, SessionState::HandoffRequested);
    // AND the case the handoff creates says the conversation is in Spanish
    handoff::sync::sync_session(&store, &handoff, session.id)
        .await
        .unwrap();
    let case = sandbox
        .record("Case", session.id.case_id().as_uuid())
        .expect("the case is created");
    assert_eq!(case["UsrLanguage"], json!("es"));
    // WHEN the rep resolves the case THEN Ana is told in Spanish
    handoff
        .creatio
        .patch(
            "Case",
            session.id.case_id().as_uuid(),
            json!({"StatusId": casebridge::creatio::base_ids::CASE_STATUS_RESOLVED}),
        )
        .await
        .unwrap();
    casebridge::replies::closure::close_if_closed(
        &store,
        &handoff.replies(),
        session.id.case_id(),
        None,
        test_support::now(),
    )
    .await
    .unwrap();
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1, "the closing notice");
    assert!(
        sent[0].body.contains("Tu solicitud se ha resuelto"),
        "{}",
        sent[0].body
    );
}
