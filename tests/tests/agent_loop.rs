//! The loop a support team lives in, end to end in-process: a customer texts, asks for a person,
//! the case is created in Creatio (the sandbox), a rep answers there (days later, by e-mail,
//! quoting the thread), and the customer gets the rep's new words, exactly once, whether the
//! business process calls the webhook, calls it twice, calls it too early, or never calls.
//!
//! The real handlers run: `sms_inbound::handle` (signed as Twilio signs), the reply webhook
//! `creatio_reply::handler`, and what the table's stream runs (`handoff::sync::sync_session`
//! for sessions, `casebridge::replies::deliver::deliver` for the outbox) and the schedule
//! (`casebridge::replies::catchup::poll`). On DynamoDB (moto) when the test command runs it.

use std::sync::Arc;
use std::time::Duration;

use casebridge::domain::*;
use casebridge::http::RetryPolicy;
use casebridge::replies::catchup;
use casebridge::replies::deliver::{Delivered, MAX_ATTEMPTS, deliver};
use casebridge::sms::twilio::TwilioClient;
use casebridge::store::Store;
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

const SID: &str = "AC00000000000000000000000000000017";
const TWILIO_TOKEN: &str = "agent-loop-twilio-token";
const OURS: &str = "+15550001717";
const ANN: &str = "+15551230017";
const WEBHOOK: &str = "agent-loop-webhook-token-0123456789";
const BASE: &str = "https://cb.example.com";
// Wednesday 10:00 in New York: inside the default business hours.
const T0: &str = "2026-01-14T15:00:00Z";

fn t0() -> Timestamp {
    T0.parse().unwrap()
}

async fn store() -> Arc<dyn Store> {
    test_support::moto::store_or_memory("loop").await
}

struct World {
    store: Arc<dyn Store>,
    sandbox: Sandbox,
    twilio: TwilioStandIn,
    sms: sms_inbound::Deps,
    webhook: creatio_reply::Deps,
    handoff: handoff::Deps,
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 2,
        min_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(5),
    }
}

async fn world() -> World {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let twilio = TwilioStandIn::start(SID, TWILIO_TOKEN).await.unwrap();
    let mut env = test_support::stack_env(BASE, &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", WEBHOOK),
        ("TWILIO_ACCOUNT_SID", SID),
        ("TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("TWILIO_FROM", OURS),
        ("TWILIO_API_URL", twilio.url.as_str()),
        ("WIDGET_SECRET", "agent-loop-widget-secret-0123456789abcdef"),
    ]);
    let config = test_support::config_of(&env);
    let mut handoff = handoff::Deps::from_config(&config).unwrap();
    // Retries that do not make the tests wait: two tries a send, milliseconds apart.
    let http = casebridge::http::client(Duration::from_secs(10)).unwrap();
    handoff.sms = Some(Arc::new(TwilioClient::new(
        http.clone(),
        config.twilio().unwrap().clone(),
        Some(format!("{BASE}/sms/status")),
        fast(),
    )));
    handoff.creatio =
        casebridge::creatio::CreatioClient::new(config.creatio().unwrap(), http, fast());
    World {
        store: store().await,
        sms: sms_inbound::Deps::from_config(&config).unwrap(),
        webhook: creatio_reply::Deps::from_config(&config).unwrap(),
        handoff,
        sandbox,
        twilio,
    }
}

/// A text from Ann at `at`, through the SMS webhook; the TwiML answer.
async fn text(w: &World, sid: &str, body: &str, at: Timestamp) -> String {
    let req = test_support::requests::twilio(
        TWILIO_TOKEN,
        &format!("{BASE}/sms/inbound"),
        &test_support::requests::inbound_sms(sid, SID, ANN, OURS, body),
    );
    let r = sms_inbound::handle(w.store.as_ref(), &w.sms, req, at).await;
    assert_eq!(r.status(), 200);
    match r.body() {
        lambda_http::Body::Text(t) => t.clone(),
        other => panic!("TwiML expected, got {other:?}"),
    }
}

