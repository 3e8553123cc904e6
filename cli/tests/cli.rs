//! The operator commands against the memory store and the Creatio sandbox.

use casebridge::domain::*;
use casebridge::store::memory::MemoryStore;
use casebridge::store::{StateChange, Store};
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::Timestamp;

/// The sync's deps for a deployment on the sandbox; one try a call.
fn deps(sb: &Sandbox) -> casebridge::creatio::sync::SyncDeps {
    let config =
        test_support::config_of(&test_support::stack_env("https://cb.example.com", &sb.url));
    let mut deps = casebridge::creatio::sync::SyncDeps::from_config(&config).unwrap();
    deps.creatio = deps.creatio.with_retry(test_support::quick_retry(1));
    deps
}

fn args(a: &str) -> Vec<String> {
    a.split_whitespace().map(str::to_owned).collect()
}

async fn conversation(store: &MemoryStore, phone: &str, hand_off: bool) -> SessionId {
    let key = ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(phone, None).unwrap()),
        "+15557654321",
    );
    let (s, _) = store.find_or_open(&key, Timestamp::now()).await.unwrap();
    let change = hand_off.then(|| StateChange {
        transition: Transition::new(SessionState::Assistant, SessionState::HandoffRequested)
            .unwrap(),
        handoff_reason: Some("customer asked for a person".into()),
    });
    let m = NewMessage::new(Role::Customer, MessageText::parse("agent please").unwrap());
    store
        .append(&s, vec![m], change, Timestamp::now())
        .await
        .unwrap();
    s.id
}

#[tokio::test]
async fn replaying_pending_sessions_after_a_creatio_outage_creates_their_cases() {
    let store = MemoryStore::new();
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    // GIVEN two handoffs whose stream records ended in the dead-letter queue (Creatio was down)
    let a = conversation(&store, "+15551230001", true).await;
    let b = conversation(&store, "+15551230002", true).await;
    let quiet = conversation(&store, "+15551230003", false).await;
    let out = casebridge_cli::run(&store, &args("sessions pending"), || unreachable!())
        .await
        .unwrap();
    assert!(
        out.contains(&a.to_string()) && out.contains(&b.to_string()),
        "{out}"
    );
    assert!(!out.contains(&quiet.to_string()));
    // WHEN the operator replays them
    let out = casebridge_cli::run(&store, &args("resync --pending"), || Ok(deps(&sb)))
        .await
        .unwrap();
    assert!(out.ends_with("0 failed\n"), "{out}");
    // THEN both have their case, and nothing is pending any more
    assert_eq!(sb.records("Case").len(), 2);
    let out = casebridge_cli::run(&store, &args("sessions pending"), || unreachable!())
        .await
        .unwrap();
    assert_eq!(out, "no session is waiting for Creatio\n");
    let out = casebridge_cli::run(
        &store,
        &args(&format!("sessions show {a}")),
        || unreachable!(),
    )
    .await
    .unwrap();
    assert!(out.contains("state     with_agent"), "{out}");
    assert!(out.contains(&format!("case      {}", a.case_id())), "{out}");
}

#[tokio::test]
async fn an_operator_can_hand_a_conversation_off() {
    let store = MemoryStore::new();
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let id = conversation(&store, "+15551230004", false).await;
    let out = casebridge_cli::run(
        &store,
        &args(&format!("handoff {id} customer called the hotline")),
        || Ok(deps(&sb)),
    )
    .await
    .unwrap();
    assert!(out.contains("CaseCreated"), "{out}");
    let s = store.session(id).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::WithAgent);
    assert_eq!(
        s.handoff_reason.as_deref(),
        Some("customer called the hotline")
    );
    // Twice is refused with a reason.
    let err = casebridge_cli::run(&store, &args(&format!("handoff {id}")), || Ok(deps(&sb)))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("only a session with the assistant")
    );
    let err = casebridge_cli::run(&store, &args("frobnicate"), || unreachable!())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("usage:"));
}

