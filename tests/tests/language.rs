//! The customer's language, end to end: a Spanish SMS asking for a person is handed off with the
//! Spanish notice, the case the handoff creates in Creatio carries `es` in the configured
//! column (`CREATIO_CASE_LANGUAGE_COLUMN`, a custom `UsrLanguage` text column here), and when
//! the rep resolves it the customer is told so in Spanish. With `CREATIO_CONTACT_LANGUAGE=true`,
//! the language the team keeps on a known contact wins over the detected one.

use casebridge::domain::*;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{CustomColumn, Sandbox, SandboxConfig};
use serde_json::{Value, json};

const SID: &str = "AC00000000000000000000000000000025";
const TWILIO_TOKEN: &str = "language-twilio-token";
const OURS: &str = "+15550002525";
const ANA: &str = "+15551232525";
const BASE: &str = "https://cb.example.com";

/// A Creatio whose Case has a custom UsrLanguage column casebridge is told to fill, Twilio, and
/// the functions that answer Ana and hand her off.
struct World {
    sandbox: Sandbox,
    twilio: TwilioStandIn,
    store: MemoryStore,
    sms: sms_inbound::Deps,
    handoff: handoff::Deps,
}

async fn world(extra: &[(&'static str, &'static str)]) -> World {
    let sandbox = Sandbox::start(SandboxConfig {
        custom_columns: vec![CustomColumn::text("Case", "UsrLanguage", 10)],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let twilio = TwilioStandIn::start(SID, TWILIO_TOKEN).await.unwrap();
    let mut env = test_support::stack_env(BASE, &sandbox.url);
    env.extend([
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_FROM", OURS),
        ("TWILIO_API_URL", twilio.url.as_str()),
        ("CREATIO_CASE_LANGUAGE_COLUMN", "UsrLanguage"),
    ]);
    env.extend(extra.iter().copied());
    let config = test_support::config_of(&env);
    let mut handoff = handoff::Deps::from_config(&config).unwrap();
    handoff.creatio = handoff.creatio.with_retry(test_support::quick_retry(2));
    World {
        sms: sms_inbound::Deps::from_config(&config).unwrap(),
        handoff,
        sandbox,
        twilio,
        store: MemoryStore::new(),
    }
}

impl World {
    /// Ana's SMS; the TwiML answer's text.
    async fn ana_writes(&self, sid: &str, body: &str) -> String {
        let request = test_support::requests::twilio(
            TWILIO_TOKEN,
            &format!("{BASE}/sms/inbound"),
            &test_support::requests::inbound_sms(sid, SID, ANA, OURS, body),
        );
        let answer =
            sms_inbound::handle(&self.store, &self.sms, request, test_support::now()).await;
        assert_eq!(answer.status(), 200);
        match answer.body() {
            lambda_http::Body::Text(t) => t.clone(),
            _ => String::new(),
        }
    }

    async fn session(&self) -> Session {
        let key = ConversationKey::new(
            Channel::Sms,
            Customer::Phone(PhoneNumber::parse(ANA, None).unwrap()),
            OURS,
        );
        self.store.active_session(&key).await.unwrap().unwrap()
    }

    /// The handoff creates the case; the case as Creatio holds it.
    async fn hand_off(&self, session: &Session) -> serde_json::Map<String, Value> {
        handoff::sync::sync_session(&self.store, &self.handoff, session.id)
            .await
            .unwrap();
        self.sandbox
            .record("Case", session.id.case_id().as_uuid())
            .expect("the case is created")
    }

    /// The rep resolves the case and casebridge closes the conversation: the closing notice.
    async fn resolve(&self, session: &Session) -> String {
        self.handoff
            .creatio
            .patch(
                "Case",
                session.id.case_id().as_uuid(),
                json!({"StatusId": casebridge::creatio::base_ids::CASE_STATUS_RESOLVED}),
            )
            .await
            .unwrap();
        casebridge::replies::closure::close_if_closed(
            &self.store,
            &self.handoff.replies(),
            session.id.case_id(),
            None,
            test_support::now(),
        )
        .await
        .unwrap();
        let sent = self.twilio.sent();
        assert_eq!(sent.len(), 1, "the closing notice");
        sent[0].body.clone()
    }
}

#[tokio::test]
async fn a_spanish_sms_asking_for_a_person_gets_the_spanish_notice_and_es_on_the_case() {
    let w = world(&[]).await;
    // WHEN Ana writes in Spanish and then asks for a person
    w.ana_writes("SM25a", "Hola, mi pedido todavía no ha llegado a casa")
        .await;
    let twiml = w
        .ana_writes("SM25b", "Quiero hablar con una persona, por favor")
        .await;
    // THEN she is told in Spanish that a person will answer
    assert!(twiml.contains("te paso con una persona"), "{twiml}");
    let session = w.session().await;
    assert_eq!(session.state, SessionState::HandoffRequested);
    // AND the case the handoff creates says the conversation is in Spanish
    assert_eq!(w.hand_off(&session).await["UsrLanguage"], json!("es"));
    // WHEN the rep resolves the case THEN Ana is told in Spanish
    let notice = w.resolve(&session).await;
    assert!(notice.contains("Tu solicitud se ha resuelto"), "{notice}");
}

/// Ana is a known contact whose preferred language in Creatio is German; she writes in Spanish and
/// asks for a person, and the rep resolves the case. What the case's language column and the
/// closing notice say, with `CREATIO_CONTACT_LANGUAGE` as given.
async fn known_german_contact_writes_spanish(contact_language: &'static str) -> (Value, String) {
    let w = world(&[("CREATIO_CONTACT_LANGUAGE", contact_language)]).await;
    let german = creatio_sandbox::schema::SYS_LANGUAGES
        .iter()
        .find(|(_, _, code)| *code == "de-DE")
        .unwrap()
        .0;
    w.handoff
        .creatio
        .create(
            "Contact",
            uuid::Uuid::new_v4(),
            json!({"Name": "Ana Ruiz", "MobilePhone": ANA, "LanguageId": german}),
        )
        .await
        .unwrap();
    w.ana_writes("SM26a", "Hola, mi pedido todavía no ha llegado a casa")
        .await;
    w.ana_writes("SM26b", "Quiero hablar con una persona, por favor")
        .await;
    let session = w.session().await;
    let case = w.hand_off(&session).await;
    (case["UsrLanguage"].clone(), w.resolve(&session).await)
}

#[tokio::test]
async fn the_language_kept_on_a_known_contact_wins_when_asked_for() {
    // GIVEN CREATIO_CONTACT_LANGUAGE=true: the case and the notice are in Ana's German
    let (column, notice) = known_german_contact_writes_spanish("true").await;
    assert_eq!(column, json!("de"));
    assert!(notice.contains("Ihr Anliegen wurde erledigt"), "{notice}");
    // GIVEN the default (off): the detected Spanish
    let (column, notice) = known_german_contact_writes_spanish("false").await;
    assert_eq!(column, json!("es"));
    assert!(notice.contains("Tu solicitud se ha resuelto"), "{notice}");
}
