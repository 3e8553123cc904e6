//! The soak: the local stack on DynamoDB (moto) and the Creatio sandbox with many conversations
//! at once and the faults production has, then every conversation checked end to end.
//!
//! `bench soak` (and the full `scripts/bench`) runs [`Plan::bench`]: 200 conversations for 5
//! minutes, whose figures docs/figures.md quotes. The test command runs [`Plan::quick`], the same
//! traffic and the same checks for 30 seconds (`bench/tests/soak.rs`).
//!
//! What the traffic is:
//! - half the conversations text (signed Twilio webhooks), half use the widget's HTTP API;
//! - each asks a question the rules assistant answers, pauses, asks again, until the time is up;
//! - one in five asks for a person at its second message, and from then on a rep replies every
//!   few seconds: an e-mail activity written in the sandbox and the webhook called as Creatio's
//!   business process calls it;
//! - every Twilio webhook arrives twice (half of them both at once, half after the first
//!   answered), every widget message is sent twice with its `client_id` (a retried POST), and
//!   every Creatio webhook is called twice;
//! - Creatio answers 30 % of its requests with 503.
//!
//! What is checked once the traffic stops and the stack has drained (every handoff synced,
//! every rep reply delivered): each conversation's transcript holds every customer message once,
//! in the order sent, and every rep reply once, in the order written; a conversation the
//! assistant kept has one answer per question; a handed-off one has exactly one case whose
//! activities are exactly the conversation's messages, in order; the customer received every rep
//! reply once and in order (SMS through the Twilio stand-in, widget through its polls, which never
//! show a message twice).
//!
//! Why the local stack and not the Lambda binaries: the handlers are the same functions, and the
//! local stack runs the stream's work (sync, delivery) in-process, so one process holds the whole
//! loop. Its sync loop takes sessions one after another, as one stream shard would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use casebridge::config::Config;
use casebridge::domain::{Channel, ConversationKey, Customer, PhoneNumber, Role, SessionId};
use casebridge::sms::signature::sign;
use casebridge::store::Store;
use casebridge::store::dynamo::DynamoStore;
use casebridge_local::{App, LOCAL_TWILIO_FROM, LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN};
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Who the sandbox's rep e-mails are from: the activities casebridge did not write.
const REP_SENDER: &str = "Support <support@example.com>";
const WEBHOOK_TOKEN: &str = "soak-webhook-token-0123456789";
const WIDGET_SECRET: &str = "soak-widget-secret-0123456789abcdef0123";
/// Questions the embedded settings' FAQ answers.
const QUESTIONS: [&str; 4] = [
    "What is your return policy?",
    "How long does shipping take?",
    "What are your opening hours?",
    "How do I track my order?",
];

/// How much traffic, for how long.
#[derive(Debug, Clone)]
pub struct Plan {
    pub conversations: usize,
    /// How long conversations keep writing; the drain comes after.
    pub duration: Duration,
    /// One conversation in `handoff_every` asks for a person.
    pub handoff_every: usize,
    /// Share of Creatio requests answered 503.
    pub creatio_fault_rate: f64,
    /// A conversation's pause between messages (varied ±50 %), and a rep's between replies.
    pub pause: Duration,
    /// How long the stack may take, after the traffic, to sync and deliver everything.
    pub drain_limit: Duration,
}

impl Plan {
    /// The bench's soak: 200 conversations for 5 minutes.
    pub fn bench() -> Self {
        Self {
            duration: Duration::from_secs(300),
            ..Self::quick()
        }
    }

    /// The test command's: the same traffic for 30 seconds.
    pub fn quick() -> Self {
        Self {
            conversations: 200,
            duration: Duration::from_secs(30),
            handoff_every: 5,
            creatio_fault_rate: 0.3,
            // A customer typing on a phone: a message every 5 to 15 seconds.
            pause: Duration::from_secs(10),
            // Generous: it bounds a failing run, not a passing one (which drains in seconds).
            drain_limit: Duration::from_secs(240),
        }
    }
}