/// What the table's stream runs until there is nothing left: the sync of every session Creatio
/// is behind on, and the delivery of every queued reply. The deliveries' outcomes, in order.
async fn stream(w: &World, at: Timestamp) -> Vec<Delivered> {
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let mut busy = false;
        for s in w.store.needing_sync().await.unwrap() {
            if handoff::sync::sync_session(w.store.as_ref(), &w.handoff, s.id)
                .await
                .is_ok()
            {
                busy |= s.state == SessionState::HandoffRequested || s.synced_seq < s.last_seq;
            }
        }
        for e in w.store.unfinished_outbox().await.unwrap() {
            if e.state.is_deliverable() {
                busy = true;
                match deliver(w.store.as_ref(), &w.handoff.replies(), e.activity_id, at).await {
                    Ok(d) => outcomes.push(d),
                    Err(e) => outcomes.push(Delivered::NotDelivered(format!("retry: {e}"))),
                }
            }
        }
        if !busy {
            break;
        }
    }
    outcomes
}

/// The business process calling the webhook, as the setup guide builds it.
async fn process_calls(w: &World, body: Value) -> (u16, Value) {
    let req =
        test_support::requests::creatio_webhook(&format!("{BASE}/creatio/reply"), WEBHOOK, &body);
    let r = creatio_reply::handler(w.store.as_ref(), &w.webhook, req)
        .await
        .unwrap();
    (r.status().as_u16(), test_support::requests::json_of(&r))
}

fn reported(case: uuid::Uuid, activity: uuid::Uuid) -> Value {
    json!({"event_type": "new_activity", "caseId": case.to_string(), "activityId": activity.to_string()})
}

fn ann_key() -> ConversationKey {
    ConversationKey::new(
        Channel::Sms,
        Customer::Phone(PhoneNumber::parse(ANN, None).unwrap()),
        OURS,
    )
}

/// Ann texts and asks for a person; the stream creates the case. Her session and its case id.
async fn handed_off(w: &World) -> (Session, uuid::Uuid) {
    text(w, "SM1701", "My order #A-1 never came", t0()).await;
    text(w, "SM1702", "I want to talk to a person", t0()).await;
    stream(w, t0()).await;
    let s = w.store.active_session(&ann_key()).await.unwrap().unwrap();
    assert_eq!(s.state, SessionState::WithAgent);
    let case = s.id.case_id().as_uuid();
    assert!(w.sandbox.record("Case", case).is_some());
    (s, case)
}

fn activities_on(w: &World, case: uuid::Uuid) -> Vec<Map<String, Value>> {
    w.sandbox
        .records("Activity")
        .into_iter()
        .filter(|a| a.get("CaseId").and_then(Value::as_str) == Some(&case.to_string()))
        .collect()
}

