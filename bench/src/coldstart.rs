//! Cold start, memory and size of the release bootstraps.
//!
//! A minimal Lambda Runtime API emulator on loopback stands in for the Lambda service: the bench
//! starts a bootstrap with `AWS_LAMBDA_RUNTIME_API` pointing at it and measures
//! - **init**: from exec to the first `GET /2018-06-01/runtime/invocation/next` (what Lambda bills
//!   as the init phase: configuration, clients, the assistant's settings);
//! - **first invocation**: from handing out one event to its response;
//! - **peak RSS**: `VmHWM` of the process after that response.
//!
//! The same is measured for `hello-lambda` (the smallest lambda_http function, same profile, same
//! run), and the init ratio against it is what the goal is stated in.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Emulator {
    event: Value,
    first_next: Mutex<Option<Instant>>,
    responded: Mutex<Option<(Instant, String)>>,
    done: Notify,
}

async fn next(State(emu): State<Arc<Emulator>>) -> axum::response::Response {
    let first = {
        let mut f = emu.first_next.lock().unwrap_or_else(|e| e.into_inner());
        let first = f.is_none();
        if first {
            *f = Some(Instant::now());
        }
        first
    };
    if !first {
        // One event per start: later polls wait, as an idle Lambda sandbox does.
        std::future::pending::<()>().await;
    }
    let deadline = jiff::Timestamp::now().as_millisecond() + 15_000;
    axum::response::Response::builder()
        .header("lambda-runtime-aws-request-id", "bench-request-1")
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench",
        )
        .header(
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000",
        )
        .header("content-type", "application/json")
        .body(axum::body::Body::from(emu.event.to_string()))
        .unwrap_or_default()
}

async fn finished(State(emu): State<Arc<Emulator>>, body: String) -> &'static str {
    *emu.responded.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), body));
    emu.done.notify_one();
    "{}"
}

/// One start of `bin` with `event` as its first invocation.
pub struct Start {
    pub init: Duration,
    pub first_invocation: Duration,
    pub peak_rss_kb: u64,
    pub response: String,
}

pub async fn start_once(
    bin: &Path,
    env: &[(String, String)],
    event: Value,
) -> Result<Start, String> {
    let emu = Arc::new(Emulator {
        event,
        ..Default::default()
    });
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(finished),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(finished))
        .route("/2018-06-01/runtime/init/error", post(finished))
        .with_state(emu.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let waited = tokio::time::timeout(Duration::from_secs(20), emu.done.notified()).await;
    let pid = child.id();
    let peak_rss_kb = pid.and_then(peak_rss_kb).unwrap_or(0);
    let _ = child.kill().await;
    server.abort();
    waited.map_err(|_| format!("{} did not answer its first event", bin.display()))?;
    let first_next = emu
        .first_next
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .ok_or("no poll")?;
    let (at, response) = emu
        .responded
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or("no response")?;
    Ok(Start {
        init: first_next - started,
        first_invocation: at - first_next,
        peak_rss_kb,
        response,
    })
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// An API Gateway HTTP API (v2) event, as the service sends it.
pub fn http_event(method: &str, path: &str, headers: Value, body: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}
