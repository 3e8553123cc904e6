//! The assistant policy ([`Concierge`]) over both implementations: the handoff triggers, silence
//! after handoff, the case brief, dropdown limits, business-hours wording, and the openai path
//! against a loopback stand-in of the chat-completions API that checks what it is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use casebridge::assistant::openai::{HANDOFF_TOOL, OpenAiAssistant, UNABLE_TOOL};
use casebridge::assistant::rules::RulesAssistant;
use casebridge::assistant::*;
use casebridge::config::BaseUrl;
use casebridge::domain::*;
use jiff::Timestamp;
use serde_json::{Value, json};

// Wednesday 2026-01-14 10:00 in New York: inside the default business hours.
const OPEN: &str = "2026-01-14T15:00:00Z";
// Saturday 2026-01-17 10:00 in New York.
const WEEKEND: &str = "2026-01-17T15:00:00Z";

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn session(channel: Channel, state: SessionState) -> Session {
    let customer = match channel {
        Channel::Sms => Customer::Phone(PhoneNumber::parse("+15551230001", None).unwrap()),
        Channel::Widget => Customer::Email(VerifiedEmail::parse("ann.lee@example.com").unwrap()),
    };
    let mut s = Session::open(
        ConversationKey::new(channel, customer, "+15557654321"),
        at(OPEN),
    );
    s.state = state;
    s
}

/// A transcript from (role, text) pairs; fallback turns marked with a leading `?`.
fn transcript(turns: &[(Role, &str)]) -> Vec<Message> {
    turns
        .iter()
        .enumerate()
        .map(|(i, (role, text))| {
            let (fallback, text) = match text.strip_prefix('?') {
                Some(t) => (true, t),
                None => (false, *text),
            };
            Message {
                seq: i as u64 + 1,
                role: *role,
                text: MessageText::parse(text).unwrap(),
                provider_id: None,
                at: at(OPEN),
                attachments: vec![],
                delivery: None,
                fallback,
                card: None,
            }
        })
        .collect()
}

fn rules() -> Concierge {
    Concierge::embedded_default()
}

fn handoff_reason(d: &Decision) -> Option<&HandoffReason> {
    match d {
        Decision::Handoff { reason, .. } => Some(reason),
        _ => None,
    }
}

use Role::{Assistant as Bot, Customer as Cust};

#[tokio::test]
async fn a_customer_asking_for_a_person_is_handed_off_in_plain_words() {
    let c = rules();
    let s = session(Channel::Sms, SessionState::Assistant);
    for ask in [
        "Can I talk to a human?",
        "AGENT",
        "I want to speak to someone please",
        "get me a real person",
        "customer service!!",
        "I'd like a representative",
    ] {
        let t = transcript(&[(Cust, ask)]);
        let d = c.respond(&s, &t, at(OPEN)).await;
        assert_eq!(
            handoff_reason(&d),
            Some(&HandoffReason::CustomerAsked),
            "{ask:?} → {d:?}"
        );
    }
    // Words that merely contain a trigger are not a request.
    let t = transcript(&[(Cust, "What is your return policy for reagents?")]);
    assert!(matches!(
        c.respond(&s, &t, at(OPEN)).await,
        Decision::Reply {
            fallback: false,
            ..
        }
    ));
}

#[tokio::test]
async fn the_handoff_phrases_are_configurable() {
    let doc = include_str!("../src/assistant/default.toml").replacen(
        "handoff_phrases = [",
        "handoff_phrases = [\"mensch\", ",
        1,
    );
    let c = Concierge::new(
        Arc::new(RulesAssistant::default()),
        Arc::new(Settings::parse(&doc).unwrap()),
    );
    let s = session(Channel::Sms, SessionState::Assistant);
    let t = transcript(&[(Cust, "Bitte einen Mensch")]);
    assert_eq!(
        handoff_reason(&c.respond(&s, &t, at(OPEN)).await),
        Some(&HandoffReason::CustomerAsked)
    );
}

