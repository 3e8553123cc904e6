//! The Lambda binaries under the Lambda runtime: `cargo lambda watch --only-lambda-apis` emulates
//! the Runtime API, function URLs and the Invoke API, and the four binaries `cargo test` built
//! (`target/debug/{sms-inbound,handoff,creatio-reply,catch-up}`) run against it as Lambda would run them,
//! each with its `AWS_LAMBDA_RUNTIME_API`, against DynamoDB on moto, the Creatio sandbox and the
//! Twilio stand-in; the Twilio and webhook tokens come from SSM Parameter Store on moto, by name.
//!
//! The flow: a signed SMS through the `sms-inbound` function URL (form body, so the emulator
//! base64-encodes it as API Gateway does) → the stream hop, driven by invoking `handoff` with a
//! DynamoDB stream event built from the table's own items (as the stream would carry them,
//! filtered as template.yaml filters) → the case in the sandbox → a rep's activity through the
//! `creatio-reply` function URL, recorded in the outbox → the stream hop again, now with the
//! outbox entry → the SMS at the Twilio stand-in; then a second reply no process reports, found
//! by invoking `catch-up` as the schedule would, and delivered by the same stream hop.
//!
//! Needs `CASEBRIDGE_TOOLS` (with `cargo-lambda`) and `AWS_ENDPOINT_URL_DYNAMODB`, which
//! `scripts/test` provides. Skipped without them, unless `CASEBRIDGE_REQUIRE_MOTO` is set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use casebridge::store::dynamo::DynamoStore;
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const SID: &str = "AC00000000000000000000000000000077";
const TOKEN: &str = "lambda-e2e-twilio-token";
const FROM: &str = "+15550007777";
const CUSTOMER: &str = "+15551230009";
const WEBHOOK: &str = "lambda-e2e-webhook-token";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// `cargo-lambda` and the moto endpoint, or `None` (skip).
fn tools() -> Option<(PathBuf, String)> {
    let cargo_lambda = test_support::tools()?.join("cargo-lambda");
    assert!(
        cargo_lambda.exists(),
        "CASEBRIDGE_TOOLS has no cargo-lambda"
    );
    Some((cargo_lambda, test_support::moto::endpoint()?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts one function binary against the emulator, as the Lambda service starts a bootstrap.
fn start_function(name: &str, port: u16, env: &HashMap<&str, String>) -> Child {
    let bin = target_dir().join("debug").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run the workspace tests (scripts/test), which build it",
        bin.display()
    );
    let mut cmd = Command::new(&bin);
    cmd.env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            // With a base path the value needs its scheme to parse; the client keeps the path.
            format!("http://127.0.0.1:{port}/.rt/{name}"),
        )
        .env(
            "PUBLIC_BASE_URL",
            format!("http://127.0.0.1:{port}/lambda-url/{name}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    cmd.spawn().expect("the function binary starts")
}

/// The template's stream filters: session and message items, and queued outbox entries and
/// status checks.
fn passes_filter(item: &Value) -> bool {
    match item["kind"]["S"].as_str() {
        Some("session" | "message") => true,
        Some("outbox" | "case_status") => item["state"]["S"] == "queued",
        _ => false,
    }
}

/// The table's items that pass `keep`, as a `NEW_IMAGE` stream batch would carry them.
async fn stream_event(endpoint: &str, table: &str, keep: fn(&Value) -> bool) -> Value {
    // The DynamoDB JSON protocol returns items in the stream's own attribute-value shape.
    let scan: Value = casebridge::http::client(Duration::from_secs(10))
        .unwrap()
        .post(endpoint)
        .header("x-amz-target", "DynamoDB_20120810.Scan")
        // moto routes by the credential scope; it does not check the signature.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("content-type", "application/x-amz-json-1.0")
        .body(json!({"TableName": table}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let records: Vec<Value> = scan["Items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| keep(i))
        .enumerate()
        .map(|(n, item)| {
            json!({
                "eventID": format!("e{n}"),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/2026-01-01T00:00:00.000"),
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_768_400_000.0,
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": format!("{:021}", n + 1),
                    "SizeBytes": 100,
                    "StreamViewType": "NEW_IMAGE"
                }
            })
        })
        .collect();
    assert!(!records.is_empty(), "the table has items for the stream");
    json!({ "Records": records })
}

/// Invokes `function` with `event` through the emulator's Invoke API; its answer.
async fn invoke(http: &reqwest::Client, base: &str, function: &str, event: &Value) -> Value {
    http.post(format!(
        "{base}/2015-03-31/functions/{function}/invocations"
    ))
    .json(event)
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_to_case_and_agent_reply_under_the_lambda_runtime() {
    let Some((cargo_lambda, endpoint)) = tools() else {
        return;
    };
    // GIVEN moto, the sandbox, the Twilio stand-in and the emulator
    let table = format!("lambda-e2e-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&casebridge::aws::local_dynamodb_client(&endpoint), &table)
        .await
        .unwrap();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let twilio = TwilioStandIn::start(SID, TOKEN).await.unwrap();
    // AND the Twilio token and the webhook token in SSM Parameter Store, as template.yaml deploys
    // them: the functions get the parameters' names, not the values
    let ssm = casebridge::ssm::Ssm::local(&endpoint).unwrap();
    let secrets = format!("/casebridge/lambda-e2e-{}", uuid::Uuid::new_v4().simple());
    let (twilio_parameter, webhook_parameter) = (
        format!("{secrets}/twilio-auth-token"),
        format!("{secrets}/creatio-webhook-token"),
    );
    ssm.put_secure_string(&twilio_parameter, TOKEN)
        .await
        .unwrap();
    ssm.put_secure_string(&webhook_parameter, WEBHOOK)
        .await
        .unwrap();
    let port = free_port();
    let _watch = Command::new(&cargo_lambda)
        .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
        .args(["-P", &port.to_string()])
        .current_dir(workspace())
        .env("CARGO_LAMBDA_NO_UPDATE_CHECK", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cargo lambda watch starts");
    let env: HashMap<&str, String> = HashMap::from([
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("TABLE_NAME", table.clone()),
        ("AWS_ENDPOINT_URL_DYNAMODB", endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "local".into()),
        ("AWS_SECRET_ACCESS_KEY", "local".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("CREATIO_URL", sandbox.url.clone()),
        ("CREATIO_USERNAME", "Supervisor".into()),
        ("CREATIO_PASSWORD", "Supervisor".into()),
        ("AWS_ENDPOINT_URL_SSM", endpoint.clone()),
        ("CREATIO_WEBHOOK_TOKEN_PARAMETER", webhook_parameter),
        ("TWILIO_ACCOUNT_SID", SID.into()),
        ("TWILIO_AUTH_TOKEN_PARAMETER", twilio_parameter),
        ("TWILIO_FROM", FROM.into()),
        ("TWILIO_API_URL", twilio.url.clone()),
        (
            "WIDGET_SECRET",
            "lambda-e2e-widget-secret-0123456789abcdef".into(),
        ),
        ("RUST_LOG", "warn".into()),
    ]);
    // The emulator must be listening before the functions ask it for work.
    let http = casebridge::http::client(Duration::from_secs(60)).unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("cargo lambda watch listens");
    let _functions: Vec<Child> = ["sms-inbound", "handoff", "creatio-reply", "catch-up"]
        .iter()
        .map(|f| start_function(f, port, &env))
        .collect();
    let base = format!("http://127.0.0.1:{port}");

    // WHEN a customer texts and asks for a person, through the function URL
    let url = format!("{base}/lambda-url/sms-inbound/sms/inbound");
    for (sid, text) in [
        (
            "SM0000000000000000000000000000e2e1",
            "My order #A-77 never came",
        ),
        (
            "SM0000000000000000000000000000e2e2",
            "talk to a human please",
        ),
    ] {
        let params = test_support::requests::inbound_sms(sid, SID, CUSTOMER, FROM, text);
        let r = http
            .post(&url)
            .header(
                "x-twilio-signature",
                test_support::twilio::signature(TOKEN, &url, &params),
            )
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/xml")
        );
        let twiml = r.text().await.unwrap();
        assert!(twiml.contains("<Response><Message>"), "{twiml}");
    }
    // An unsigned request is refused by the same binary.
    let r = http
        .post(&url)
        .form(&[
            ("MessageSid", "SMx"),
            ("From", CUSTOMER),
            ("To", FROM),
            ("Body", "hi"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // AND the stream delivers the table's records to the handoff function
    let event = stream_event(&endpoint, &table, passes_filter).await;
    let answer = invoke(&http, &base, "handoff", &event).await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    // THEN the case is in Creatio with one activity per message
    let cases = sandbox.records("Case");
    assert_eq!(cases.len(), 1);
    let case = cases[0]["Id"].as_str().unwrap().to_owned();
    let activities = sandbox
        .records("Activity")
        .into_iter()
        .filter(|a| a["CaseId"].as_str() == Some(case.as_str()))
        .count();
    let messages = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dynamodb"]["NewImage"]["kind"]["S"] == "message")
        .count();
    assert!(
        messages >= 4,
        "2 customer messages and 2 answers: {messages}"
    );
    assert_eq!(activities, messages);

    // WHEN a rep answers on the case and the business process calls the reply function
    let case_id = uuid::Uuid::parse_str(&case).unwrap();
    let activity = sandbox.rep_email(case_id, "<p>Hi, Bob here: it ships <b>today</b>.</p>");
    let r = http
        .post(format!("{base}/lambda-url/creatio-reply/creatio/reply"))
        .bearer_auth(WEBHOOK)
        .json(&json!({"event_type": "new_activity", "caseId": case, "activityId": activity.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "queued");
    assert!(twilio.sent().is_empty(), "recorded, not yet sent");
    // AND the stream carries the outbox entry to the handoff function
    let only_outbox = |i: &Value| i["kind"]["S"] == "outbox" && passes_filter(i);
    let answer = invoke(
        &http,
        &base,
        "handoff",
        &stream_event(&endpoint, &table, only_outbox).await,
    )
    .await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");

    // THEN the customer gets it by SMS, as text
    let sent = twilio.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, CUSTOMER);
    assert_eq!(sent[0].body, "Hi, Bob here: it ships today.");

    // WHEN the rep answers again and no process reports it, the schedule runs the catch-up
    sandbox.rep_email(case_id, "<p>Tracking number: 1Z999.</p>");
    let scheduled = json!({"version": "0", "id": "e2e", "detail-type": "Scheduled Event",
        "source": "aws.events", "time": "2026-01-01T00:00:00Z", "resources": [], "detail": {}});
    let polled = invoke(&http, &base, "catch-up", &scheduled).await;
    assert_eq!(polled["queued"], 1, "{polled}");
    let answer = invoke(
        &http,
        &base,
        "handoff",
        &stream_event(&endpoint, &table, only_outbox).await,
    )
    .await;
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    // THEN that one reaches the customer too, and the first is not sent again
    let sent = twilio.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[1].body, "Tracking number: 1Z999.");
}