fn not_delivered_notes(w: &World, case: uuid::Uuid) -> Vec<String> {
    activities_on(w, case)
        .into_iter()
        .filter(|a| a["Title"] == "casebridge: reply not delivered")
        .map(|a| a["Notes"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn outbox(w: &World, activity: uuid::Uuid) -> OutboxEntry {
    w.store
        .outbox_entry(ActivityId::from_uuid(activity))
        .await
        .unwrap()
        .unwrap()
}

fn sent_bodies(w: &World) -> Vec<String> {
    w.twilio.sent().into_iter().map(|m| m.body).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_with_a_person_idle_for_three_days_keeps_its_case() {
    // GIVEN Ann's conversation handed to a person, and an SMS idle timeout of 3 hours
    let w = world().await;
    let (s, case) = handed_off(&w).await;
    let notices = sent_bodies(&w).len();
    // WHEN she texts again three days later
    let later = t0() + SignedDuration::from_hours(72);
    let twiml = text(&w, "SM1703", "Any news on my order?", later).await;
    // THEN the assistant says nothing: a person has the conversation
    assert_eq!(
        twiml.trim(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"
    );
    // AND the message is on the same session and becomes an activity on the same case
    let now = w.store.active_session(&ann_key()).await.unwrap().unwrap();
    assert_eq!(now.id, s.id);
    assert_eq!(now.state, SessionState::WithAgent);
    stream(&w, later).await;
    assert_eq!(w.sandbox.records("Case").len(), 1, "no second case");
    assert!(activities_on(&w, case).iter().any(|a| {
        a["Notes"]
            .as_str()
            .unwrap_or("")
            .contains("Any news on my order?")
    }));
    // AND the rep's reply, days later still, reaches her
    let reply = w
        .sandbox
        .rep_email(case, "<p>It left our warehouse this morning.</p>");
    let (status, _) = process_calls(&w, reported(case, reply)).await;
    assert_eq!(status, 200);
    stream(&w, later).await;
    let sent = sent_bodies(&w);
    assert_eq!(sent.len(), notices + 1, "{sent:?}");
    assert_eq!(sent.last().unwrap(), "It left our warehouse this morning.");
    assert_eq!(outbox(&w, reply).await.outcome.as_deref(), Some("sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_still_with_the_assistant_gives_way_after_the_idle_timeout() {
    let w = world().await;
    text(&w, "SM1711", "What are your opening hours?", t0()).await;
    let first = w.store.active_session(&ann_key()).await.unwrap().unwrap();
    let later = t0() + SignedDuration::from_hours(4);
    let twiml = text(&w, "SM1712", "What is your return policy?", later).await;
    assert!(twiml.contains("30 days"), "{twiml}");
    let second = w.store.active_session(&ann_key()).await.unwrap().unwrap();
    assert_ne!(second.id, first.id);
    assert_eq!(
        w.store.session(first.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twilio_503_then_a_success_sends_once() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    let reply = w.sandbox.rep_email(case, "<p>Thanks for waiting.</p>");
    // GIVEN Twilio answers 503 to both tries of the first delivery
    w.twilio.fail_next(&[503, 503]);
    // WHEN the process calls (without the case id: the delivery reads it from the activity)
    let (status, body) = process_calls(
        &w,
        json!({"event_type": "new_activity", "activityId": reply.to_string()}),
    )
    .await;
    // THEN the webhook has answered before Twilio was asked anything
    assert_eq!((status, body["status"].as_str()), (200, Some("queued")));
    assert_eq!(w.twilio.sent().len(), before);
    // AND the first delivery fails for now, and the stream's retry sends it, once
    let first = deliver(
        w.store.as_ref(),
        &w.handoff.replies(),
        ActivityId::from_uuid(reply),
        t0(),
    )
    .await;
    assert!(first.is_err(), "{first:?}");
    let e = outbox(&w, reply).await;
    assert_eq!((e.state, e.attempts), (OutboxState::Retrying, 1));
    assert_eq!(e.case_id.map(|c| c.as_uuid()), Some(case));
    assert_eq!(stream(&w, t0()).await, [Delivered::Sent]);
    assert_eq!(stream(&w, t0()).await, []);
    let sent = sent_bodies(&w);
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent.last().unwrap(), "Thanks for waiting.");
    assert!(not_delivered_notes(&w, case).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_reach_the_customer_in_the_order_the_rep_wrote_them() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    // GIVEN a rep writes twice, and the process reports both, in order
    let first = w.sandbox.rep_email(case, "<p>First.</p>");
    let second = w.sandbox.rep_email(case, "<p>Second.</p>");
    process_calls(&w, reported(case, first)).await;
    process_calls(&w, reported(case, second)).await;
    // AND Twilio refuses the first reply's delivery for a while
    w.twilio.fail_next(&[503; 4]);
    let replies = w.handoff.replies();
    assert!(
        deliver(
            w.store.as_ref(),
            &replies,
            ActivityId::from_uuid(first),
            t0()
        )
        .await
        .is_err()
    );
    // WHEN the second reply's own delivery runs while the first still fails
    let held = deliver(
        w.store.as_ref(),
        &replies,
        ActivityId::from_uuid(second),
        t0(),
    )
    .await;
    // THEN it is held back, not sent ahead of the first
    assert!(held.is_err(), "{held:?}");
    assert_eq!(w.twilio.sent().len(), before);
    assert_eq!(
        outbox(&w, second).await.attempts,
        0,
        "waiting is no failure"
    );
    // AND once Twilio answers, the second's delivery sends the first, then itself
    assert_eq!(
        deliver(
            w.store.as_ref(),
            &replies,
            ActivityId::from_uuid(second),
            t0()
        )
        .await
        .unwrap(),
        Delivered::Sent
    );
    assert_eq!(&sent_bodies(&w)[before..], ["First.", "Second."]);
    assert_eq!(stream(&w, t0()).await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_that_lasts_is_given_up_and_the_case_says_why() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    let reply = w.sandbox.rep_email(case, "<p>Your refund is approved.</p>");
    w.twilio.fail_next(&[503; 64]);
    process_calls(&w, reported(case, reply)).await;
    let mut outcomes = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        outcomes.push(
            deliver(
                w.store.as_ref(),
                &w.handoff.replies(),
                ActivityId::from_uuid(reply),
                t0(),
            )
            .await,
        );
    }
    assert!(outcomes[..outcomes.len() - 1].iter().all(|o| o.is_err()));
    assert!(
        matches!(outcomes.last(), Some(Ok(Delivered::NotDelivered(why))) if why.starts_with("gave up after 5 attempts")),
        "{:?}",
        outcomes.last()
    );
    assert_eq!(outbox(&w, reply).await.state, OutboxState::Done);
    assert_eq!(w.twilio.sent().len(), before);
    let notes = not_delivered_notes(&w, case);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("Reply not delivered: gave up after 5 attempts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_no_process_reports_is_delivered_by_the_catch_up() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let interval = Duration::from_secs(60);
    // A first poll on the quiet case sets the marks.
    catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    let before = w.twilio.sent().len();
    // GIVEN a rep's reply that no business process reports
    let reply = w
        .sandbox
        .rep_email(case, "<p>Found it: it ships Monday.</p>");
    // WHEN the next poll runs (one interval later at most)
    w.sandbox.clear_log();
    let polled = catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    // THEN it asked Creatio once, found the reply, and queued it
    assert_eq!(w.sandbox.api_requests(), 1);
    assert_eq!((polled.activities, polled.queued), (1, 1));
    assert_eq!(outbox(&w, reply).await.source, OutboxSource::CatchUp);
    stream(&w, t0()).await;
    assert_eq!(w.twilio.sent().len(), before + 1);
    assert_eq!(
        sent_bodies(&w).last().unwrap(),
        "Found it: it ships Monday."
    );
    // AND a poll with nothing new asks Creatio once and queues nothing
    w.sandbox.clear_log();
    let polled = catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(w.sandbox.api_requests(), 1);
    assert_eq!(polled, catchup::Polled::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_closed_without_the_process_closes_the_conversation_at_the_next_poll() {
    let w = world().await;
    let (s, case) = handed_off(&w).await;
    let interval = Duration::from_secs(60);
    catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    w.handoff
        .creatio
        .patch(
            "Case",
            case,
            json!({"StatusId": casebridge::creatio::base_ids::CASE_STATUS_RESOLVED}),
        )
        .await
        .unwrap();
    let polled = catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!(polled.closed, 1, "{polled:?}");
    assert_eq!(
        w.store.session(s.id).await.unwrap().unwrap().state,
        SessionState::Closed
    );
    // The next text starts over with the assistant.
    let twiml = text(&w, "SM1721", "What is your return policy?", t0()).await;
    assert!(twiml.contains("30 days"), "{twiml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_between_the_case_creation_and_its_link_is_delivered() {
    let w = Arc::new(world().await);
    text(&w, "SM1731", "My order #A-9 never came", t0()).await;
    text(&w, "SM1732", "I want to talk to a person", t0()).await;
    let s = w.store.active_session(&ann_key()).await.unwrap().unwrap();
    // GIVEN the sync caught just after Creatio created the case, before the link is written
    let mut hold = w.sandbox.hold_next_case();
    let sync = {
        let w = w.clone();
        tokio::spawn(async move {
            handoff::sync::sync_session(w.store.as_ref(), &w.handoff, s.id).await
        })
    };
    let case = hold.created().await.unwrap();
    assert_eq!(case, s.id.case_id().as_uuid());
    assert!(
        w.store
            .find_by_case(s.id.case_id())
            .await
            .unwrap()
            .is_none()
    );
    // WHEN a rep (or an automation) answers at once, and the process calls
    let reply = w.sandbox.rep_email(case, "<p>Hello, I am on it.</p>");
    let (status, _) = process_calls(&w, reported(case, reply)).await;
    assert_eq!(status, 200);
    let early = deliver(
        w.store.as_ref(),
        &w.handoff.replies(),
        ActivityId::from_uuid(reply),
        t0(),
    )
    .await
    .unwrap();
    // THEN the reply is kept, not ignored
    assert_eq!(early, Delivered::Waiting);
    assert_eq!(outbox(&w, reply).await.state, OutboxState::Waiting);
    // AND once the link is written it is delivered
    hold.release();
    sync.await.unwrap().unwrap();
    assert_eq!(outbox(&w, reply).await.state, OutboxState::Queued);
    stream(&w, t0()).await;
    assert_eq!(sent_bodies(&w).last().unwrap(), "Hello, I am on it.");
    assert_eq!(outbox(&w, reply).await.outcome.as_deref(), Some("sent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_what_a_rep_wrote_for_the_customer_goes_out() {
    let w = world().await;
    let (s, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    // The customer's own e-mail into the case, an internal task, Creatio's own notification,
    // and the activity casebridge wrote for message 1: the process reports every one.
    let incoming = w
        .sandbox
        .customer_email(case, "<p>I also sent you an e-mail.</p>");
    let task = w.sandbox.rep_task(case, "Call the courier about A-1");
    let notice = w.sandbox.notification_email(case);
    let ours = s.id.activity_id(1).as_uuid();
    for a in [incoming, task, notice, ours] {
        let (status, _) = process_calls(&w, reported(case, a)).await;
        assert_eq!(status, 200);
    }
    stream(&w, t0()).await;
    assert_eq!(w.twilio.sent().len(), before, "{:?}", sent_bodies(&w));
    let outcomes: Vec<String> = {
        let mut v = Vec::new();
        for a in [incoming, task, notice, ours] {
            v.push(outbox(&w, a).await.outcome.unwrap_or_default());
        }
        v
    };
    assert_eq!(
        outcomes,
        [
            "ignored: an incoming e-mail",
            "ignored: an activity of a type that does not count as a reply (CREATIO_REPLY_TYPES)",
            "ignored: an automatic e-mail",
            "ignored: written by casebridge",
        ]
    );
    // Nothing of it reached the transcript either.
    let (_, t) = w.store.transcript(s.id).await.unwrap().unwrap();
    assert!(t.iter().all(|m| m.role != Role::Agent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quoted_gmail_and_outlook_replies_send_only_the_new_text() {
    let w = world().await;
    let (s, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    let gmail = w.sandbox.rep_email(
        case,
        r#"<div dir="ltr">Hi Ann, a replacement ships today.</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Wed, 14 Jan 2026 at 10:00, Ann &lt;ann@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">My order #A-1 never came</blockquote></div>"#,
    );
    let outlook = w.sandbox.rep_email(
        case,
        r#"<html><body><div>It will arrive Friday.</div><div id="appendonsend"></div><hr tabindex="-1"><div id="divRplyFwdMsg"><b>From:</b> Ann<br><b>Sent:</b> Wednesday<br><b>To:</b> Support</div><div>Where is it?</div></body></html>"#,
    );
    for a in [gmail, outlook] {
        process_calls(&w, reported(case, a)).await;
        stream(&w, t0()).await;
    }
    let sent = sent_bodies(&w);
    assert_eq!(
        sent[before..],
        [
            "Hi Ann, a replacement ships today.".to_owned(),
            "It will arrive Friday.".to_owned()
        ]
    );
    // The transcript holds what the customer got; the case keeps the whole e-mail.
    let (_, t) = w.store.transcript(s.id).await.unwrap().unwrap();
    let agent: Vec<&str> = t
        .iter()
        .filter(|m| m.role == Role::Agent)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(
        agent,
        [
            "Hi Ann, a replacement ships today.",
            "It will arrive Friday."
        ]
    );
    let kept = w.sandbox.record("Activity", gmail).unwrap();
    assert!(kept["Body"].as_str().unwrap().contains("gmail_quote"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_webhook_and_a_catch_up_finding_the_same_activity_send_once() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let interval = Duration::from_secs(60);
    catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    let before = w.twilio.sent().len();
    let reply = w.sandbox.rep_email(case, "<p>Sorted, see you soon.</p>");
    // The process calls twice (its retry), the stream runs, the process calls again, and the
    // catch-up finds the same activity.
    for _ in 0..2 {
        process_calls(&w, reported(case, reply)).await;
    }
    stream(&w, t0()).await;
    process_calls(&w, reported(case, reply)).await;
    let polled = catchup::poll(
        w.store.as_ref(),
        &w.handoff.replies(),
        interval,
        Timestamp::now(),
    )
    .await
    .unwrap();
    assert_eq!((polled.activities, polled.queued), (1, 0));
    stream(&w, t0()).await;
    assert_eq!(w.twilio.sent().len(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opted_out_customer_is_not_texted_and_the_case_hears_of_it() {
    let w = world().await;
    let (_, case) = handed_off(&w).await;
    let before = w.twilio.sent().len();
    w.twilio.opt_out(ANN);
    let reply = w
        .sandbox
        .rep_email(case, "<p>Any update from your side?</p>");
    process_calls(&w, reported(case, reply)).await;
    assert_eq!(
        stream(&w, t0()).await,
        [Delivered::NotDelivered(
            "the customer has opted out of SMS (replied STOP)".into()
        )]
    );
    assert_eq!(w.twilio.sent().len(), before);
    assert_eq!(
        not_delivered_notes(&w, case),
        ["Reply not delivered: the customer has opted out of SMS (replied STOP)"]
    );
    // The note is casebridge's own: reported back by the process, it is never sent.
    let note = activities_on(&w, case)
        .into_iter()
        .find(|a| a["Title"] == "casebridge: reply not delivered")
        .unwrap();
    let note_id = uuid::Uuid::parse_str(note["Id"].as_str().unwrap()).unwrap();
    process_calls(&w, reported(case, note_id)).await;
    stream(&w, t0()).await;
    assert_eq!(
        outbox(&w, note_id).await.outcome.as_deref(),
        Some("ignored: written by casebridge")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_widget_reply_follows_the_same_rules_and_is_stored_once() {
    let w = world().await;
    let key = ConversationKey::new(
        Channel::Widget,
        Customer::Email(VerifiedEmail::parse("ann@example.com").unwrap()),
        "widget",
    );
    let (s, _) = w.store.find_or_open(&key, t0()).await.unwrap();
    w.store
        .append(
            &s,
            vec![NewMessage::new(
                Role::Customer,
                MessageText::parse("I need a person").unwrap(),
            )],
            Some(
                Transition::new(SessionState::Assistant, SessionState::HandoffRequested)
                    .unwrap()
                    .into(),
            ),
            t0(),
        )
        .await
        .unwrap();
    stream(&w, t0()).await;
    let case = s.id.case_id().as_uuid();
    let reply = w.sandbox.rep_email(
        case,
        "<p>Hello from support.</p><blockquote>I need a person</blockquote>",
    );
    let task = w.sandbox.rep_task(case, "internal: check the stock");
    for a in [reply, reply, task] {
        process_calls(&w, reported(case, a)).await;
    }
    stream(&w, t0()).await;
    let agent = test_support::fixtures::agent_texts(w.store.as_ref(), s.id).await;
    assert_eq!(agent, ["Hello from support."]);
    assert_eq!(
        outbox(&w, reply).await.outcome.as_deref(),
        Some("stored for the widget")
    );
    assert!(w.twilio.sent().is_empty());
}
