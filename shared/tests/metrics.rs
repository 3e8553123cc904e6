//! CloudWatch EMF lines (`casebridge::metrics`): each is valid EMF (the `_aws` block names the
//! namespace, dimensions and metrics, and every dimension and metric has its value at the root),
//! and a customer turn writes exactly one line for what happened to it.

use casebridge::assistant::Concierge;
use casebridge::conversation::turn;
use casebridge::domain::*;
use casebridge::metrics::{self, Metric};
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use serde_json::Value;

/// The EMF specification's rules, checked on one line; the metric's (name, value, dimensions).
fn parse_emf(line: &str) -> (String, f64, Vec<(String, String)>) {
    let v: Value = serde_json::from_str(line).expect("one JSON object");
    let aws = &v["_aws"];
    assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 0), "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert_eq!(directives.len(), 1, "{line}");
    let d = &directives[0];
    assert_eq!(d["Namespace"], metrics::NAMESPACE);
    let sets = d["Dimensions"].as_array().unwrap();
    assert_eq!(sets.len(), 1);
    let dims: Vec<(String, String)> = sets[0]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let k = k.as_str().unwrap();
            // Every dimension's value is a string at the root.
            let value = v[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} missing in {line}"));
            (k.to_owned(), value.to_owned())
        })
        .collect();
    assert!(dims.len() <= 30 && dims[0].0 == "Function", "{line}");
    let m = d["Metrics"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    let name = m[0]["Name"].as_str().unwrap().to_owned();
    let unit = m[0]["Unit"].as_str().unwrap();
    assert!(
        ["Count", "Seconds", "Milliseconds"].contains(&unit),
        "{unit}"
    );
    let value = v[&name]
        .as_f64()
        .unwrap_or_else(|| panic!("{name} has no number in {line}"));
    (name, value, dims)
}

#[test]
fn every_metric_is_written_as_valid_emf() {
    let all = [
        Metric::Handoff {
            reason: "customer_asked",
        },
        Metric::AssistantAnswer,
        Metric::AssistantFallback,
        Metric::CaseCreated,
        Metric::ActivitiesSynced(7),
        Metric::SyncError { kind: "permanent" },
        Metric::ReplyDelivered,
        Metric::ReplyNotDelivered {
            reason: "opted_out",
        },
        Metric::CatchUpRun,
        Metric::CatchUpLag { seconds: 42.5 },
        Metric::CreatioLatency { ms: 120.0 },
        Metric::TwilioLatency { ms: 80.0 },
        Metric::PushFailed,
    ];
    let mut names = Vec::new();
    for m in &all {
        let (name, value, dims) = parse_emf(&metrics::line(
            m,
            "casebridge-SmsInbound",
            1_800_000_000_000,
        ));
        assert_eq!(dims[0].1, "casebridge-SmsInbound");
        names.push(name.clone());
        match m {
            Metric::ActivitiesSynced(n) => assert_eq!(value, *n as f64),
            Metric::Handoff { reason } => {
                assert_eq!(dims[1], ("Reason".to_owned(), (*reason).to_owned()))
            }
            Metric::SyncError { kind } => {
                assert_eq!(dims[1], ("Kind".to_owned(), (*kind).to_owned()))
            }
            _ => {}
        }
    }
    assert_eq!(names, Metric::NAMES);
}

async fn turn_of(store: &MemoryStore, phone: &str, text: &str) -> Vec<String> {
    let key = ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(phone, None).unwrap()),
        "+15557654321",
    );
    let (session, _) = store.find_or_open(&key, test_support::now()).await.unwrap();
    let transcript = store.recent(session.id, 40).await.unwrap().unwrap().1;
    metrics::capture_start();
    turn::take(
        store,
        &Concierge::embedded_default(),
        &session,
        transcript,
        vec![NewMessage::new(
            Role::Customer,
            MessageText::parse(text).unwrap(),
        )],
        None,
        test_support::now(),
    )
    .await
    .unwrap();
    metrics::capture_take()
}

#[tokio::test]
async fn a_turn_writes_one_line_for_its_answer_its_fallback_or_its_handoff() {
    let store = MemoryStore::new();
    for (phone, text, expected) in [
        (
            "+15551230031",
            "What is your return policy?",
            ("AssistantAnswers", None),
        ),
        (
            "+15551230032",
            "Do you sell bicycles for children?",
            ("AssistantFallbacks", None),
        ),
        (
            "+15551230033",
            "I want to talk to a person",
            ("Handoffs", Some(("Reason", "customer_asked"))),
        ),
    ] {
        let lines = turn_of(&store, phone, text).await;
        assert_eq!(lines.len(), 1, "{text}: {lines:?}");
        let (name, value, dims) = parse_emf(&lines[0]);
        assert_eq!((name.as_str(), value), (expected.0, 1.0), "{text}");
        if let Some((k, v)) = expected.1 {
            assert_eq!(dims[1], (k.to_owned(), v.to_owned()));
        }
    }
}