#[tokio::test]
async fn unanswered_questions_in_a_row_end_in_a_handoff() {
    // GIVEN max_fallbacks = 2 (the default)
    let c = rules();
    let s = session(Channel::Sms, SessionState::Assistant);
    // WHEN the first question cannot be answered THEN the fallback is sent and marked
    let t = transcript(&[(Cust, "Do you sell bicycles?")]);
    let d = c.respond(&s, &t, at(OPEN)).await;
    assert!(matches!(d, Decision::Reply { fallback: true, .. }), "{d:?}");
    // WHEN the second one in a row cannot either THEN a person takes over
    let t = transcript(&[
        (Cust, "Do you sell bicycles?"),
        (Bot, "?Sorry, I don't have an answer for that."),
        (Cust, "What about unicycles?"),
    ]);
    assert_eq!(
        handoff_reason(&c.respond(&s, &t, at(OPEN)).await),
        Some(&HandoffReason::Unanswered { turns: 2 })
    );
    // An answered question in between resets the count.
    let t = transcript(&[
        (Cust, "Do you sell bicycles?"),
        (Bot, "?Sorry, I don't have an answer for that."),
        (Cust, "What is your return policy?"),
        (Bot, "You can return any item within 30 days."),
        (Cust, "What about unicycles?"),
    ]);
    assert!(matches!(
        c.respond(&s, &t, at(OPEN)).await,
        Decision::Reply { fallback: true, .. }
    ));
}

/// A scripted implementation, to show the policy holds whatever the implementation does.
struct Scripted(
    Result<Answer, fn() -> AssistantError>,
    Option<Vec<FieldValue>>,
    Duration,
);

#[async_trait]
impl Assistant for Scripted {
    async fn answer(&self, _: &Settings, _: Conversation<'_>) -> Result<Answer, AssistantError> {
        tokio::time::sleep(self.2).await;
        self.0.clone().map_err(|f| f())
    }
    async fn brief(
        &self,
        _: &Settings,
        _: Conversation<'_>,
        _: &str,
    ) -> Result<CaseBrief, AssistantError> {
        match &self.1 {
            Some(fields) => Ok(CaseBrief {
                summary: "scripted".into(),
                fields: fields.clone(),
            }),
            None => Err(AssistantError::Status { status: 500 }),
        }
    }
}

fn scripted(answer: Result<Answer, fn() -> AssistantError>) -> Concierge {
    Concierge::new(
        Arc::new(Scripted(answer, None, Duration::ZERO)),
        Arc::new(Settings::embedded()),
    )
}

#[tokio::test]
async fn the_assistant_may_decide_to_hand_off_and_a_failure_hands_off_safely() {
    let s = session(Channel::Widget, SessionState::Assistant);
    let t = transcript(&[(Cust, "My espresso machine leaks")]);
    let d = scripted(Ok(Answer::Handoff {
        reason: "needs a repair booking".into(),
    }))
    .respond(&s, &t, at(OPEN))
    .await;
    assert_eq!(
        handoff_reason(&d),
        Some(&HandoffReason::AssistantDecided(
            "needs a repair booking".into()
        ))
    );
    let d = scripted(Err(|| AssistantError::Status { status: 503 }))
        .respond(&s, &t, at(OPEN))
        .await;
    assert_eq!(handoff_reason(&d), Some(&HandoffReason::AssistantFailed));
    // A reply with no words in it (markdown only, once shaped for SMS) is a failure too.
    let s = session(Channel::Sms, SessionState::Assistant);
    let d = scripted(Ok(Answer::Reply("****".into())))
        .respond(&s, &t, at(OPEN))
        .await;
    assert_eq!(handoff_reason(&d), Some(&HandoffReason::AssistantFailed));
}

#[tokio::test]
async fn after_handoff_the_assistant_never_replies() {
    let c = rules();
    let t = transcript(&[(Cust, "What is your return policy?")]);
    for state in [
        SessionState::HandoffRequested,
        SessionState::WithAgent,
        SessionState::Closed,
    ] {
        let s = session(Channel::Sms, state);
        assert_eq!(
            c.respond(&s, &t, at(OPEN)).await,
            Decision::Silent,
            "{state}"
        );
    }
    // Nor is a turn without a new customer message answered.
    let s = session(Channel::Sms, SessionState::Assistant);
    let t = transcript(&[(Cust, "hours?"), (Bot, "9 to 5")]);
    assert_eq!(c.respond(&s, &t, at(OPEN)).await, Decision::Silent);
}

