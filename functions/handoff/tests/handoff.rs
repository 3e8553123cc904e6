//! Handoff against the Creatio sandbox, on DynamoDB (moto) when the test command runs it and on
//! the memory store otherwise.

use std::sync::Arc;
use std::time::Duration;

use casebridge::assistant::{Concierge, Settings};
use casebridge::config::SyncMode;
use casebridge::creatio::{CreatioClient, RetryPolicy};
use casebridge::domain::*;
use casebridge::store::{StateChange, Store};
use creatio_sandbox::{ExpiryStyle, Sandbox, SandboxConfig};
use handoff::Deps;
use handoff::sync::{Synced, sync_session};
use jiff::Timestamp;
use serde_json::{Map, Value, json};

const ANN: &str = "+15551230001";
const HIGH: &str = "8b700f24-f46b-1410-ee8c-0050ba5d6c38";

async fn store() -> Arc<dyn Store> {
    test_support::moto::store_or_memory("handoff").await
}

async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.unwrap()
}

/// The handoff function's deps for a deployment on the sandbox with these sync mode and
/// assistant settings; retries milliseconds apart.
fn deps_with(sandbox: &Sandbox, mode: SyncMode, settings: Settings) -> Deps {
    deps_of(sandbox, mode, settings, &[])
}

/// [`deps_with`], with more settings.
fn deps_of(sandbox: &Sandbox, mode: SyncMode, settings: Settings, more: &[(&str, &str)]) -> Deps {
    let mode = match mode {
        SyncMode::Handoff => "handoff",
        SyncMode::EveryConversation => "every_conversation",
    };
    let mut env = test_support::stack_env("https://cb.example.com", &sandbox.url);
    env.extend([
        ("CASEBRIDGE_SYNC_MODE", mode),
        ("WIDGET_SECRET", "link-secret-for-tests-0123456789abcdef"),
        ("CREATIO_TIMEOUT_SECONDS", "10"),
    ]);
    env.extend(more.iter().copied());
    let mut deps = Deps::from_config(&test_support::config_of(&env)).unwrap();
    deps.creatio = deps.creatio.with_retry(RetryPolicy {
        attempts: 4,
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
    });
    deps.concierge = Concierge::new(
        Arc::new(casebridge::assistant::rules::RulesAssistant::default()),
        Arc::new(settings),
    );
    deps
}

fn deps(sandbox: &Sandbox) -> Deps {
    deps_with(sandbox, SyncMode::Handoff, Settings::embedded())
}

fn key(phone: &str) -> ConversationKey {
    ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(phone, None).unwrap()),
        "+15557654321",
    )
}

fn msg(role: Role, text: &str) -> NewMessage {
    NewMessage::new(role, MessageText::parse(text).unwrap())
}

/// `text` from `role` appended to session `id` as it stands now; the session after it.
async fn add(store: &dyn Store, id: SessionId, role: Role, text: &str) -> Session {
    let s = store.session(id).await.unwrap().unwrap();
    match store
        .append(&s, vec![msg(role, text)], None, Timestamp::now())
        .await
        .unwrap()
    {
        casebridge::store::Appended::Stored { session, .. } => *session,
        other => panic!("not stored: {other:?}"),
    }
}

/// A session with `n` alternating customer/assistant messages, handed off at the end.
async fn handed_off(store: &dyn Store, phone: &str, n: usize) -> Session {
    let (s, _) = store
        .find_or_open(&key(phone), Timestamp::now())
        .await
        .unwrap();
    let mut batch = vec![msg(
        Role::Customer,
        "My order #A-10023 arrived broken and the grinder is not working",
    )];
    for i in 1..n.saturating_sub(1) {
        let role = if i % 2 == 0 {
            Role::Customer
        } else {
            Role::Assistant
        };
        batch.push(msg(role, &format!("message {i}")));
    }
    store
        .append(&s, batch, None, Timestamp::now())
        .await
        .unwrap();
    let s = store.session(s.id).await.unwrap().unwrap();
    store
        .append(
            &s,
            vec![msg(Role::Assistant, "A person will reply here.")],
            Some(StateChange {
                transition: Transition::new(
                    SessionState::Assistant,
                    SessionState::HandoffRequested,
                )
                .unwrap(),
                handoff_reason: Some("customer asked for a person".into()),
            }),
            Timestamp::now(),
        )
        .await
        .unwrap();
    store.session(s.id).await.unwrap().unwrap()
}

fn activities_of(sandbox: &Sandbox, case: uuid::Uuid) -> Vec<Map<String, Value>> {
    let mut a: Vec<Map<String, Value>> = sandbox
        .records("Activity")
        .into_iter()
        .filter(|r| r.get("CaseId").and_then(Value::as_str) == Some(&case.to_string()))
        .collect();
    a.sort_by(|x, y| x["StartDate"].as_str().cmp(&y["StartDate"].as_str()));
    a
}

#[tokio::test]
async fn a_case_that_failed_for_a_moment_takes_its_activities_along_on_the_retry() {
    // GIVEN Creatio answers the case's create 503 once, and the activities after it in the same
    // $batch are refused because the case they point to is not there (the soak found this)
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 4).await;
    sb.fail_next_create("Case", 503);
    // WHEN the handoff syncs
    let synced = sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN the retry sends the activities again with the case, and nothing is refused for good
    assert_eq!(synced, Synced::CaseCreated { activities: 4 });
    let case_id = s.id.case_id().as_uuid();
    assert!(sb.record("Case", case_id).is_some());
    assert_eq!(activities_of(&sb, case_id).len(), 4);
    let session = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(session.sync_error, None);
}