#[tokio::test]
async fn doctor_checks_the_configured_lookup_ids_against_creatio() {
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let d = deps(&sb);
    let report = casebridge_cli::check_lookups(&d).await;
    assert!(report.iter().all(|(ok, _)| *ok), "{report:?}");
    assert!(
        report
            .iter()
            .any(|(_, w)| w.contains("CREATIO_NEW_STATUS_ID") && w.contains("(New)"))
    );
    assert!(
        report
            .iter()
            .any(|(_, w)| w.contains("AI field PriorityId") && w.contains("\"High\""))
    );
    // A GUID from another installation is named, with what to do.
    let mut d = deps(&sb);
    d.creatio_config.new_status_id =
        LookupId::parse("11111111-2222-3333-4444-555555555555").unwrap();
    let report = casebridge_cli::check_lookups(&d).await;
    let bad: Vec<&String> = report
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, w)| w)
        .collect();
    assert_eq!(bad.len(), 1, "{report:?}");
    assert!(bad[0].contains("CREATIO_NEW_STATUS_ID") && bad[0].contains("does not exist"));
    // So are a case owner and a case group that are not there: the usual refused case.
    let mut d = deps(&sb);
    d.creatio_config.case_group_id =
        Some(LookupId::parse("11111111-2222-3333-4444-555555555555").unwrap());
    d.creatio_config.case_owner_id =
        Some(LookupId::parse("66666666-2222-3333-4444-555555555555").unwrap());
    let report = casebridge_cli::check_lookups(&d).await;
    let bad: Vec<&String> = report
        .iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, w)| w)
        .collect();
    assert_eq!(bad.len(), 2, "{report:?}");
    assert!(
        bad.iter()
            .any(|w| w.contains("CREATIO_CASE_GROUP_ID") && w.contains("SysAdminUnit"))
    );
    assert!(
        bad.iter()
            .any(|w| w.contains("CREATIO_CASE_OWNER_ID") && w.contains("Contact"))
    );
    // And a group that exists is found.
    d.creatio_config.case_group_id =
        Some(LookupId::parse(creatio_sandbox::schema::SUPPORT_GROUP).unwrap());
    d.creatio_config.case_owner_id = None;
    let report = casebridge_cli::check_lookups(&d).await;
    assert!(report.iter().all(|(ok, _)| *ok), "{report:?}");
}

#[tokio::test]
async fn replies_left_in_the_outbox_are_listed_and_replayed() {
    let store = MemoryStore::new();
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    // GIVEN a widget conversation with its case, and a rep reply whose delivery records ended in
    // the dead-letter queue (still queued in the table)
    let key = ConversationKey::new(
        Channel::Widget,
        Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap()),
        "widget",
    );
    let (s, _) = store.find_or_open(&key, Timestamp::now()).await.unwrap();
    test_support::fixtures::hand_off(&store, &s, "agent please", Timestamp::now()).await;
    let d = deps(&sb);
    casebridge::creatio::sync::sync_session(&store, &d, s.id)
        .await
        .unwrap();
    let reply = sb.rep_email(s.id.case_id().as_uuid(), "<p>Hello Ann.</p>");
    let activity = ActivityId::from_uuid(reply);
    store
        .enqueue(activity, None, OutboxSource::Webhook, Timestamp::now())
        .await
        .unwrap();
    // AND a case_updated whose status check failed for good in the stream (the rep resolved the
    // case; the records went to the dead-letter queue)
    d.creatio
        .patch(
            "Case",
            s.id.case_id().as_uuid(),
            serde_json::json!({"StatusId": "ae7f411e-f46b-1410-009b-0050ba5d6c38"}),
        )
        .await
        .unwrap();
    store
        .request_status_check(s.id.case_id(), Timestamp::now())
        .await
        .unwrap();
    // WHEN the operator looks, then replays
    let listed = casebridge_cli::run(&store, &args("replies pending"), || unreachable!())
        .await
        .unwrap();
    assert!(
        listed.contains(&reply.to_string()) && listed.contains("queued"),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("case {}  queued    status check", s.id.case_id())),
        "{listed}"
    );
    let out = casebridge_cli::run(&store, &args("resync --pending"), || Ok(deps(&sb)))
        .await
        .unwrap();
    // THEN the reply is delivered, and nothing is left
    assert!(
        out.contains(&format!("reply {reply}  stored for the widget")),
        "{out}"
    );
    assert!(
        out.contains(&format!("case {}  closed", s.id.case_id())),
        "{out}"
    );
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
    let listed = casebridge_cli::run(&store, &args("replies pending"), || unreachable!())
        .await
        .unwrap();
    assert_eq!(listed, "no reply is waiting to be delivered\n");
    let agent = test_support::fixtures::agent_texts(&store, s.id).await;
    assert_eq!(agent, ["Hello Ann."]);
}