#[tokio::test]
async fn sms_replies_are_plain_text_within_the_limit() {
    let long = format!("**Sure!** {}", "word ".repeat(400));
    let s = session(Channel::Sms, SessionState::Assistant);
    let t = transcript(&[(Cust, "tell me everything")]);
    let Decision::Reply { text, .. } = scripted(Ok(Answer::Reply(long.clone())))
        .respond(&s, &t, at(OPEN))
        .await
    else {
        panic!("expected a reply");
    };
    assert!(text.as_str().starts_with("Sure! word"));
    assert!(text.as_str().chars().count() <= Settings::embedded().sms.max_chars);
    // The widget keeps the markdown.
    let s = session(Channel::Widget, SessionState::Assistant);
    let Decision::Reply { text, .. } = scripted(Ok(Answer::Reply("**Sure!**".into())))
        .respond(&s, &t, at(OPEN))
        .await
    else {
        panic!("expected a reply");
    };
    assert_eq!(text.as_str(), "**Sure!**");
}

#[tokio::test]
async fn outside_business_hours_the_notice_says_when_a_person_replies() {
    let c = rules();
    let s = session(Channel::Sms, SessionState::Assistant);
    let t = transcript(&[(Cust, "agent please")]);
    let Decision::Handoff { notice, .. } = c.respond(&s, &t, at(OPEN)).await else {
        panic!("expected a handoff");
    };
    assert_eq!(
        notice.as_str(),
        Settings::embedded().assistant.handoff_notice
    );
    let Decision::Handoff { notice, .. } = c.respond(&s, &t, at(WEEKEND)).await else {
        panic!("expected a handoff");
    };
    assert_eq!(
        notice.as_str(),
        "Thanks, I've passed this to our team. We're closed right now; a person will reply \
         on Monday at 09:00 (America/New_York)."
    );
}

const TEN: &[(Role, &str)] = &[
    (Cust, "Hi"),
    (Bot, "Hi! I'm the Example Co assistant."),
    (
        Cust,
        "My order #A-10023 arrived broken, the grinder is not working at all",
    ),
    (Bot, "?Sorry, I don't have an answer for that."),
    (Cust, "I paid $149.99 for it and need a replacement ASAP"),
    (Bot, "You can return any item within 30 days."),
    (Cust, "Send the label to ann.lee@example.com please"),
    (Bot, "?Sorry, I don't have an answer for that."),
    (Cust, "Can I talk to a human"),
    (Bot, "Thanks, I'm connecting you with a person."),
];

#[tokio::test]
async fn the_rules_brief_of_a_realistic_conversation() {
    let c = rules();
    let mut s = session(Channel::Sms, SessionState::HandoffRequested);
    s.handoff_reason = Some(HandoffReason::CustomerAsked.describe());
    let brief = c.brief(&s, &transcript(TEN)).await;
    assert_eq!(
        brief.summary,
        "Channel: SMS\n\
         Customer: +15551230001\n\
         Handoff reason: customer asked for a person\n\
         Request: \"My order #A-10023 arrived broken, the grinder is not working at all\"\n\
         Latest message: \"Can I talk to a human\"\n\
         Key facts:\n\
         - Order numbers: A-10023\n\
         - Emails: ann.lee@example.com\n\
         - Amounts: $149.99\n\
         Conversation: 10 messages, 5 from the customer"
    );
    // "broken", "not working", "asap" are High keywords; the text field is not guessed.
    assert_eq!(
        brief.fields,
        [FieldValue {
            column: "PriorityId".into(),
            value: FieldContent::Lookup {
                entity: "CasePriority".into(),
                name: "High".into()
            }
        }]
    );
    // Deterministic: the same transcript gives the same brief.
    assert_eq!(c.brief(&s, &transcript(TEN)).await, brief);
}

