//! Texts in the customer's language: the conversation's language is detected from what the
//! customer writes, every fixed text comes from the settings in that language (falling back to
//! the default one), and each language's way of asking for a person is understood.

use casebridge::assistant::openai::system_prompt;
use casebridge::assistant::{Concierge, Decision, HandoffReason, Settings};
use casebridge::domain::*;

fn session() -> Session {
    let customer = Customer::Phone(PhoneNumber::parse("+15551230001", None).unwrap());
    Session::open(
        ConversationKey::new(Channel::Sms, customer, "+15557654321"),
        test_support::now(),
    )
}

fn transcript(customer_texts: &[&str]) -> Vec<Message> {
    customer_texts
        .iter()
        .enumerate()
        .map(|(i, t)| Message {
            seq: i as u64 + 1,
            role: Role::Customer,
            text: MessageText::parse(t).unwrap(),
            provider_id: None,
            at: test_support::now(),
            attachments: vec![],
            delivery: None,
            fallback: false,
            card: None,
        })
        .collect()
}

async fn respond(texts: &[&str]) -> Decision {
    Concierge::embedded_default()
        .respond(&session(), &transcript(texts), test_support::now())
        .await
}

fn notice(d: &Decision) -> &str {
    match d {
        Decision::Handoff {
            reason: HandoffReason::CustomerAsked,
            notice,
        } => notice.as_str(),
        other => panic!("a handoff on request, not {other:?}"),
    }
}

#[tokio::test]
async fn each_language_asks_for_a_person_its_own_way_and_hears_its_own_notice() {
    for (asked, heard) in [
        (
            "Quiero hablar con una persona, por favor",
            "te paso con una persona",
        ),
        (
            "Ich möchte mit einem Menschen sprechen",
            "verbinde Sie mit einem Mitarbeiter",
        ),
        (
            "Je voudrais parler à un conseiller s'il vous plaît",
            "je vous mets en relation",
        ),
        (
            "Eu quero falar com um atendente agora",
            "vou passar você para um atendente",
        ),
        (
            "I would like to talk to a real person please",
            "connecting you with a person",
        ),
    ] {
        let d = respond(&[asked]).await;
        assert!(notice(&d).contains(heard), "{asked}: {d:?}");
    }
}

#[tokio::test]
async fn a_language_once_clear_is_kept_through_short_replies() {
    // GIVEN a conversation in Spanish WHEN the customer then writes "ok?" (too short to tell)
    let d = respond(&["¿Venden bicicletas para niños pequeños?", "ok?"]).await;
    // THEN the fallback is the Spanish one
    match d {
        Decision::Reply {
            text,
            fallback: true,
            ..
        } => assert!(text.as_str().contains("no tengo respuesta"), "{text:?}"),
        other => panic!("the fallback, not {other:?}"),
    }
}

#[tokio::test]
async fn a_language_without_texts_of_its_own_hears_the_default_ones() {
    // GIVEN settings with Spanish texts only
    let doc = include_str!("../src/assistant/default.toml");
    let cut = doc.find("[texts.de]").unwrap();
    let settings = Settings::parse(&doc[..cut]).unwrap();
    let c = Concierge::new(
        std::sync::Arc::new(casebridge::assistant::rules::RulesAssistant::default()),
        std::sync::Arc::new(settings),
    );
    // WHEN a German customer asks something nobody answers THEN the English fallback
    let d = c
        .respond(
            &session(),
            &transcript(&["Verkaufen Sie auch Fahrräder für kleine Kinder?"]),
            test_support::now(),
        )
        .await;
    assert!(
        matches!(&d, Decision::Reply { text, fallback: true, .. } if text.as_str().starts_with("Sorry")),
        "{d:?}"
    );
}

#[test]
fn texts_for_an_unknown_language_or_without_when_are_refused() {
    let base = include_str!("../src/assistant/default.toml");
    let err = Settings::parse(&format!("{base}\n[texts.xx]\ngreeting = \"hi\"\n")).unwrap_err();
    assert!(err.to_string().contains("texts.xx"), "{err}");
    let doc = base.replacen(
        "una persona te responderá {when}.",
        "una persona te responderá pronto.",
        1,
    );
    let err = Settings::parse(&doc).unwrap_err();
    assert!(
        err.to_string().contains("texts.es.after_hours_notice"),
        "{err}"
    );
}

#[test]
fn the_model_is_told_to_answer_in_the_customers_language() {
    let s = Settings::embedded();
    assert!(system_prompt(&s, Channel::Sms, Some(Language::Es)).contains("answer in Spanish"));
    assert!(system_prompt(&s, Channel::Sms, None).contains("language the customer writes in"));
}
