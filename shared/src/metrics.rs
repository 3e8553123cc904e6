//! Metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: Lambda sends stdout to
//! CloudWatch Logs, and CloudWatch turns each EMF line into metric values. No SDK call and no
//! extra request per invocation; an alarm or a dashboard reads them like any metric.
//!
//! Why a small writer rather than a crate: an EMF line is one JSON object (the `_aws` block
//! naming the namespace, dimensions and metrics, then the values), which `serde_json` already
//! writes; the crates that do it (`metrics-cloudwatch-embedded`, …) bring the `metrics` facade and
//! its registry for what is here a few calls. Format:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.
//!
//! Every metric is in the `casebridge` namespace with the dimension `Function` (the Lambda
//! function's name), and for some a second one (`Reason`, `Kind`): see
//! [`Metric`]. The names are what `template.yaml`'s alarms and dashboard use; a test checks that
//! every name the template uses is one this module writes.

use std::cell::RefCell;

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "casebridge";

/// One event worth counting or timing.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A conversation handed to a person; `reason`: `customer_asked`, `unanswered`,
    /// `assistant_decided`, `assistant_failed`.
    Handoff { reason: &'static str },
    /// The assistant answered a turn.
    AssistantAnswer,
    /// The assistant could not answer a turn (a fallback).
    AssistantFallback,
    /// A case created in Creatio, with its first activities.
    CaseCreated,
    /// Activities written to Creatio (one per message).
    ActivitiesSynced(usize),
    /// A sync that failed; `kind`: `transient` (the stream retries) or `permanent` (recorded on
    /// the session; needs a person).
    SyncError { kind: &'static str },
    /// A rep's reply sent to the customer.
    ReplyDelivered,
    /// A rep's reply not sent, and why (`opted_out`, `failed`, `not_for_customer`, …).
    ReplyNotDelivered { reason: &'static str },
    /// A catch-up poll went through.
    CatchUpRun,
    /// How long after its creation a reply was found by the catch-up (no process reported it).
    CatchUpLag { seconds: f64 },
    /// One Creatio request, in milliseconds.
    CreatioLatency { ms: f64 },
    /// One Twilio send, in milliseconds.
    TwilioLatency { ms: f64 },
    /// A push to a widget socket that failed other than gone (the widget's poll finds it).
    PushFailed,
}

impl Metric {
    /// (name, value, unit, the extra dimension)
    fn parts(
        &self,
    ) -> (
        &'static str,
        f64,
        &'static str,
        Option<(&'static str, &'static str)>,
    ) {
        match self {
            Metric::Handoff { reason } => ("Handoffs", 1.0, "Count", Some(("Reason", reason))),
            Metric::AssistantAnswer => ("AssistantAnswers", 1.0, "Count", None),
            Metric::AssistantFallback => ("AssistantFallbacks", 1.0, "Count", None),
            Metric::CaseCreated => ("CasesCreated", 1.0, "Count", None),
            Metric::ActivitiesSynced(n) => ("ActivitiesSynced", *n as f64, "Count", None),
            Metric::SyncError { kind } => ("SyncErrors", 1.0, "Count", Some(("Kind", kind))),
            Metric::ReplyDelivered => ("RepliesDelivered", 1.0, "Count", None),
            Metric::PushFailed => ("WidgetPushFailures", 1.0, "Count", None),
            Metric::ReplyNotDelivered { reason } => (
                "RepliesNotDelivered",
                1.0,
                "Count",
                Some(("Reason", reason)),
            ),
            Metric::CatchUpRun => ("CatchUpRuns", 1.0, "Count", None),
            Metric::CatchUpLag { seconds } => ("CatchUpLag", *seconds, "Seconds", None),
            Metric::CreatioLatency { ms } => ("CreatioLatency", *ms, "Milliseconds", None),
            Metric::TwilioLatency { ms } => ("TwilioLatency", *ms, "Milliseconds", None),
        }
    }

    /// Every metric name this module writes (for the template's check).
    pub const NAMES: &'static [&'static str] = &[
        "Handoffs",
        "AssistantAnswers",
        "AssistantFallbacks",
        "CasesCreated",
        "ActivitiesSynced",
        "SyncErrors",
        "RepliesDelivered",
        "RepliesNotDelivered",
        "CatchUpRuns",
        "CatchUpLag",
        "CreatioLatency",
        "TwilioLatency",
        "WidgetPushFailures",
    ];
}

/// The EMF line for `metric`, at `at_ms` (milliseconds since the epoch), from `function`.
pub fn line(metric: &Metric, function: &str, at_ms: i64) -> String {
    let (name, value, unit, extra) = metric.parts();
    let mut dimensions = vec!["Function"];
    let mut doc = Map::new();
    doc.insert("Function".into(), json!(function));
    if let Some((key, v)) = extra {
        dimensions.push(key);
        doc.insert(key.into(), json!(v));
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": [{"Name": name, "Unit": unit}],
            }],
        }),
    );
    doc.insert(name.into(), json!(value));
    Value::Object(doc).to_string()
}

thread_local! {
    /// Where a test collects this thread's lines instead of stdout.
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Writes `metric` as one EMF line on stdout (or into this thread's capture).
///
/// Outside Lambda (the local stack, the CLI) nothing is written: there is no CloudWatch to read
/// the lines, and they would only bury the log.
pub fn emit(metric: Metric) {
    let capturing = CAPTURE.with(|c| c.borrow().is_some());
    let Some(function) = function_name().or(capturing.then_some("local")) else {
        return;
    };
    let text = line(&metric, function, jiff::Timestamp::now().as_millisecond());
    if capturing {
        CAPTURE.with(|c| c.borrow_mut().get_or_insert_with(Vec::new).push(text));
    } else {
        // One line under stdout's lock, so that it never interleaves with a log line (and a
        // test's harness captures it like any print).
        println!("{text}");
    }
}

/// The Lambda function's name, when this is one (read once).
fn function_name() -> Option<&'static str> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok())
        .as_deref()
}

/// From now on, collects the lines this thread emits instead of writing them (a test on a
/// current-thread runtime).
pub fn capture_start() {
    CAPTURE.with(|c| *c.borrow_mut() = Some(Vec::new()));
}

/// The lines collected since [`capture_start`], and the capture ended.
pub fn capture_take() -> Vec<String> {
    CAPTURE.with(|c| c.borrow_mut().take().unwrap_or_default())
}
