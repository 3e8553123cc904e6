//! The soak's 30-second version in the test command: 200 conversations (SMS and widget) on moto
//! and the sandbox, 20 % handed off with reps replying, 30 % of Creatio's answers 503, every
//! Twilio webhook delivered twice. The five-minute run and its figures are `bench soak`.

use casebridge_bench::soak::{Plan, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_conversations_under_faults_lose_duplicate_and_reorder_nothing() {
    let Some(endpoint) = test_support::moto::endpoint() else {
        return;
    };
    // GIVEN the local stack on moto, Creatio failing 30 % of requests
    // WHEN 200 conversations talk for 30 seconds, every webhook delivered twice
    casebridge::telemetry::init();
    let report = run(Plan::quick(), &endpoint).await.unwrap();
    eprintln!("{}", report.table());
    // THEN every message, case, activity and rep reply is there once and in order
    assert!(
        report.problems.is_empty(),
        "{} problems:\n{}",
        report.problems.len(),
        report.problems.join("\n")
    );
    // AND the run was the one planned: handoffs, rep replies and Creatio's faults all happened
    assert_eq!(report.handoffs, 40);
    assert!(report.rep_replies >= 40, "{}", report.rep_replies);
    assert!(report.creatio_faults > 0);
    assert!(
        report.customer_messages >= 200,
        "{}",
        report.customer_messages
    );
}