#[tokio::test]
async fn a_handoff_creates_the_case_with_everything() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 10).await;
    // GIVEN the contact exists, with the number typed the way people type it
    let mut contact = Map::new();
    contact.insert("Name".into(), json!("Ann Lee"));
    contact.insert("MobilePhone".into(), json!("(555) 123-0001"));
    let contact_id = sb.insert("Contact", contact);

    let synced = sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(synced, Synced::CaseCreated { activities: 10 });

    let case_id = s.id.case_id().as_uuid();
    let case = sb
        .record("Case", case_id)
        .expect("case with the deterministic id");
    assert_eq!(
        case["Subject"],
        "SMS: My order #A-10023 arrived broken and the grinder is not working"
    );
    let symptoms = case["Symptoms"].as_str().unwrap();
    assert!(
        symptoms.contains("Handoff reason: customer asked for a person"),
        "{symptoms}"
    );
    assert!(symptoms.contains("Order numbers: A-10023"));
    assert_eq!(case["ContactId"], contact_id.to_string());
    assert_eq!(case["OriginId"], "5e5e202a-f46b-1410-3692-0050ba5d6c38");
    assert_eq!(case["StatusId"], "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38");
    assert_eq!(
        case["PriorityId"], HIGH,
        "AI dropdown resolved to its lookup GUID"
    );
    assert_eq!(sb.records("Contact").len(), 1, "no contact created");

    assert_eq!(activities_of(&sb, case_id).len(), 10);
    // One activity per message, found by its deterministic id (session + seq).
    let acts: Vec<Map<String, Value>> = (1..=10)
        .map(|seq| {
            sb.record("Activity", s.id.activity_id(seq).as_uuid())
                .unwrap()
        })
        .collect();
    assert!(
        acts.iter()
            .all(|a| a["StatusId"] == "4bdbb88f-58e6-df11-971b-001d60e938c6")
    );
    assert!(
        acts[0]["Title"]
            .as_str()
            .unwrap()
            .starts_with("Customer: My order")
    );
    let first = acts[0]["Notes"].as_str().unwrap();
    assert!(first.contains(&format!("casebridge session {}", s.id)));
    assert!(first.contains(&format!("https://cb.example.com/transcripts/{}?sig=", s.id)));
    assert!(
        acts[1]["Title"]
            .as_str()
            .unwrap()
            .starts_with("Assistant: ")
    );
    assert!(
        acts[9]["Notes"]
            .as_str()
            .unwrap()
            .contains("A person will reply here.")
    );

    let after = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(after.state, SessionState::WithAgent);
    let link = after.creatio.unwrap();
    assert_eq!(link.case_id, s.id.case_id());
    assert!(link.case_number.is_some());
    assert_eq!(after.synced_seq, 10);
}

#[tokio::test]
async fn an_unknown_customer_gets_a_contact_once() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), "+15551230002", 3).await;
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let contacts = sb.records("Contact");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["MobilePhone"], "+15551230002");
    // A second conversation of the same customer reuses it.
    let (s1, _) = store
        .find_or_open(&key("+15551230002"), Timestamp::now())
        .await
        .unwrap();
    store
        .transition(
            s1.id,
            Transition::new(SessionState::WithAgent, SessionState::Closed).unwrap(),
            Default::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let s2 = handed_off(store.as_ref(), "+15551230002", 3).await;
    assert_ne!(s2.id, s.id);
    sync_session(store.as_ref(), &d, s2.id).await.unwrap();
    assert_eq!(sb.records("Contact").len(), 1);
    assert_eq!(sb.records("Case").len(), 2);
}

#[tokio::test]
async fn follow_up_messages_are_appended_in_order_and_agent_replies_are_not_echoed() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 4).await;
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let s = store.session(s.id).await.unwrap().unwrap();
    for text in ["first follow-up", "second follow-up"] {
        store
            .append(&s, vec![msg(Role::Customer, text)], None, Timestamp::now())
            .await
            .unwrap();
        let s = store.session(s.id).await.unwrap().unwrap();
        // An agent reply (it came from Creatio) and a system note in between.
        store
            .append(
                &s,
                vec![
                    msg(Role::Agent, "agent says hi"),
                    msg(Role::System, "Reply not delivered: x"),
                ],
                None,
                Timestamp::now(),
            )
            .await
            .unwrap();
        assert_eq!(
            sync_session(store.as_ref(), &d, s.id).await.unwrap(),
            Synced::Appended { activities: 2 }
        );
    }
    let acts = activities_of(&sb, s.id.case_id().as_uuid());
    let titles: Vec<&str> = acts.iter().map(|a| a["Title"].as_str().unwrap()).collect();
    assert_eq!(titles.len(), 8);
    assert_eq!(titles[4], "Customer: first follow-up");
    assert_eq!(titles[5], "casebridge: Reply not delivered: x");
    assert_eq!(titles[6], "Customer: second follow-up");
    assert!(!titles.iter().any(|t| t.starts_with("Agent:")));
    // Up to date: nothing more to do, and no request to Creatio for it.
    sb.clear_log();
    assert_eq!(
        sync_session(store.as_ref(), &d, s.id).await.unwrap(),
        Synced::Nothing
    );
    assert_eq!(sb.api_requests(), 0);
}

