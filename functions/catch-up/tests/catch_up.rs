//! The scheduled function's handler: one poll per invocation, whatever the event says, against
//! the Creatio sandbox.

use std::collections::HashMap;

use casebridge::config::Config;
use casebridge::domain::OutboxSource;
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::Timestamp;
use serde_json::json;

#[tokio::test]
async fn a_scheduled_invocation_is_one_poll_and_one_creatio_request() {
    // GIVEN a conversation with a person and its case, and a rep reply nobody reported
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let env: HashMap<&str, &str> = HashMap::from([
        ("CREATIO_URL", sandbox.url.as_str()),
        ("CREATIO_USERNAME", "Supervisor"),
        ("CREATIO_PASSWORD", "Supervisor"),
    ]);
    let deps = catch_up::Deps::from_config(&Config::from_source(&env).unwrap()).unwrap();
    let store = MemoryStore::new();
    let key = casebridge::domain::ConversationKey::new(
        casebridge::domain::Channel::Sms,
        casebridge::domain::Customer::Phone(
            casebridge::domain::PhoneNumber::parse("+15551230099", None).unwrap(),
        ),
        "+15557654321",
    );
    let (s, _) = store.find_or_open(&key, Timestamp::now()).await.unwrap();
    test_support::fixtures::with_an_agent(&store, s.id, Timestamp::now()).await;
    let reply = sandbox.rep_email(s.id.case_id().as_uuid(), "<p>Shipped.</p>");
    // WHEN the schedule invokes the function
    let scheduled = json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    let event = lambda_runtime::LambdaEvent::new(scheduled, lambda_runtime::Context::default());
    sandbox.clear_log();
    let answer = catch_up::handler(&store, &deps, event).await.unwrap();
    // THEN it asked Creatio once and put the reply in the outbox
    assert_eq!(sandbox.api_requests(), 1);
    assert_eq!(answer["queued"], 1, "{answer}");
    let entry = store
        .outbox_entry(casebridge::domain::ActivityId::from_uuid(reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.source, OutboxSource::CatchUp);
}
