//! Requests per rep reply (the webhook, the stream's delivery) and per catch-up poll, on moto and
//! the sandbox, with 100 open cases: what docs/figures.md quotes for replies and the catch-up.

use std::time::Duration;

use casebridge::domain::*;
use casebridge::store::dynamo::DynamoStore;
use casebridge::store::{Retention, Store};
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::Timestamp;
use serde_json::json;

use crate::requests::*;

/// A rep reply's path and the catch-up, on moto and the sandbox: DynamoDB rows, and Creatio
/// requests per operation.
pub async fn replies(endpoint: &str) -> Result<(Vec<Row>, Vec<(String, usize)>), Error> {
    let counter = test_support::RequestCounter::default();
    let client = counter.install(&casebridge::aws::local_dynamodb_client(endpoint));
    let table = format!("bench-replies-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table).await?;
    let store = DynamoStore::new(client, table, Retention::default());
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let deps = handoff_deps(&sandbox)?;
    let now = Timestamp::now();
    // 100 open cases, each with its conversation (widget visitors: no SMS provider needed).
    let mut cases = Vec::new();
    for i in 0..100 {
        let key = ConversationKey::new(
            Channel::Widget,
            Customer::Email(VerifiedEmail::parse(&format!("visitor{i}@example.com"))?),
            "widget",
        );
        let (s, _) = store.find_or_open(&key, now).await?;
        for (from, to) in [
            (SessionState::Assistant, SessionState::HandoffRequested),
            (SessionState::HandoffRequested, SessionState::WithAgent),
        ] {
            store
                .transition(
                    s.id,
                    Transition::new(from, to)?,
                    casebridge::store::SessionChanges {
                        handoff_reason: None,
                        creatio: Some(CreatioLink {
                            case_id: s.id.case_id(),
                            case_number: None,
                            contact_id: None,
                        }),
                    },
                    now,
                )
                .await?;
        }
        let mut case = serde_json::Map::new();
        case.insert("Id".into(), json!(s.id.case_id().to_string()));
        case.insert("Subject".into(), json!(format!("Chat: visitor {i}")));
        sandbox.insert("Case", case);
        cases.push(s.id.case_id().as_uuid());
    }
    let interval = Duration::from_secs(60);
    let replies = deps.replies();
    // The first poll sets the marks (and signs in).
    casebridge::replies::catchup::poll(&store, &replies, interval, Timestamp::now()).await?;
    let mut rows = Vec::new();
    let mut creatio = Vec::new();
    counter.take();
    sandbox.clear_log();
    casebridge::replies::catchup::poll(&store, &replies, interval, Timestamp::now()).await?;
    rows.push(Row {
        what: "catch-up poll, nothing new (100 open cases)",
        counts: counter.take(),
    });
    creatio.push((
        "catch-up poll, nothing new (100 open cases)".to_owned(),
        sandbox.api_requests(),
    ));
    sandbox.rep_email(cases[42], "<p>Your order shipped today.</p>");
    sandbox.clear_log();
    let polled =
        casebridge::replies::catchup::poll(&store, &replies, interval, Timestamp::now()).await?;
    if polled.queued != 1 {
        return Err(format!("the poll should have queued the new reply: {polled:?}").into());
    }
    rows.push(Row {
        what: "catch-up poll, 1 new reply among 100 open cases",
        counts: counter.take(),
    });
    creatio.push((
        "catch-up poll, 1 new reply among 100 open cases".to_owned(),
        sandbox.api_requests(),
    ));
    // The same reply reported by the webhook, then delivered from the stream.
    let reply = sandbox.rep_email(cases[7], "<p>We are on it.</p>");
    let webhook = creatio_reply_request(cases[7], reply);
    let mut env = test_support::stack_env(BASE, &sandbox.url);
    env.insert("CREATIO_WEBHOOK_TOKEN", REPLY_TOKEN);
    let reply_deps = creatio_reply::Deps::from_config(&test_support::config_of(&env))?;
    let answer = creatio_reply::handler(&store, &reply_deps, webhook)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status() != 200 {
        return Err(format!("the webhook answered {}", answer.status()).into());
    }
    rows.push(Row {
        what: "rep reply webhook (recorded in the outbox)",
        counts: counter.take(),
    });
    sandbox.clear_log();
    casebridge::replies::deliver::deliver(
        &store,
        &replies,
        ActivityId::from_uuid(reply),
        Timestamp::now(),
    )
    .await?;
    rows.push(Row {
        what: "rep reply delivery from the stream (widget)",
        counts: counter.take(),
    });
    creatio.push((
        "rep reply delivery from the stream".to_owned(),
        sandbox.api_requests(),
    ));
    Ok((rows, creatio))
}

pub(crate) const REPLY_TOKEN: &str = "bench-webhook-token-0123456789";

pub(crate) fn creatio_reply_request(
    case: uuid::Uuid,
    activity: uuid::Uuid,
) -> lambda_http::Request {
    test_support::requests::creatio_webhook(
        &format!("{BASE}/creatio/reply"),
        REPLY_TOKEN,
        &test_support::requests::new_activity(case, activity),
    )
}