#[tokio::test]
async fn no_keyword_means_no_value_rather_than_a_guess() {
    let s = session(Channel::Widget, SessionState::HandoffRequested);
    let brief = rules()
        .brief(
            &s,
            &transcript(&[(Cust, "agent"), (Cust, "The lid is scratched")]),
        )
        .await;
    assert!(brief.fields.is_empty(), "{:?}", brief.fields);
    assert!(
        brief
            .summary
            .contains("Customer: ann.lee@example.com (verified email)")
    );
}

#[tokio::test]
async fn dropdown_values_are_limited_to_the_allowed_ones() {
    let lookup = |col: &str, name: &str| FieldValue {
        column: col.into(),
        value: FieldContent::Lookup {
            entity: "Whatever".into(),
            name: name.into(),
        },
    };
    let fields = vec![
        lookup("PriorityId", "SUPER URGENT"), // invented: dropped
        lookup("PriorityId", "high"),         // allowed, respelled
        lookup("UsrMadeUp", "x"),             // not a configured field: dropped
        FieldValue {
            column: "Notes".into(),
            value: FieldContent::Text("Send a replacement grinder".into()),
        },
    ];
    let c = Concierge::new(
        Arc::new(Scripted(
            Ok(Answer::Reply("x".into())),
            Some(fields),
            Duration::ZERO,
        )),
        Arc::new(Settings::embedded()),
    );
    let s = session(Channel::Sms, SessionState::HandoffRequested);
    let brief = c.brief(&s, &transcript(TEN)).await;
    assert_eq!(
        brief.fields,
        [
            FieldValue {
                column: "PriorityId".into(),
                value: FieldContent::Lookup {
                    entity: "CasePriority".into(),
                    name: "High".into()
                }
            },
            FieldValue {
                column: "Notes".into(),
                value: FieldContent::Text("Send a replacement grinder".into())
            }
        ]
    );
    // A failing brief falls back to the rules brief: the case is never held up by the model.
    let failing = scripted(Ok(Answer::Reply("x".into())));
    let brief = failing.brief(&s, &transcript(TEN)).await;
    assert!(brief.summary.starts_with("Channel: SMS"));
}

// ---- the openai assistant against a loopback chat-completions stand-in -------------------------

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Value>>>);

/// Behaves as the chat-completions API does for what casebridge sends: 401 with an error
/// envelope for a wrong key, 400 for a body without `model` or `messages`, and otherwise a
/// completion chosen by the last user message.
async fn completions(
    State(rec): State<Recorder>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    let Json(body) = body;
    let error = |status: StatusCode, msg: &str| {
        (
            status,
            Json(json!({"error": {"message": msg, "type": "invalid_request_error", "code": null}})),
        )
            .into_response()
    };
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer sk-test") {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided");
    }
    if body.get("model").and_then(Value::as_str) != Some("gpt-test")
        || !body.get("messages").is_some_and(Value::is_array)
    {
        return error(StatusCode::BAD_REQUEST, "model and messages are required");
    }
    rec.0.lock().unwrap().push(body.clone());
    let last_user = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let message = if body.get("response_format").is_some() {
        json!({"role": "assistant", "content": json!({
            "summary": "Grinder from order A-10023 arrived broken; wants a replacement.",
            "fields": {"PriorityId": "High", "Notes": "Send a replacement grinder"}
        }).to_string()})
    } else if body["messages"][0]["content"]
        .as_str()
        .is_some_and(|s| s.contains("[P1]"))
    {
        // Given passages, the model answers from one and cites it.
        json!({"role": "assistant", "content": "We repair or replace a damaged item at no cost. [P1]"})
    } else if last_user.contains("slow") {
        tokio::time::sleep(Duration::from_secs(5)).await;
        json!({"role": "assistant", "content": "too late"})
    } else if last_user.contains("broken") {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": HANDOFF_TOOL, "arguments": "{\"reason\":\"damaged item needs a replacement\"}"}
        }]})
    } else if last_user.contains("bicycles") {
        json!({"role": "assistant", "content": null, "tool_calls": [{
            "id": "call_2", "type": "function",
            "function": {"name": UNABLE_TOOL, "arguments": "{\"message\":\"Sorry, we only sell coffee gear.\"}"}
        }]})
    } else {
        json!({"role": "assistant", "content": "Orders ship within **2 business days**."})
    };
    Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]
    }))
    .into_response()
}