#[tokio::test]
async fn a_crash_after_the_case_and_before_the_activities_is_completed_without_duplicates() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 6).await;
    // GIVEN an earlier attempt created the case and two activities, then died
    d.creatio
        .create(
            "Case",
            s.id.case_id().as_uuid(),
            json!({"Subject": "SMS: partial"}),
        )
        .await
        .unwrap();
    for seq in [1, 2] {
        d.creatio
            .create(
                "Activity",
                s.id.activity_id(seq).as_uuid(),
                json!({"Title": "partial", "CaseId": s.id.case_id().as_uuid().to_string(), "StartDate": format!("2026-01-01T00:00:0{seq}Z")}),
            )
            .await
            .unwrap();
    }
    // WHEN the sync runs (twice, as a redelivered stream batch would)
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN one case, one activity per message
    assert_eq!(sb.records("Case").len(), 1);
    assert_eq!(activities_of(&sb, s.id.case_id().as_uuid()).len(), 6);
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::WithAgent
    );
}

#[tokio::test]
async fn under_30_percent_503s_every_message_lands_exactly_once() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            handed_off(store.as_ref(), &format!("+1555123010{i}"), 20)
                .await
                .id,
        );
    }
    sb.set_faults(0.3, 503, None);
    // The stream retries a failed batch until it goes through.
    for id in &ids {
        let mut tries = 0;
        while let Err(e) = sync_session(store.as_ref(), &d, *id).await {
            tries += 1;
            assert!(tries < 50, "never went through: {e}");
        }
    }
    sb.set_faults(0.0, 503, None);
    assert_eq!(sb.records("Case").len(), 5);
    for id in &ids {
        let acts = activities_of(&sb, id.case_id().as_uuid());
        assert_eq!(acts.len(), 20, "one activity per message");
        let s = store.session(*id).await.unwrap().unwrap();
        assert_eq!((s.state, s.synced_seq), (SessionState::WithAgent, 20));
    }
    let all: std::collections::HashSet<String> = sb
        .records("Activity")
        .iter()
        .map(|a| a["Id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all.len(), 100);
}

#[tokio::test]
async fn a_session_expiring_mid_sync_is_survived() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 8).await;
    sb.set_expiry(Some(2), ExpiryStyle::RedirectToLogin);
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(activities_of(&sb, s.id.case_id().as_uuid()).len(), 8);
}

#[tokio::test]
async fn a_bad_ai_field_does_not_block_the_case() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    // A text field mapped to a column this Creatio does not have.
    let doc = include_str!("../../../shared/src/assistant/default.toml").replacen(
        "column = \"Notes\"",
        "column = \"UsrNoSuchColumn\"",
        1,
    );
    let settings = Settings::parse(&doc).unwrap();
    // The rules assistant never fills text fields, so use a brief that does.
    let mut d = deps_with(&sb, SyncMode::Handoff, settings.clone());
    d.concierge = Concierge::new(Arc::new(FillsText), Arc::new(settings));
    let s = handed_off(store.as_ref(), ANN, 4).await;
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let case = sb
        .record("Case", s.id.case_id().as_uuid())
        .expect("case created");
    assert!(!case.contains_key("UsrNoSuchColumn"));
    assert_eq!(activities_of(&sb, s.id.case_id().as_uuid()).len(), 4);
    let after = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(after.state, SessionState::WithAgent);
    let err = after.sync_error.expect("the refusal is recorded");
    assert!(err.contains("UsrNoSuchColumn"), "{err}");
}

struct FillsText;

#[async_trait::async_trait]
impl casebridge::assistant::Assistant for FillsText {
    async fn answer(
        &self,
        _: &Settings,
        _: casebridge::assistant::Conversation<'_>,
    ) -> Result<casebridge::assistant::Answer, casebridge::assistant::AssistantError> {
        Ok(casebridge::assistant::Answer::Reply("x".into()))
    }
    async fn brief(
        &self,
        _: &Settings,
        _: casebridge::assistant::Conversation<'_>,
        _: &str,
    ) -> Result<casebridge::assistant::CaseBrief, casebridge::assistant::AssistantError> {
        Ok(casebridge::assistant::CaseBrief {
            summary: "summary".into(),
            fields: vec![casebridge::assistant::FieldValue {
                column: "UsrNoSuchColumn".into(),
                value: casebridge::assistant::FieldContent::Text("replacement".into()),
            }],
        })
    }
}

#[tokio::test]
async fn every_conversation_mode_syncs_from_the_first_message_and_resolves() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps_with(&sb, SyncMode::EveryConversation, Settings::embedded());
    let (s, _) = store
        .find_or_open(&key(ANN), Timestamp::now())
        .await
        .unwrap();
    store
        .append(
            &s,
            vec![
                msg(Role::Customer, "What is your return policy?"),
                msg(Role::Assistant, "30 days."),
            ],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        sync_session(store.as_ref(), &d, s.id).await.unwrap(),
        Synced::CaseCreated { activities: 2 }
    );
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Assistant,
        "still with the assistant"
    );
    // The assistant resolves it; the session closes; the case is resolved.
    store
        .transition(
            s.id,
            Transition::new(SessionState::Assistant, SessionState::Closed).unwrap(),
            Default::default(),
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let case = sb.record("Case", s.id.case_id().as_uuid()).unwrap();
    assert_eq!(case["StatusId"], "ae7f411e-f46b-1410-009b-0050ba5d6c38");
}