/// What a run measured and what its checks found.
#[derive(Debug, Default)]
pub struct Report {
    pub conversations: usize,
    pub handoffs: usize,
    /// Customer messages accepted (first deliveries), and the seconds of traffic they took.
    pub customer_messages: usize,
    pub traffic_seconds: f64,
    /// Time to the answer of each customer message (the first delivery's response), sorted.
    pub latencies: Vec<Duration>,
    pub rep_replies: usize,
    /// Requests Creatio received, how many it answered 503 by design, the most at once.
    pub creatio_requests: usize,
    pub creatio_faults: usize,
    pub creatio_peak: usize,
    /// SMS sent through the Twilio stand-in (rep replies).
    pub twilio_sends: usize,
    /// From the end of the traffic to everything synced and delivered.
    pub drain_seconds: f64,
    /// Everything the checks found wrong; empty when the run held.
    pub problems: Vec<String>,
}

impl Report {
    pub fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }

    pub fn messages_per_second(&self) -> f64 {
        self.customer_messages as f64 / self.traffic_seconds.max(f64::EPSILON)
    }

    /// The markdown table the bench prints.
    pub fn table(&self) -> String {
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let rows = [
            (
                "conversations (SMS + widget), handed off",
                format!("{} ({} handed off)", self.conversations, self.handoffs),
            ),
            (
                "customer messages, each delivered twice",
                self.customer_messages.to_string(),
            ),
            ("messages/s", format!("{:.1}", self.messages_per_second())),
            ("answer latency p50", ms(self.percentile(0.5))),
            ("answer latency p99", ms(self.percentile(0.99))),
            ("rep replies", self.rep_replies.to_string()),
            (
                "Creatio requests (503 by design)",
                format!("{} ({})", self.creatio_requests, self.creatio_faults),
            ),
            (
                "Creatio requests in flight, peak",
                self.creatio_peak.to_string(),
            ),
            ("SMS sent through Twilio", self.twilio_sends.to_string()),
            (
                "drain after the traffic",
                format!("{:.1} s", self.drain_seconds),
            ),
            (
                "lost, duplicated or out of order",
                if self.problems.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{} problems", self.problems.len())
                },
            ),
        ];
        let mut out = String::from("| figure | value |\n|---|---|\n");
        for (what, value) in rows {
            out.push_str(&format!("| {what} | {value} |\n"));
        }
        out
    }
}

/// One conversation as its customer (and, once handed off, its rep) saw it.
#[derive(Debug, Default, Clone)]
struct Conversation {
    phone: Option<String>,
    /// Widget session id and token.
    widget: Option<(String, String)>,
    session: Option<SessionId>,
    handoff: bool,
    /// Customer texts in the order sent.
    sent: Vec<String>,
    /// Rep texts in the order written.
    rep: Vec<String>,
    /// What the widget's polls returned: (seq, role, text).
    polled: Vec<(u64, String, String)>,
}

struct Stack {
    base: String,
    http: reqwest::Client,
    store: Arc<dyn Store>,
    sandbox: Sandbox,
    twilio: Arc<TwilioStandIn>,
    plan: Plan,
    started: Instant,
    /// Set once the traffic is over and the stack is drained: pollers stop.
    done: std::sync::atomic::AtomicBool,
    latencies: Mutex<Vec<Duration>>,
    problems: Mutex<Vec<String>>,
}

impl Stack {
    fn problem(&self, p: String) {
        if let Ok(mut all) = self.problems.lock() {
            all.push(p);
        }
    }

    fn traffic_over(&self) -> bool {
        self.started.elapsed() >= self.plan.duration
    }

    /// A customer message both of whose deliveries answered 200: recorded as sent, with the
    /// first one's answer time. Else what was refused.
    async fn accepted(
        &self,
        c: &Mutex<Conversation>,
        text: String,
        elapsed: Duration,
        answers: [(&str, reqwest::Response); 2],
    ) -> Result<(), String> {
        for (which, r) in answers {
            if r.status() != 200 {
                return Err(format!("{which}: {}", refused(r).await));
            }
        }
        c.lock().map_err(|_| "poisoned")?.sent.push(text);
        if let Ok(mut l) = self.latencies.lock() {
            l.push(elapsed);
        }
        Ok(())
    }