async fn stand_in() -> (String, Recorder) {
    let rec = Recorder::default();
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(completions))
        .with_state(rec.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), rec)
}

fn openai(base: &str, key: &str, timeout_secs: u64) -> Concierge {
    let doc = include_str!("../src/assistant/default.toml").replacen(
        "timeout_seconds = 15",
        &format!("timeout_seconds = {timeout_secs}"),
        1,
    );
    let http = casebridge::http::client(Duration::from_secs(timeout_secs)).unwrap();
    let assistant = OpenAiAssistant::new(
        http,
        &BaseUrl::parse("OPENAI_BASE_URL", base).unwrap(),
        key.to_owned().into(),
        "gpt-test".into(),
    );
    Concierge::new(
        Arc::new(assistant),
        Arc::new(Settings::parse(&doc).unwrap()),
    )
}

#[tokio::test]
async fn openai_requests_carry_the_prompt_the_transcript_and_the_tools() {
    let (base, rec) = stand_in().await;
    let c = openai(&base, "sk-test", 5);
    let s = session(Channel::Sms, SessionState::Assistant);
    let t = transcript(&[
        (Cust, "Hello"),
        (Bot, "Hi!"),
        (Cust, "How long does shipping take?"),
    ]);
    let d = c.respond(&s, &t, at(OPEN)).await;
    // The reply is shaped for SMS: markdown gone.
    assert_eq!(
        d,
        Decision::Reply {
            text: MessageText::parse("Orders ship within 2 business days.").unwrap(),
            fallback: false,
            card: None,
        }
    );
    let sent = rec.0.lock().unwrap()[0].clone();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.contains("Example Co") && system.contains("plain text only"));
    assert!(
        system.contains("Orders ship within 2 business days"),
        "knowledge is in the prompt"
    );
    let roles: Vec<&str> = messages[1..]
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    assert_eq!(messages[3]["content"], "How long does shipping take?");
    let tools: Vec<&str> = sent["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, [HANDOFF_TOOL, UNABLE_TOOL]);
    assert_eq!(sent["tools"][0]["type"], "function");
    assert_eq!(
        sent["tools"][0]["function"]["parameters"]["required"],
        json!(["reason"])
    );
}

#[tokio::test]
async fn openai_hands_off_by_tool_call_and_reports_unanswered_turns() {
    let (base, _) = stand_in().await;
    let c = openai(&base, "sk-test", 5);
    let s = session(Channel::Widget, SessionState::Assistant);
    let d = c
        .respond(
            &s,
            &transcript(&[(Cust, "my grinder arrived broken")]),
            at(OPEN),
        )
        .await;
    assert_eq!(
        handoff_reason(&d),
        Some(&HandoffReason::AssistantDecided(
            "damaged item needs a replacement".into()
        ))
    );
    let d = c
        .respond(&s, &transcript(&[(Cust, "do you sell bicycles")]), at(OPEN))
        .await;
    assert_eq!(
        d,
        Decision::Reply {
            text: MessageText::parse("Sorry, we only sell coffee gear.").unwrap(),
            fallback: true,
            card: None,
        }
    );
}