#[tokio::test]
async fn a_second_handoff_on_a_session_with_a_case_adds_a_note() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps_with(&sb, SyncMode::EveryConversation, Settings::embedded());
    let (s, _) = store
        .find_or_open(&key(ANN), Timestamp::now())
        .await
        .unwrap();
    store
        .append(
            &s,
            vec![msg(Role::Customer, "hello")],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let s = store.session(s.id).await.unwrap().unwrap();
    store
        .append(
            &s,
            vec![msg(Role::Assistant, "A person will reply.")],
            Some(StateChange {
                transition: Transition::new(
                    SessionState::Assistant,
                    SessionState::HandoffRequested,
                )
                .unwrap(),
                handoff_reason: Some("customer asked for a person".into()),
            }),
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(sb.records("Case").len(), 1);
    let titles: Vec<String> = activities_of(&sb, s.id.case_id().as_uuid())
        .iter()
        .map(|a| a["Title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.starts_with("casebridge: handoff requested"))
            .count(),
        1,
        "{titles:?}"
    );
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::WithAgent
    );
}

#[tokio::test]
async fn a_60_message_handoff_takes_at_most_3_creatio_requests() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    // GIVEN a signed-in client (token cached) and a known contact
    let mut contact = Map::new();
    contact.insert("Name".into(), json!("Ann Lee"));
    contact.insert("MobilePhone".into(), json!(ANN));
    sb.insert("Contact", contact);
    d.creatio
        .query("Contact", None, &["Id"], Some(1))
        .await
        .unwrap();
    let s = handed_off(store.as_ref(), ANN, 60).await;
    sb.clear_log();
    // WHEN the handoff syncs
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN contact query + priority lookup + one $batch
    let n = sb.api_requests();
    eprintln!("Creatio HTTP requests for a 60-message handoff: {n}");
    assert!(
        n <= 3,
        "{n} requests: {:?}",
        sb.requests()
            .iter()
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(activities_of(&sb, s.id.case_id().as_uuid()).len(), 60);
    // AND a follow-up message costs one
    let s = store.session(s.id).await.unwrap().unwrap();
    store
        .append(
            &s,
            vec![msg(Role::Customer, "any news?")],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    sb.clear_log();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(sb.api_requests(), 1);
}

#[tokio::test]
async fn the_stream_handler_reports_failed_sessions_as_batch_item_failures() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let ok = handed_off(store.as_ref(), ANN, 2).await;
    let event = |ids: &[SessionId]| {
        let records: Vec<Value> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                json!({
                    "eventID": format!("e{i}"), "eventName": "MODIFY", "eventVersion": "1.1",
                    "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                    "dynamodb": {
                        "Keys": {"pk": {"S": format!("S#{id}")}, "sk": {"S": "META"}},
                        "NewImage": {"pk": {"S": format!("S#{id}")}, "sk": {"S": "META"}, "kind": {"S": "session"}},
                        "SequenceNumber": format!("{}", 100 + i), "SizeBytes": 100,
                        "StreamViewType": "NEW_IMAGE"
                    },
                    "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
                })
            })
            .collect();
        let e: aws_lambda_events::event::dynamodb::Event =
            serde_json::from_value(json!({ "Records": records })).unwrap();
        lambda_runtime::LambdaEvent::new(e, lambda_runtime::Context::default())
    };
    let r = handoff::handler(store.as_ref(), &d, event(&[ok.id]))
        .await
        .unwrap();
    assert!(r.batch_item_failures.is_empty());
    assert!(sb.record("Case", ok.id.case_id().as_uuid()).is_some());
    // Creatio down: the failing session's first record is reported.
    let down = handed_off(store.as_ref(), "+15551230009", 2).await;
    sb.set_faults(1.0, 503, None);
    let r = handoff::handler(store.as_ref(), &d, event(&[ok.id, down.id]))
        .await
        .unwrap();
    let failed: Vec<Option<String>> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, [Some("101".to_owned())]);
}

