//! Answers from the team's own articles (`casebridge::knowledge`) through the rules assistant:
//! a paraphrased question finds its article and gets its link, a question nothing covers stays
//! unanswered (and hands off after `max_fallbacks`), an article deleted from or added to the
//! folder is seen at the next rebuild, and the local stack's sample folder answers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use casebridge::assistant::rules::RulesAssistant;
use casebridge::assistant::{Concierge, Decision, HandoffReason, Settings};
use casebridge::domain::*;
use casebridge::knowledge::{Knowledge, KnowledgeConfig, Language};
use jiff::Timestamp;

fn now() -> Timestamp {
    test_support::now()
}

/// A fresh folder holding `files` (name, content).
fn folder(files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kb-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
    dir
}

const WARRANTY: &str = "---\ntitle: Warranty and broken items\nurl: https://help.example.com/warranty\nkeywords: guarantee, defective, damaged\n---\n# Warranty\n\nEvery product carries a two-year warranty from delivery. If an item arrives damaged or stops working, we repair or replace it at no cost. Reply with your order number and a photo of the fault.\n";
const PASSWORD: &str = "<html><head><title>Resetting your password</title></head><body><h1>Resetting your password</h1><p>On the sign-in page, choose Forgot password and enter the e-mail address of your account. The link arrives within minutes.</p></body></html>";
const GIFT: &str = "Gift cards never expire and can be used online or in any store.\n";

fn concierge(dir: &Path, interval: Duration) -> Concierge {
    let config = KnowledgeConfig {
        sync_interval: interval,
        ..KnowledgeConfig::folder(dir)
    };
    let knowledge = Arc::new(Knowledge::new(config));
    Concierge::new(
        Arc::new(RulesAssistant::with_knowledge(knowledge.clone())),
        Arc::new(Settings::embedded()),
    )
    .with_knowledge(knowledge)
}

fn session(channel: Channel) -> Session {
    let customer = match channel {
        Channel::Sms => Customer::Phone(PhoneNumber::parse("+15551230001", None).unwrap()),
        Channel::Widget => Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap()),
    };
    Session::open(
        ConversationKey::new(channel, customer, "+15557654321"),
        now(),
    )
}

fn said(role: Role, text: &str, seq: u64, fallback: bool) -> Message {
    Message {
        seq,
        role,
        text: MessageText::parse(text).unwrap(),
        provider_id: None,
        at: now(),
        attachments: vec![],
        delivery: None,
        fallback,
        card: None,
    }
}

async fn ask(c: &Concierge, channel: Channel, question: &str) -> Decision {
    let transcript = vec![said(Role::Customer, question, 1, false)];
    c.respond(&session(channel), &transcript, now()).await
}

fn reply_text(d: &Decision) -> &str {
    match d {
        Decision::Reply {
            text,
            fallback: false,
            ..
        } => text.as_str(),
        other => panic!("an answer, not {other:?}"),
    }
}