#[tokio::test]
async fn openai_fills_the_brief_through_a_strict_json_schema() {
    let (base, rec) = stand_in().await;
    let c = openai(&base, "sk-test", 5);
    let mut s = session(Channel::Sms, SessionState::HandoffRequested);
    s.handoff_reason = Some("customer asked for a person".into());
    let brief = c.brief(&s, &transcript(TEN)).await;
    assert_eq!(
        brief.summary,
        "Grinder from order A-10023 arrived broken; wants a replacement."
    );
    assert_eq!(brief.fields.len(), 2);
    assert_eq!(
        brief.fields[0].value,
        FieldContent::Lookup {
            entity: "CasePriority".into(),
            name: "High".into()
        }
    );
    let sent = rec.0.lock().unwrap()[0].clone();
    let rf = &sent["response_format"];
    assert_eq!(rf["type"], "json_schema");
    assert_eq!(rf["json_schema"]["strict"], true);
    let schema = &rf["json_schema"]["schema"];
    assert_eq!(schema["required"], json!(["summary", "fields"]));
    assert_eq!(
        schema["properties"]["fields"]["properties"]["PriorityId"]["enum"],
        json!(["High", "Medium", "Low", ""])
    );
    assert_eq!(
        schema["properties"]["fields"]["additionalProperties"],
        false
    );
    assert!(
        sent["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("customer: My order #A-10023 arrived broken")
    );
}

#[tokio::test]
async fn openai_failures_end_in_a_safe_handoff() {
    let (base, _) = stand_in().await;
    let s = session(Channel::Sms, SessionState::Assistant);
    // A timeout.
    let c = openai(&base, "sk-test", 1);
    let d = c
        .respond(&s, &transcript(&[(Cust, "a slow question")]), at(OPEN))
        .await;
    assert_eq!(handoff_reason(&d), Some(&HandoffReason::AssistantFailed));
    // A wrong key (401).
    let c = openai(&base, "sk-wrong", 5);
    let d = c
        .respond(&s, &transcript(&[(Cust, "shipping?")]), at(OPEN))
        .await;
    assert_eq!(handoff_reason(&d), Some(&HandoffReason::AssistantFailed));
    // Nobody listening.
    let c = openai("http://127.0.0.1:9/v1", "sk-test", 2);
    let d = c
        .respond(&s, &transcript(&[(Cust, "shipping?")]), at(OPEN))
        .await;
    assert_eq!(handoff_reason(&d), Some(&HandoffReason::AssistantFailed));
    // And the brief still comes, from the rules.
    let brief = c.brief(&s, &transcript(TEN)).await;
    assert!(brief.summary.contains("Order numbers: A-10023"));
}

#[tokio::test]
async fn openai_answers_from_the_articles_passages_and_the_answer_cites_its_source() {
    let (base, rec) = stand_in().await;
    // GIVEN the openai assistant over the local stack's sample articles
    let http = casebridge::http::client(Duration::from_secs(5)).unwrap();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../local/knowledge");
    let knowledge = casebridge::knowledge::Knowledge::new(
        casebridge::knowledge::KnowledgeConfig::folder(folder),
    );
    let assistant = OpenAiAssistant::new(
        http,
        &BaseUrl::parse("OPENAI_BASE_URL", &base).unwrap(),
        "sk-test".to_owned().into(),
        "gpt-test".into(),
    )
    .with_knowledge(Arc::new(knowledge));
    let c = Concierge::new(Arc::new(assistant), Arc::new(Settings::embedded()));
    // WHEN a widget visitor asks about a damaged item
    let s = session(Channel::Widget, SessionState::Assistant);
    let t = transcript(&[(Cust, "My lamp arrived damaged, can you repair it?")]);
    let d = c.respond(&s, &t, at(OPEN)).await;
    // THEN the request carried the best passages, numbered, the warranty article first
    let sent = rec.0.lock().unwrap()[0].clone();
    let system = sent["messages"][0]["content"].as_str().unwrap().to_owned();
    assert!(
        system
            .contains("[P1] Warranty and broken items: Every product carries a two-year warranty"),
        "{system}"
    );
    // AND the stored answer names its source instead of the model's citation
    let Decision::Reply {
        text,
        fallback: false,
        ..
    } = d
    else {
        panic!("an answer, not {d:?}")
    };
    assert_eq!(
        text.as_str(),
        "We repair or replace a damaged item at no cost.\n\nWarranty and broken items: https://help.example.com/warranty"
    );
}