#[tokio::test]
async fn knowledge_gaps_lists_the_most_frequent_unanswered_questions_first() {
    use casebridge::store::Gap;
    let store = MemoryStore::new();
    let now = Timestamp::now();
    let id = SessionId::new_random();
    for (q, days_ago, score) in [
        ("Do you sell bicycles?", 1, Some(0.1)),
        ("do you  sell BICYCLES?", 2, Some(0.3)),
        ("Can I pay in bitcoin?", 3, None),
        ("Is the shop open on Christmas?", 40, None),
    ] {
        store
            .record_gap(&Gap {
                session: id,
                question: q.into(),
                score,
                at: now - jiff::SignedDuration::from_hours(24 * days_ago),
            })
            .await
            .unwrap();
    }
    let out = casebridge_cli::run(&store, &args("knowledge gaps"), || Err("unused".into()))
        .await
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "3 unanswered question(s) in the last 30 day(s)");
    assert!(
        lines[1].contains("2  best 0.30  Do you sell bicycles?"),
        "{out}"
    );
    assert!(
        lines[2].contains("1  best    -  Can I pay in bitcoin?"),
        "{out}"
    );
    assert_eq!(lines.len(), 3, "older than 30 days is left out: {out}");
    let err = casebridge_cli::run(
        &store,
        &args("knowledge gaps soon"),
        || Err("unused".into()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not a number of days"));
}

/// `doctor` names the stack's alarms that are in alarm, from CloudWatch on moto; the alarms are
/// made there with boto3 (from the test command's Python tools), as CloudFormation names them.
#[tokio::test]
async fn doctor_names_the_stacks_alarms_in_alarm() {
    let (Some(endpoint), Some(tools)) = (test_support::moto::endpoint(), test_support::tools())
    else {
        return;
    };
    let stack = format!("cb{}", uuid::Uuid::new_v4().simple());
    let script = r#"
import sys, boto3
endpoint, stack = sys.argv[1], sys.argv[2]
cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id="local", aws_secret_access_key="local")
for name in [stack + "-DeadLetterAlarm-AB12", stack + "-FunctionErrorsAlarm-CD34",
             "other" + stack + "-DeadLetterAlarm-EF56"]:
    cw.put_metric_alarm(AlarmName=name, MetricName="Errors", Namespace="casebridge",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=0,
                        ComparisonOperator="GreaterThanThreshold")
for name in [stack + "-DeadLetterAlarm-AB12", "other" + stack + "-DeadLetterAlarm-EF56"]:
    cw.set_alarm_state(AlarmName=name, StateValue="ALARM",
                       StateReason="Threshold Crossed: 1 datapoint was greater than 0")
"#;
    let out = std::process::Command::new(tools.join("python"))
        .args(["-c", script, &endpoint, &stack])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cw = casebridge::cloudwatch::CloudWatch::local(&endpoint).unwrap();
    let report = casebridge_cli::alarm_report(&cw, &stack).await;
    assert_eq!(
        report,
        [
            (
                false,
                "alarm DeadLetterAlarm is in ALARM: Threshold Crossed: 1 datapoint was greater than 0"
                    .to_owned()
            ),
            (false, "alarms: 1 of 2 not in alarm".to_owned()),
        ]
    );
    // A stack with no alarm at all is named, not taken for a healthy one.
    let none = casebridge_cli::alarm_report(&cw, "no-such-stack").await;
    assert!(!none[0].0 && none[0].1.contains("has none"), "{none:?}");
}