    fn pause(&self) -> Duration {
        self.plan.pause.mul_f64(0.5 + fastrand::f64())
    }
}

/// Runs `plan` against a fresh table on the moto at `endpoint`.
pub async fn run(plan: Plan, endpoint: &str) -> Result<Report, Error> {
    let client = casebridge::aws::local_dynamodb_client(endpoint);
    let table = format!("soak-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table).await?;
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(
        client,
        &table,
        casebridge::store::Retention::default(),
    ));
    let sandbox = Sandbox::start(SandboxConfig::default()).await?;
    let twilio = Arc::new(TwilioStandIn::start(LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let env: HashMap<&str, &str> = HashMap::from([
        ("PUBLIC_BASE_URL", base.as_str()),
        ("CREATIO_URL", sandbox.url.as_str()),
        ("CREATIO_USERNAME", "Supervisor"),
        ("CREATIO_PASSWORD", "Supervisor"),
        ("CREATIO_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
        ("WIDGET_SECRET", WIDGET_SECRET),
        ("WIDGET_ALLOWED_ORIGINS", base.as_str()),
        ("TWILIO_ACCOUNT_SID", LOCAL_TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", LOCAL_TWILIO_TOKEN),
        ("TWILIO_FROM", LOCAL_TWILIO_FROM),
        ("TWILIO_API_URL", twilio.url.as_str()),
        // Every visitor comes from 127.0.0.1: the per-address limits would stop the soak, not
        // the load.
        ("WIDGET_SESSIONS_PER_HOUR", "1000000"),
        ("WIDGET_HANDOFFS_PER_DAY", "1000000"),
        ("WIDGET_MAX_MESSAGES", "1000000"),
        ("WIDGET_MAX_BYTES", "1000000000"),
    ]);
    let mut app = App::new(store.clone(), Config::from_source(&env)?);
    app.twilio = Some(twilio.clone());
    let app = Arc::new(app);
    casebridge_local::spawn_sync(app.clone());
    tokio::spawn(async move { casebridge_local::serve(listener, app).await });
    sandbox.set_faults(plan.creatio_fault_rate, 503, Some(Duration::from_millis(5)));
    sandbox.clear_log();

    let stack = Arc::new(Stack {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?,
        store,
        sandbox,
        twilio,
        plan: plan.clone(),
        started: Instant::now(),
        done: Default::default(),
        latencies: Mutex::new(Vec::new()),
        problems: Mutex::new(Vec::new()),
    });
    let conversations: Vec<Arc<Mutex<Conversation>>> = (0..plan.conversations)
        .map(|_| Arc::new(Mutex::new(Conversation::default())))
        .collect();
    let mut talking = Vec::new();
    let mut reps = Vec::new();
    let mut pollers = Vec::new();
    for (i, c) in conversations.iter().enumerate() {
        let handoff = i % plan.handoff_every == plan.handoff_every - 1;
        let sms = i % 2 == 0;
        if let Ok(mut c) = c.lock() {
            c.handoff = handoff;
        }
        let (s, c2) = (stack.clone(), c.clone());
        talking.push(tokio::spawn(async move {
            // Start the conversations over the first pause, not all in one instant.
            tokio::time::sleep(s.plan.pause.mul_f64(i as f64 / s.plan.conversations as f64)).await;
            let r = if sms {
                texting(&s, &c2, i).await
            } else {
                chatting(&s, &c2, i).await
            };
            if let Err(e) = r {
                s.problem(format!("conversation {i}: {e}"));
            }
        }));
        if handoff {
            let (s, c2) = (stack.clone(), c.clone());
            reps.push(tokio::spawn(async move {
                if let Err(e) = rep(&s, &c2, i).await {
                    s.problem(format!("rep of conversation {i}: {e}"));
                }
            }));
        }
        if !sms {
            let (s, c2) = (stack.clone(), c.clone());
            pollers.push(tokio::spawn(async move { poll(&s, &c2, i).await }));
        }
    }
    for t in talking {
        t.await?;
    }
    let traffic_seconds = stack.started.elapsed().as_secs_f64();
    for t in reps {
        t.await?;
    }
    let drain_started = Instant::now();
    let drained = drain(&stack, &conversations).await;
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    stack.done.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in pollers {
        t.await?;
    }
    if let Err(e) = drained {
        stack.problem(format!("not drained within {:?}: {e}", plan.drain_limit));
    }
    check(&stack, &conversations).await;

    let requests = stack.sandbox.requests();
    let mut report = Report {
        conversations: plan.conversations,
        handoffs: plan.conversations / plan.handoff_every,
        customer_messages: 0,
        traffic_seconds,
        latencies: stack
            .latencies
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default(),
        creatio_requests: requests.len(),
        creatio_faults: requests.iter().filter(|r| r.status == 503).count(),
        creatio_peak: stack.sandbox.concurrency().0,
        twilio_sends: stack.twilio.sent().len(),
        drain_seconds,
        ..Report::default()
    };
    for c in &conversations {
        if let Ok(c) = c.lock() {
            report.customer_messages += c.sent.len();
            report.rep_replies += c.rep.len();
        }
    }
    report.latencies.sort();
    report.problems = stack.problems.lock().map(|p| p.clone()).unwrap_or_default();
    Ok(report)
}

/// The message at which a conversation that is handed off asks for a person.
const HANDOFF_AT: usize = 1;

fn text_of(i: usize, k: usize, handoff: bool) -> String {
    if handoff && k == HANDOFF_AT {
        format!("I need to talk to a person please [c{i} m{k}]")
    } else {
        format!("{} [c{i} m{k}]", QUESTIONS[(i + k) % QUESTIONS.len()])
    }
}

/// An SMS conversation: each message a webhook as Twilio signs it, delivered twice.
async fn texting(s: &Stack, c: &Mutex<Conversation>, i: usize) -> Result<(), Error> {
    let phone = format!("+1555{:07}", 2_000_000 + i);
    let handoff = {
        let mut c = c.lock().map_err(|_| "poisoned")?;
        c.phone = Some(phone.clone());
        c.handoff
    };
    let url = format!("{}/sms/inbound", s.base);
    let mut k = 0;
    // A conversation that is to ask for a person does, however late it started.
    while !s.traffic_over() || (handoff && k <= HANDOFF_AT) {
        let text = text_of(i, k, handoff);
        let params: Vec<(String, String)> = [
            ("MessageSid", format!("SM{}", uuid::Uuid::new_v4().simple())),
            ("AccountSid", LOCAL_TWILIO_SID.to_owned()),
            ("From", phone.clone()),
            ("To", LOCAL_TWILIO_FROM.to_owned()),
            ("Body", text.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let signature = sign(LOCAL_TWILIO_TOKEN, &url, &params);
        let deliver = || {
            s.http
                .post(&url)
                .header("x-twilio-signature", &signature)
                .form(&params)
                .send()
        };
        let t0 = Instant::now();
        // Twilio's retry of the same webhook: half at once, half once the first has answered.
        let (first, second) = if k % 2 == 0 {
            let (a, b) = tokio::join!(deliver(), deliver());
            (a?, Some(b?))
        } else {
            (deliver().await?, None)
        };
        let elapsed = t0.elapsed();
        let second = match second {
            Some(r) => r,
            None => deliver().await?,
        };
        s.accepted(
            c,
            text,
            elapsed,
            [("first delivery", first), ("second delivery", second)],
        )
        .await
        .map_err(|e| format!("m{k}: {e}"))?;
        k += 1;
        tokio::time::sleep(s.pause()).await;
    }
    Ok(())
}

/// A refused request's status and body, for the report.
async fn refused(r: reqwest::Response) -> String {
    let status = r.status();
    format!("{status} {}", r.text().await.unwrap_or_default())
}

/// A widget conversation: a session, then each message POSTed twice with its client_id.
async fn chatting(s: &Stack, c: &Mutex<Conversation>, i: usize) -> Result<(), Error> {
    let r = s
        .http
        .post(format!("{}/widget/sessions", s.base))
        .header("origin", &s.base)
        .json(&json!({}))
        .send()
        .await?;
    if r.status() != 200 {
        return Err(format!("session start: {}", refused(r).await).into());
    }
    let started: Value = r.json().await?;
    let id = started["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let token = started["token"].as_str().unwrap_or_default().to_owned();
    let handoff = {
        let mut c = c.lock().map_err(|_| "poisoned")?;
        c.widget = Some((id.clone(), token.clone()));
        c.session = Some(SessionId::parse(&id).map_err(|_| "session id")?);
        c.handoff
    };
    let url = format!("{}/widget/sessions/{id}/messages", s.base);
    let mut k = 0;
    // A conversation that is to ask for a person does, however late it started.
    while !s.traffic_over() || (handoff && k <= HANDOFF_AT) {
        let text = text_of(i, k, handoff);
        let body = json!({"text": text, "client_id": format!("m{k}")});
        let send = || {
            s.http
                .post(&url)
                .header("origin", &s.base)
                .bearer_auth(&token)
                .json(&body)
                .send()
        };
        let t0 = Instant::now();
        let first = send().await?;
        let elapsed = t0.elapsed();
        let second = send().await?;
        s.accepted(
            c,
            text,
            elapsed,
            [("first send", first), ("retried send", second)],
        )
        .await
        .map_err(|e| format!("m{k}: {e}"))?;
        k += 1;
        tokio::time::sleep(s.pause()).await;
    }
    Ok(())
}

/// The widget's poll as widget.js schedules it: `after` the last seq it has, 2 seconds after
/// something new or a message sent, doubling while nothing comes up to 30 seconds; until the stack
/// has drained.
async fn poll(s: &Stack, c: &Mutex<Conversation>, i: usize) {
    let mut after = 0u64;
    let mut delay = Duration::from_secs(2);
    let mut sent_before = 0;
    loop {
        let sent_now = c.lock().map(|c| c.sent.len()).unwrap_or(0);
        if sent_now != sent_before {
            delay = Duration::from_secs(2);
            sent_before = sent_now;
        }
        let done = s.done.load(std::sync::atomic::Ordering::SeqCst);
        let widget = c.lock().ok().and_then(|c| c.widget.clone());
        if let Some((id, token)) = widget {
            let got = s
                .http
                .get(format!(
                    "{}/widget/sessions/{id}/messages?after={after}",
                    s.base
                ))
                .header("origin", &s.base)
                .bearer_auth(&token)
                .send()
                .await;
            match got {
                Ok(r) if r.status() == 200 => {
                    let page: Value = r.json().await.unwrap_or_default();
                    let messages = page["messages"].as_array().cloned().unwrap_or_default();
                    delay = if messages.is_empty() {
                        (delay * 2).min(Duration::from_secs(30))
                    } else {
                        Duration::from_secs(2)
                    };
                    if let Ok(mut c) = c.lock() {
                        for m in messages {
                            let seq = m["seq"].as_u64().unwrap_or(0);
                            c.polled.push((
                                seq,
                                m["role"].as_str().unwrap_or_default().to_owned(),
                                m["text"].as_str().unwrap_or_default().to_owned(),
                            ));
                            after = after.max(seq);
                        }
                    }
                    if page["more"].as_bool() == Some(true) {
                        continue;
                    }
                }
                Ok(r) => s.problem(format!("conversation {i}: poll answered {}", r.status())),
                Err(e) => s.problem(format!("conversation {i}: poll failed: {e}")),
            }
        }
        if done {
            return;
        }
        // In short steps, so that a message sent meanwhile brings the next poll forward.
        let until = Instant::now() + delay;
        while Instant::now() < until
            && c.lock().map(|c| c.sent.len()).unwrap_or(0) == sent_before
            && !s.done.load(std::sync::atomic::Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The session a conversation holds (an SMS one is found by the customer's number).
async fn session_of(s: &Stack, c: &Mutex<Conversation>) -> Option<SessionId> {
    let (session, phone) = {
        let c = c.lock().ok()?;
        (c.session, c.phone.clone())
    };
    if session.is_some() {
        return session;
    }
    let phone = PhoneNumber::parse(&phone?, None).ok()?;
    let key = ConversationKey::new(Channel::Sms, Customer::Phone(phone), LOCAL_TWILIO_FROM);
    let id = s.store.active_session(&key).await.ok()??.id;
    if let Ok(mut c) = c.lock() {
        c.session = Some(id);
    }
    Some(id)
}

/// A rep on a handed-off conversation: once its case is in Creatio, a reply every pause while
/// the traffic lasts (at least one), each an e-mail activity on the case and the webhook called
/// twice.
async fn rep(s: &Stack, c: &Mutex<Conversation>, i: usize) -> Result<(), Error> {
    // The case may come late when Creatio keeps failing: as long as the drain may take, twice.
    let give_up = s.plan.duration + s.plan.drain_limit * 2;
    let case = loop {
        if s.started.elapsed() > give_up {
            return Err("the case never reached Creatio".into());
        }
        if let Some(id) = session_of(s, c).await {
            let case = id.case_id().as_uuid();
            if s.sandbox.record("Case", case).is_some() {
                break case;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let mut n = 0;
    loop {
        let text = format!("Rep reply {n} to conversation {i}");
        let activity = s.sandbox.rep_email(case, &format!("<p>{text}</p>"));
        c.lock().map_err(|_| "poisoned")?.rep.push(text);
        for _ in 0..2 {
            let r = s
                .http
                .post(format!("{}/creatio/reply", s.base))
                .bearer_auth(WEBHOOK_TOKEN)
                .json(&json!({"event_type": "new_activity", "caseId": case.to_string(), "activityId": activity.to_string()}))
                .send()
                .await?;
            if !r.status().is_success() {
                return Err(format!("reply webhook answered {}", r.status()).into());
            }
        }
        n += 1;
        tokio::time::sleep(s.pause()).await;
        if s.traffic_over() {
            return Ok(());
        }
    }
}

/// Waits until nothing is left to sync or deliver and every rep reply reached its customer.
async fn drain(s: &Stack, conversations: &[Arc<Mutex<Conversation>>]) -> Result<(), String> {
    let until = Instant::now() + s.plan.drain_limit;
    let mut left = String::new();
    while Instant::now() < until {
        left = pending(s, conversations).await;
        if left.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(left)
}

/// What is still on its way, said briefly; empty when nothing is.
async fn pending(s: &Stack, conversations: &[Arc<Mutex<Conversation>>]) -> String {
    let syncing = s.store.needing_sync().await.map(|v| v.len()).unwrap_or(1);
    let outbox = s
        .store
        .unfinished_outbox()
        .await
        .map(|v| v.len())
        .unwrap_or(1);
    let sent = s.twilio.sent();
    let mut undelivered = 0;
    for c in conversations {
        let Ok(c) = c.lock() else { continue };
        let delivered = match &c.phone {
            Some(phone) => sent.iter().filter(|m| &m.to == phone).count(),
            None => c.polled.iter().filter(|m| m.1 == "agent").count(),
        };
        undelivered += c.rep.len().saturating_sub(delivered);
    }
    if syncing + outbox + undelivered == 0 {
        String::new()
    } else {
        format!(
            "{syncing} sessions to sync, {outbox} outbox entries, {undelivered} rep replies not seen"
        )
    }
}

/// Every conversation against what its customer and rep did.
async fn check(s: &Stack, conversations: &[Arc<Mutex<Conversation>>]) {
    let sent = s.twilio.sent();
    let activities = s.sandbox.records("Activity");
    let cases = s.sandbox.records("Case");
    let mut handed_off = 0;
    for (i, c) in conversations.iter().enumerate() {
        let Some(id) = session_of(s, c).await else {
            s.problem(format!("conversation {i}: no session"));
            continue;
        };
        let Ok(c) = c.lock().map(|c| c.clone()) else {
            continue;
        };
        let transcript = match s.store.transcript(id).await {
            Ok(Some((_, t))) => t,
            other => {
                s.problem(format!("conversation {i}: transcript {other:?}"));
                continue;
            }
        };
        let of_role = |role: Role| -> Vec<String> {
            transcript
                .iter()
                .filter(|m| m.role == role)
                .map(|m| m.text.as_str().to_owned())
                .collect()
        };
        if of_role(Role::Customer) != c.sent {
            s.problem(format!(
                "conversation {i}: customer messages stored {:?}, sent {:?}",
                of_role(Role::Customer),
                c.sent
            ));
        }
        if of_role(Role::Agent) != c.rep {
            s.problem(format!(
                "conversation {i}: rep replies stored {:?}, written {:?}",
                of_role(Role::Agent),
                c.rep
            ));
        }
        if !c.handoff {
            let answers = of_role(Role::Assistant).len();
            if answers != c.sent.len() {
                s.problem(format!(
                    "conversation {i}: {answers} assistant answers to {} questions",
                    c.sent.len()
                ));
            }
        } else if !c.sent.is_empty() {
            handed_off += 1;
            let case = id.case_id().as_uuid().to_string();
            let n = cases
                .iter()
                .filter(|r| r.get("Id").and_then(Value::as_str) == Some(&case))
                .count();
            if n != 1 {
                s.problem(format!("conversation {i}: {n} cases"));
            }
            // Ours: every message but the rep's, whose activities Creatio already has; each
            // once, and their times in the order of the messages (a question and its answer
            // share a time).
            let ours: HashMap<String, String> = activities
                .iter()
                .filter(|a| a.get("CaseId").and_then(Value::as_str) == Some(&case))
                .filter(|a| a.get("Sender").and_then(Value::as_str) != Some(REP_SENDER))
                .map(|a| {
                    let field = |f: &str| a.get(f).and_then(Value::as_str).unwrap_or_default();
                    (field("Id").to_owned(), field("StartDate").to_owned())
                })
                .collect();
            let want: Vec<String> = transcript
                .iter()
                .filter(|m| m.role != Role::Agent)
                .map(|m| id.activity_id(m.seq).to_string())
                .collect();
            let times: Vec<Option<&String>> = want.iter().map(|w| ours.get(w)).collect();
            let all_there = times.iter().all(Option::is_some) && ours.len() == want.len();
            let in_order = times.windows(2).all(|w| w[0] <= w[1]);
            if !all_there || !in_order {
                s.problem(format!(
                    "conversation {i}: case activities {} for {} messages, in order: {in_order}",
                    ours.len(),
                    want.len()
                ));
            }
        }
        match &c.phone {
            Some(phone) => {
                let texted: Vec<&str> = sent
                    .iter()
                    .filter(|m| &m.to == phone)
                    .map(|m| m.body.as_str())
                    .collect();
                if texted != c.rep.iter().map(String::as_str).collect::<Vec<_>>() {
                    s.problem(format!(
                        "conversation {i}: texted {texted:?}, rep wrote {:?}",
                        c.rep
                    ));
                }
            }
            None => {
                let seqs: Vec<u64> = c.polled.iter().map(|m| m.0).collect();
                let want: Vec<u64> = transcript
                    .iter()
                    .filter(|m| m.role != Role::System)
                    .map(|m| m.seq)
                    .collect();
                if seqs != want {
                    s.problem(format!(
                        "conversation {i}: polls returned seqs {seqs:?}, stored {want:?}"
                    ));
                }
                let agent: Vec<&str> = c
                    .polled
                    .iter()
                    .filter(|m| m.1 == "agent")
                    .map(|m| m.2.as_str())
                    .collect();
                if agent != c.rep.iter().map(String::as_str).collect::<Vec<_>>() {
                    s.problem(format!(
                        "conversation {i}: polls showed rep replies {agent:?}, rep wrote {:?}",
                        c.rep
                    ));
                }
            }
        }
    }
    if cases.len() != handed_off {
        s.problem(format!(
            "{} cases in Creatio for {handed_off} handed-off conversations",
            cases.len()
        ));
    }
}