#[tokio::test]
async fn the_idle_close_resolve_never_touches_a_case_a_rep_holds() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let mut d = deps_with(&sb, SyncMode::EveryConversation, Settings::embedded());
    d.creatio_config.resolved_status_id = Some(LookupId::parse(RESOLVED).unwrap());
    let close = |id: SessionId, from: SessionState| {
        let store = store.clone();
        async move {
            store
                .transition(
                    id,
                    Transition::new(from, SessionState::Closed).unwrap(),
                    Default::default(),
                    Timestamp::now(),
                )
                .await
                .unwrap();
        }
    };
    let status_of = |s: &Session| {
        sb.record("Case", s.id.case_id().as_uuid()).unwrap()["StatusId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A handed-off conversation that ends (whoever closed it): its case is the rep's, and
    // casebridge writes nothing to its status.
    let held = handed_off(store.as_ref(), ANN, 2).await;
    sync_session(store.as_ref(), &d, held.id).await.unwrap();
    close(held.id, SessionState::WithAgent).await;
    sync_session(store.as_ref(), &d, held.id).await.unwrap();
    assert_eq!(status_of(&held), NEW);
    // A conversation only the assistant was in, closed idle: its case is resolved.
    let (alone, _) = store
        .find_or_open(&key("+15551230004"), Timestamp::now())
        .await
        .unwrap();
    store
        .append(
            &alone,
            vec![
                msg(Role::Customer, "hours?"),
                msg(Role::Assistant, "9 to 5."),
            ],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, alone.id).await.unwrap();
    close(alone.id, SessionState::Assistant).await;
    sync_session(store.as_ref(), &d, alone.id).await.unwrap();
    assert_eq!(status_of(&alone), RESOLVED);
    // One a rep answered, though never handed off: the rep holds it, nothing is written.
    let (answered, _) = store
        .find_or_open(&key("+15551230005"), Timestamp::now())
        .await
        .unwrap();
    store
        .append(
            &answered,
            vec![msg(Role::Customer, "hello?"), msg(Role::Agent, "Bob here.")],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, answered.id).await.unwrap();
    close(answered.id, SessionState::Assistant).await;
    sync_session(store.as_ref(), &d, answered.id).await.unwrap();
    assert_eq!(status_of(&answered), NEW);
    // One Creatio closed (status Closed): nothing is written back.
    let (creatio_closed, _) = store
        .find_or_open(&key("+15551230003"), Timestamp::now())
        .await
        .unwrap();
    store
        .append(
            &creatio_closed,
            vec![msg(Role::Customer, "thanks")],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, creatio_closed.id)
        .await
        .unwrap();
    d.creatio
        .patch(
            "Case",
            creatio_closed.id.case_id().as_uuid(),
            json!({"StatusId": CLOSED}),
        )
        .await
        .unwrap();
    close(creatio_closed.id, SessionState::Assistant).await;
    sync_session(store.as_ref(), &d, creatio_closed.id)
        .await
        .unwrap();
    assert_eq!(status_of(&creatio_closed), CLOSED);
}

const NEW: &str = "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38";
const RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";
const CLOSED: &str = "3e7f420c-f46b-1410-fc9a-0050ba5d6c38";

/// A conversation of `n` customer/assistant messages arriving one at a time (a millisecond
/// apart), handed off at the end.
async fn conversation(store: &dyn Store, phone: &str, n: usize, t0: Timestamp) -> Session {
    let (mut s, _) = store.find_or_open(&key(phone), t0).await.unwrap();
    for i in 0..n {
        let role = if i % 2 == 0 {
            Role::Customer
        } else {
            Role::Assistant
        };
        let change = (i + 1 == n).then(|| StateChange {
            transition: Transition::new(SessionState::Assistant, SessionState::HandoffRequested)
                .unwrap(),
            handoff_reason: Some("customer asked for a person".into()),
        });
        let at = t0 + jiff::SignedDuration::from_millis(i as i64 + 1);
        if let casebridge::store::Appended::Stored { session, .. } = store
            .append(
                &s,
                vec![msg(role, &format!("{phone} message {i}"))],
                change,
                at,
            )
            .await
            .unwrap()
        {
            s = *session;
        }
    }
    s
}

/// Syncs every session concurrently, each retried until it goes through (as the stream
/// redelivers a failed batch); returns how many attempts failed on the way.
async fn sync_all(store: &Arc<dyn Store>, d: &Arc<Deps>, ids: &[SessionId]) -> usize {
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, d, id) = (store.clone(), d.clone(), *id);
            tokio::spawn(async move {
                let mut failures = 0;
                while sync_session(store.as_ref(), &d, id).await.is_err() {
                    failures += 1;
                    assert!(failures < 100, "{id} never went through");
                }
                failures
            })
        })
        .collect();
    let mut failures = 0;
    for t in tasks {
        failures += t.await.unwrap();
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_handoffs_under_faults_latency_and_expiry_land_exactly_once_in_order() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = Arc::new(deps(&sb));
    let t0 = Timestamp::now();
    // GIVEN 50 conversations of 6 messages handed off at once
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(
            conversation(store.as_ref(), &format!("+155512{i:05}"), 6, t0)
                .await
                .id,
        );
    }
    // AND Creatio failing 30% of requests with 503, 5 ms slower, and signing everyone out every
    // 40 requests
    sb.set_faults(0.3, 503, Some(Duration::from_millis(5)));
    sb.set_expiry(Some(40), ExpiryStyle::RedirectToLogin);
    // WHEN the stream syncs them all concurrently, then two follow-ups each, again concurrently
    let mut failures = sync_all(&store, &d, &ids).await;
    for (n, id) in ids.iter().enumerate() {
        let mut s = store.session(*id).await.unwrap().unwrap();
        for j in 0..2 {
            let at = t0 + jiff::SignedDuration::from_millis(100 + j);
            if let casebridge::store::Appended::Stored { session, .. } = store
                .append(
                    &s,
                    vec![msg(Role::Customer, &format!("follow-up {n}.{j}"))],
                    None,
                    at,
                )
                .await
                .unwrap()
            {
                s = *session;
            }
        }
    }
    failures += sync_all(&store, &d, &ids).await;
    sb.set_faults(0.0, 503, None);
    sb.set_expiry(None, ExpiryStyle::RedirectToLogin);
    // THEN one case per conversation, and every message exactly once, in order
    assert_eq!(sb.records("Case").len(), 50);
    for id in &ids {
        let acts = activities_of(&sb, id.case_id().as_uuid());
        let got: Vec<String> = acts
            .iter()
            .map(|a| a["Id"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (1..=8).map(|seq| id.activity_id(seq).to_string()).collect();
        assert_eq!(
            got, want,
            "{id}: activities missing, doubled or out of order"
        );
        let s = store.session(*id).await.unwrap().unwrap();
        assert_eq!((s.state, s.synced_seq), (SessionState::WithAgent, 8));
    }
    assert_eq!(sb.records("Activity").len(), 400);
    assert!(failures > 0, "the faults were felt");
    eprintln!("50 concurrent handoffs: {failures} failed attempts retried");
}

/// `n` conversations of 4 messages handed off at once, synced concurrently against a sandbox
/// that answers `limit` requests at once (429 with Retry-After above), by a client allowed
/// `client` at once; every case and activity is checked, once and in order. The sandbox's
/// (peak in flight, 429s).
async fn burst(n: usize, limit: usize, client: usize) -> (usize, usize) {
    let store: Arc<dyn Store> = Arc::new(casebridge::store::memory::MemoryStore::new());
    let sb = sandbox(SandboxConfig::default()).await;
    let client = client.to_string();
    let d = Arc::new(deps_of(
        &sb,
        SyncMode::Handoff,
        Settings::embedded(),
        &[("CREATIO_MAX_CONCURRENCY", client.as_str())],
    ));
    let t0 = Timestamp::now();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            conversation(store.as_ref(), &format!("+155513{i:05}"), 4, t0)
                .await
                .id,
        );
    }
    sb.set_faults(0.0, 503, Some(Duration::from_millis(2)));
    sb.limit_concurrency(Some(limit));
    sync_all(&store, &d, &ids).await;
    let seen = sb.concurrency();
    sb.limit_concurrency(None);
    assert_eq!(sb.records("Case").len(), n);
    assert_eq!(sb.records("Activity").len(), 4 * n);
    for id in &ids {
        let got: Vec<String> = activities_of(&sb, id.case_id().as_uuid())
            .iter()
            .map(|a| a["Id"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (1..=4).map(|seq| id.activity_id(seq).to_string()).collect();
        assert_eq!(
            got, want,
            "{id}: activities missing, doubled or out of order"
        );
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_300_handoffs_never_has_more_than_the_limit_in_flight() {
    // GIVEN Creatio answering 3 requests at once, and CREATIO_MAX_CONCURRENCY=3
    // WHEN 300 handoffs are synced at once
    let (peak, throttled) = burst(300, 3, 3).await;
    // THEN never more than 3 in flight, so Creatio never had to refuse one
    assert!(peak <= 3, "{peak} requests in flight");
    assert_eq!(throttled, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_is_waited_out_and_nothing_is_lost() {
    // GIVEN a client allowed more at once than Creatio answers
    let (peak, throttled) = burst(6, 1, 4).await;
    // THEN Creatio refused some, the client waited as told, and everything landed once
    assert!(throttled > 0, "the limit was felt");
    assert!(peak <= 1, "{peak}");
}

// ---- Creatio as it really answers ---------------------------------------------------------------

#[tokio::test]
async fn a_group_that_does_not_exist_is_refused_once_and_named_not_retried() {
    for dialect in [
        creatio_sandbox::Dialect::SqlServer,
        creatio_sandbox::Dialect::Postgres,
    ] {
        let store = store().await;
        let sb = sandbox(SandboxConfig {
            dialect,
            ..SandboxConfig::default()
        })
        .await;
        // GIVEN a case group GUID copied from another installation
        let mut d = deps(&sb);
        let wrong = LookupId::from_uuid(uuid::Uuid::new_v4());
        d.creatio_config.case_group_id = Some(wrong);
        d.creatio = CreatioClient::new(
            &d.creatio_config,
            casebridge::http::client(Duration::from_secs(10)).unwrap(),
            RetryPolicy {
                attempts: 4,
                min_delay: Duration::from_millis(2),
                max_delay: Duration::from_millis(10),
            },
        );
        let s = handed_off(store.as_ref(), ANN, 4).await;
        sb.clear_log();
        // WHEN the handoff syncs
        let err = sync_session(store.as_ref(), &d, s.id).await.unwrap_err();
        // THEN it is permanent (the stream does not retry it), no case exists, and the error
        // names the setting and the column
        assert!(!err.is_transient(), "{dialect:?}: {err}");
        assert!(sb.record("Case", s.id.case_id().as_uuid()).is_none());
        let recorded = store
            .session(s.id)
            .await
            .unwrap()
            .unwrap()
            .sync_error
            .unwrap();
        assert!(
            recorded.contains("GroupId") && recorded.contains("CREATIO_CASE_GROUP_ID"),
            "{dialect:?}: {recorded}"
        );
        assert!(recorded.contains(&wrong.to_string()), "{recorded}");
        // AND no retry storm: the case went to Creatio in one $batch (then once more without
        // its AI fields), and the check of the configured lookups is one more
        let batches = sb
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("$batch"))
            .count();
        assert!(batches <= 4, "{dialect:?}: {batches} $batch requests");
        // (`casebridge doctor` names it too: cli/tests/cli.rs)
    }
}

#[tokio::test]
async fn an_ai_text_longer_than_its_column_creates_the_case_without_the_ai_fields() {
    let store = store().await;
    // GIVEN an installation whose Case has a short custom text column the AI fills
    let sb = sandbox(SandboxConfig {
        custom_columns: vec![creatio_sandbox::CustomColumn::text(
            "Case",
            "UsrNoSuchColumn",
            5,
        )],
        dialect: creatio_sandbox::Dialect::Postgres,
        ..SandboxConfig::default()
    })
    .await;
    let doc = include_str!("../../../shared/src/assistant/default.toml").replacen(
        "column = \"Notes\"",
        "column = \"UsrNoSuchColumn\"",
        1,
    );
    let settings = Settings::parse(&doc).unwrap();
    let mut d = deps_with(&sb, SyncMode::Handoff, settings.clone());
    d.concierge = Concierge::new(Arc::new(FillsText), Arc::new(settings));
    let s = handed_off(store.as_ref(), ANN, 4).await;
    // WHEN the handoff syncs ("replacement" does not fit in 5 characters)
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN the case is there without the field, with every activity, and the refusal recorded
    let case = sb
        .record("Case", s.id.case_id().as_uuid())
        .expect("case created");
    assert_eq!(case["UsrNoSuchColumn"], Value::Null);
    assert_eq!(activities_of(&sb, s.id.case_id().as_uuid()).len(), 4);
    let after = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(after.state, SessionState::WithAgent);
    let err = after.sync_error.expect("the refusal is recorded");
    assert!(err.contains("value too long"), "{err}");
}

#[tokio::test]
async fn a_contact_typed_in_any_form_is_found_and_never_duplicated() {
    for typed in [
        "(555) 123-4567",
        "555.123.4567",
        "+1 555 123 4567",
        "555-123-4567",
    ] {
        let store = store().await;
        let sb = sandbox(SandboxConfig::default()).await;
        let d = deps(&sb);
        // GIVEN a contact whose mobile a rep typed by hand (Creatio keeps it in
        // ContactCommunication with its SearchNumber)
        let mut contact = Map::new();
        contact.insert("Name".into(), json!("Ann Lee"));
        contact.insert("MobilePhone".into(), json!(typed));
        let known = sb.insert("Contact", contact);
        // WHEN an SMS from +15551234567 is handed off
        let s = handed_off(store.as_ref(), "+15551234567", 2).await;
        sync_session(store.as_ref(), &d, s.id).await.unwrap();
        // THEN the case is hers, and no second contact was created
        let case = sb.record("Case", s.id.case_id().as_uuid()).unwrap();
        assert_eq!(case["ContactId"], json!(known.to_string()), "{typed}");
        assert_eq!(sb.records("Contact").len(), 1, "{typed}: duplicated");
    }
    // A number that only shares its last digits is someone else: a new contact.
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let mut other = Map::new();
    other.insert("Name".into(), json!("Bob"));
    other.insert("MobilePhone".into(), json!("(444) 123-4567"));
    sb.insert("Contact", other);
    let s = handed_off(store.as_ref(), "+15551234567", 2).await;
    sync_session(store.as_ref(), &deps(&sb), s.id)
        .await
        .unwrap();
    assert_eq!(sb.records("Contact").len(), 2);
    // And the contact casebridge created is found by Creatio's own matching next time.
    let created = s.id.case_id();
    let case = sb.record("Case", created.as_uuid()).unwrap();
    let contact = case["ContactId"].as_str().unwrap().to_owned();
    assert!(
        sb.records("ContactCommunication")
            .iter()
            .any(|c| c["ContactId"] == json!(contact) && c["SearchNumber"] == "76543215551"),
        "{:?}",
        sb.records("ContactCommunication")
    );
}

#[tokio::test]
async fn a_verified_email_matches_its_contact_whatever_the_case() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let mut contact = Map::new();
    contact.insert("Name".into(), json!("Pat Doe"));
    contact.insert("Email".into(), json!("Pat.Doe@Example.com"));
    let known = sb.insert("Contact", contact);
    let key = ConversationKey::new(
        Channel::Widget,
        Customer::Email(VerifiedEmail::parse("pat.doe@example.com").unwrap()),
        "widget",
    );
    let (s, _) = store.find_or_open(&key, Timestamp::now()).await.unwrap();
    test_support::fixtures::hand_off(store.as_ref(), &s, "a person please", Timestamp::now()).await;
    sync_session(store.as_ref(), &deps(&sb), s.id)
        .await
        .unwrap();
    let case = sb.record("Case", s.id.case_id().as_uuid()).unwrap();
    assert_eq!(case["ContactId"], json!(known.to_string()));
    assert_eq!(sb.records("Contact").len(), 1);
}

#[tokio::test]
async fn an_answer_from_an_action_reaches_creatio_as_text_and_the_brief_names_the_action() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    // GIVEN a conversation in which an action answered before the customer asked for a person
    let (s, _) = store
        .find_or_open(&key(ANN), Timestamp::now())
        .await
        .unwrap();
    let card = test_support::fixtures::order_card();
    store
        .append(
            &s,
            vec![
                msg(Role::Customer, "where is my order 5511"),
                msg(Role::Assistant, "Order 5511: shipped.").with_card(Some(card)),
            ],
            None,
            Timestamp::now(),
        )
        .await
        .unwrap();
    let s = store.session(s.id).await.unwrap().unwrap();
    test_support::fixtures::hand_off(store.as_ref(), &s, "talk to a person", Timestamp::now())
        .await;
    // WHEN it is synced
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN the answer's activity holds its text and which action gave it
    let notes = sb
        .record("Activity", s.id.activity_id(2).as_uuid())
        .unwrap()["Notes"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(notes.contains("Order 5511: shipped."), "{notes}");
    assert!(
        notes.contains("Answered by the action order_status."),
        "{notes}"
    );
    // AND the case's description says which actions ran
    let case = sb.record("Case", s.id.case_id().as_uuid()).unwrap();
    let symptoms = case["Symptoms"].as_str().unwrap();
    assert!(
        symptoms.contains("Actions the assistant ran: order_status."),
        "{symptoms}"
    );
}

#[tokio::test]
async fn a_handoff_writes_one_case_line_its_activities_and_creatios_latency() {
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), "+15551230041", 6).await;
    casebridge::metrics::capture_start();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let lines = casebridge::metrics::capture_take();
    let of = |name: &str| -> Vec<f64> {
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter_map(|v| v.get(name).and_then(Value::as_f64))
            .collect()
    };
    assert_eq!(of("CasesCreated"), [1.0], "{lines:?}");
    assert_eq!(of("ActivitiesSynced"), [6.0], "{lines:?}");
    let requests = sb.api_requests();
    assert!(!of("CreatioLatency").is_empty() && of("CreatioLatency").len() <= requests + 1);
}

#[tokio::test]
async fn what_the_customer_has_read_shows_on_the_case_in_one_activity() {
    // GIVEN a handed-off conversation whose case exists, and two rep replies stored for it
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 4).await;
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    let case = s.id.case_id().as_uuid();
    add(
        store.as_ref(),
        s.id,
        Role::Agent,
        "Hi, Bob here: we are on it.",
    )
    .await;
    let first_reply = add(store.as_ref(), s.id, Role::Agent, "It ships today.")
        .await
        .last_seq
        - 1;
    let receipt = |sb: &Sandbox| {
        activities_of(sb, case)
            .into_iter()
            .find(|a| a["Id"] == s.id.note_activity_id("read").to_string())
    };
    // WHEN the customer has seen the first reply (the widget reports it) and the sync runs
    assert!(
        store
            .mark_read(s.id, first_reply, Timestamp::now())
            .await
            .unwrap()
    );
    assert!(
        store
            .needing_sync()
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == s.id)
    );
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN the case has one activity saying so, with the reply it counts up to
    let r = receipt(&sb).expect("a read receipt on the case");
    assert_eq!(
        r["Title"],
        "casebridge: the customer has read 1 of 2 replies"
    );
    assert!(
        r["Notes"].as_str().unwrap().contains("we are on it"),
        "{r:?}"
    );
    // AND the session no longer needs a sync for it
    assert!(
        !store
            .needing_sync()
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == s.id)
    );
    // WHEN the customer has seen the second too THEN the same activity says so, rewritten
    let n = activities_of(&sb, case).len();
    store
        .mark_read(s.id, first_reply + 1, Timestamp::now())
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(
        receipt(&sb).unwrap()["Title"],
        "casebridge: the customer has read 2 of 2 replies"
    );
    assert_eq!(activities_of(&sb, case).len(), n, "no second receipt");
    // AND a mark that goes back writes nothing
    assert!(
        !store
            .mark_read(s.id, first_reply, Timestamp::now())
            .await
            .unwrap()
    );
    // AND a receipt someone deleted in Creatio comes back with the next read
    let rid = s.id.note_activity_id("read").as_uuid();
    assert!(sb.remove("Activity", rid));
    add(store.as_ref(), s.id, Role::Agent, "Tracking: 1Z999.").await;
    store
        .mark_read(s.id, first_reply + 2, Timestamp::now())
        .await
        .unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    assert_eq!(
        receipt(&sb).expect("the receipt again")["Title"],
        "casebridge: the customer has read 3 of 3 replies"
    );
    assert!(
        store
            .session(s.id)
            .await
            .unwrap()
            .unwrap()
            .sync_error
            .is_none()
    );
}