#[tokio::test]
async fn a_paraphrased_question_is_answered_from_its_article_with_the_link() {
    // GIVEN a folder with a Markdown, an HTML and a plain-text article
    let dir = folder(&[
        ("warranty.md", WARRANTY),
        ("password.html", PASSWORD),
        ("gift-cards.txt", GIFT),
    ]);
    let c = concierge(&dir, Duration::from_secs(3600));
    // WHEN a customer texts a question in their own words (no word of the title)
    let d = ask(
        &c,
        Channel::Sms,
        "my blender arrived damaged, can you fix it?",
    )
    .await;
    // THEN the warranty passage answers, with the article's one link, within an SMS
    let text = reply_text(&d);
    assert!(text.contains("two-year warranty"), "{text}");
    assert!(
        text.ends_with("https://help.example.com/warranty"),
        "{text}"
    );
    assert!(text.chars().count() <= Settings::embedded().sms.max_chars);
    // AND in the widget the passage comes with the article's title and link
    let d = ask(
        &c,
        Channel::Widget,
        "I forgot my password and cannot sign in",
    )
    .await;
    let text = reply_text(&d);
    assert!(text.contains("Forgot password"), "{text}");
    assert!(text.contains("Resetting your password"), "{text}");
    // AND a plain-text file answers too (its title is its file name, it has no link)
    let d = ask(&c, Channel::Widget, "do gift cards expire?").await;
    assert!(reply_text(&d).contains("never expire"));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_question_nothing_covers_is_unanswered_and_then_handed_off() {
    let dir = folder(&[("warranty.md", WARRANTY), ("gift-cards.txt", GIFT)]);
    let c = concierge(&dir, Duration::from_secs(3600));
    let s = session(Channel::Sms);
    // WHEN a question no FAQ entry and no article covers is asked
    let first = vec![said(
        Role::Customer,
        "Do you sell bicycles for children?",
        1,
        false,
    )];
    let d = c.respond(&s, &first, now()).await;
    // THEN it is the fallback (an unanswered turn)
    assert!(matches!(d, Decision::Reply { fallback: true, .. }), "{d:?}");
    // AND the second in a row hands off (max_fallbacks = 2)
    let mut second = first;
    second.push(said(Role::Assistant, "Sorry, I don't know.", 2, true));
    second.push(said(
        Role::Customer,
        "What about tricycles for kids?",
        3,
        false,
    ));
    let d = c.respond(&s, &second, now()).await;
    assert!(
        matches!(
            d,
            Decision::Handoff {
                reason: HandoffReason::Unanswered { turns: 2 },
                ..
            }
        ),
        "{d:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn faq_entries_still_win_over_articles() {
    // GIVEN an article about returns as well as the embedded FAQ's return policy
    let dir = folder(&[(
        "returns.md",
        "# Returns\n\nReturns are accepted within 14 days for store credit only.\n",
    )]);
    let c = concierge(&dir, Duration::from_secs(3600));
    let d = ask(&c, Channel::Widget, "What is your return policy?").await;
    assert!(reply_text(&d).contains("30 days"), "{d:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn a_deleted_article_is_no_longer_used_and_a_new_one_is_after_the_interval() {
    let dir = folder(&[("warranty.md", WARRANTY)]);
    let knowledge = Arc::new(Knowledge::new(KnowledgeConfig {
        sync_interval: Duration::from_millis(50),
        ..KnowledgeConfig::folder(&dir)
    }));
    let c = Concierge::new(
        Arc::new(RulesAssistant::with_knowledge(knowledge.clone())),
        Arc::new(Settings::embedded()),
    );
    let question = "my blender arrived damaged, can you fix it?";
    assert!(reply_text(&ask(&c, Channel::Widget, question).await).contains("warranty"));
    // WHEN the article is deleted and a new one added
    std::fs::remove_file(dir.join("warranty.md")).unwrap();
    std::fs::write(dir.join("gift-cards.txt"), GIFT).unwrap();
    // THEN until the interval passes the index in memory still answers
    assert!(reply_text(&ask(&c, Channel::Widget, question).await).contains("warranty"));
    tokio::time::sleep(Duration::from_millis(60)).await;
    // AND after it the deleted article is gone and the new one answers
    let d = ask(&c, Channel::Widget, question).await;
    assert!(matches!(d, Decision::Reply { fallback: true, .. }), "{d:?}");
    assert!(
        reply_text(&ask(&c, Channel::Widget, "do gift cards expire?").await)
            .contains("never expire")
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_local_stacks_sample_folder_answers_out_of_the_box() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../local/knowledge");
    let c = concierge(&dir, Duration::from_secs(3600));
    let d = ask(
        &c,
        Channel::Widget,
        "the lamp I got is defective, what can I do?",
    )
    .await;
    assert!(reply_text(&d).contains("warranty"), "{d:?}");
    // A Spanish question finds the Spanish article first.
    let d = ask(
        &c,
        Channel::Widget,
        "mi pedido llegó roto, ¿tiene garantía?",
    )
    .await;
    assert!(reply_text(&d).contains("garantía de dos años"), "{d:?}");
}

#[test]
fn languages_are_detected_from_ten_characters_on() {
    assert_eq!(Language::detect("ok"), None);
    assert_eq!(
        Language::detect("Where is my order? It has not arrived yet."),
        Some(Language::En)
    );
    assert_eq!(
        Language::detect("¿Dónde está mi pedido? Todavía no ha llegado."),
        Some(Language::Es)
    );
    assert_eq!(
        Language::detect("Wo ist meine Bestellung? Sie ist noch nicht angekommen."),
        Some(Language::De)
    );
    assert_eq!(
        Language::detect("Où est ma commande ? Elle n'est pas encore arrivée."),
        Some(Language::Fr)
    );
    assert_eq!(
        Language::detect("Onde está o meu pedido? Ainda não chegou."),
        Some(Language::Pt)
    );
}

#[test]
fn a_bad_threshold_is_named_at_start_up() {
    let err = casebridge::config::Config::from_source(&std::collections::HashMap::from([(
        "CASEBRIDGE_KNOWLEDGE_THRESHOLD",
        "lots",
    )]))
    .unwrap_err();
    assert!(
        err.to_string().contains("CASEBRIDGE_KNOWLEDGE_THRESHOLD"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unanswered_question_is_recorded_with_how_close_the_best_article_came() {
    use casebridge::store::Store;
    use casebridge::store::memory::MemoryStore;
    let dir = folder(&[("warranty.md", WARRANTY)]);
    let c = concierge(&dir, Duration::from_secs(3600));
    let store = MemoryStore::new();
    let key = ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse("+15551230001", None).unwrap()),
        "+15557654321",
    );
    let ask = |text: &str| NewMessage::new(Role::Customer, MessageText::parse(text).unwrap());
    // WHEN one question is answered from an article and one is not
    for question in [
        "my blender arrived damaged, can you fix it?",
        "Do you sell bicycles for children?",
    ] {
        let (session, _) = store.find_or_open(&key, now()).await.unwrap();
        let transcript = store.recent(session.id, 40).await.unwrap().unwrap().1;
        casebridge::conversation::turn::take(
            &store,
            &c,
            &session,
            transcript,
            vec![ask(question)],
            None,
            now(),
        )
        .await
        .unwrap();
    }
    // THEN only the unanswered one is recorded, with its session and a score under the threshold
    let gaps = store
        .gaps(now() - jiff::SignedDuration::from_hours(1), now())
        .await
        .unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].question, "Do you sell bicycles for children?");
    assert!(gaps[0].score.is_some_and(|s| s < 0.4), "{gaps:?}");
    std::fs::remove_dir_all(dir).ok();
}