#[tokio::test]
async fn a_read_mark_with_no_reply_to_count_is_done_and_a_refused_receipt_blocks_nothing() {
    // GIVEN a handed-off conversation with its case, and Creatio refusing to write activities
    // casebridge did not write before (rights on the receipt's create and patch)
    let store = store().await;
    let sb = sandbox(SandboxConfig::default()).await;
    let d = deps(&sb);
    let s = handed_off(store.as_ref(), ANN, 4).await;
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // WHEN the visitor reports having read up to their own last message (no rep reply yet)
    let last = store.session(s.id).await.unwrap().unwrap().last_seq;
    store.mark_read(s.id, last, Timestamp::now()).await.unwrap();
    sync_session(store.as_ref(), &d, s.id).await.unwrap();
    // THEN nothing is written and the session is not left waiting for Creatio
    assert!(
        !store
            .needing_sync()
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == s.id)
    );
    assert!(
        !activities_of(&sb, s.id.case_id().as_uuid())
            .iter()
            .any(|a| a["Id"] == s.id.note_activity_id("read").to_string())
    );
    // WHEN a rep replies, the customer writes again and has read the reply, but Creatio
    // refuses the receipt's writes
    add(store.as_ref(), s.id, Role::Agent, "Hi, Bob here.").await;
    let s3 = add(
        store.as_ref(),
        s.id,
        Role::Customer,
        "thanks, one more thing",
    )
    .await;
    store
        .mark_read(s.id, s3.last_seq, Timestamp::now())
        .await
        .unwrap();
    sb.deny("Activity", "PATCH");
    let synced = sync_session(store.as_ref(), &d, s.id).await;
    // THEN the customer's message still reaches the case, and no sync error is recorded
    assert!(synced.is_ok(), "{synced:?}");
    assert!(
        activities_of(&sb, s.id.case_id().as_uuid())
            .iter()
            .any(|a| a["Notes"]
                .as_str()
                .is_some_and(|n| n.contains("one more thing")))
    );
    let after = store.session(s.id).await.unwrap().unwrap();
    assert!(after.sync_error.is_none(), "{:?}", after.sync_error);
    assert!(
        !store
            .needing_sync()
            .await
            .unwrap()
            .iter()
            .any(|n| n.id == s.id)
    );
}
