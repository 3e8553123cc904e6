//! `scripts/bench`: every figure docs/figures.md quotes, measured on this machine, printed as tables.
//!
//! | section | how |
//! |---|---|
//! | Creatio requests per handoff and per follow-up | `casebridge::creatio::sync::sync_session` against the sandbox, its request log |
//! | DynamoDB requests per inbound SMS, widget send and poll, status callback | the real handlers on moto, counted by `test_support::RequestCounter` |
//! | cold start, peak RSS | the release bootstraps under a Runtime API emulator ([`coldstart`]) |
//! | bootstrap size, one TLS stack | `target/release`, `cargo tree` |
//! | throughput | the local stack (memory store, rules assistant) on loopback |
//! | cost per 1,000 conversations | the counts above × AWS list prices ([`cost`]) |
//! | knowledge: hit@1 / hit@3, answered without a person, 2,000-article index | the question set in `bench/knowledge/` ([`knowledge`]); `bench knowledge` prints only this |
//!
//! Goals are printed next to the figures; nothing here fails a build. Timing is never asserted in
//! tests (it depends on the machine); it is reported here.

mod actions;
mod coldstart;
mod cost;
mod knowledge;
mod replies;
mod requests;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

fn target_release() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("release")
}

const FUNCTIONS: [&str; 5] = [
    "sms-inbound",
    "widget-inbound",
    "handoff",
    "creatio-reply",
    "catch-up",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("knowledge") {
        return knowledge::run().await;
    }
    if std::env::args().nth(1).as_deref() == Some("actions") {
        return actions::run().await;
    }
    // `bench push`: the DynamoDB rows of the socket path and the polling-against-push model, alone.
    if std::env::args().nth(1).as_deref() == Some("push") {
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
            .map_err(|_| "set AWS_ENDPOINT_URL_DYNAMODB (moto) for `bench push`")?;
        let rows = requests::dynamodb(&endpoint).await?;
        for r in rows
            .iter()
            .filter(|r| r.what.contains("socket") || r.what.contains("poll"))
        {
            println!(
                "| {} | {} | {} | {} | {} |",
                r.what,
                r.requests(),
                r.kinds(),
                r.write_units(),
                r.read_units()
            );
        }
        println!("\n{}", cost::push_vs_polling(&rows));
        // And the whole model, with the reply rows, without the cold starts' note.
        let (replies, _) = replies::replies(&endpoint).await?;
        let all: Vec<requests::Row> = rows.into_iter().chain(replies).collect();
        println!("\n{}", cost::report(Some(&all), &[]));
        return Ok(());
    }
    // `bench cold`: the cold-start table alone (release binaries built, as scripts/bench builds
    // them; moto for the SSM row when AWS_ENDPOINT_URL_DYNAMODB is set).
    if std::env::args().nth(1).as_deref() == Some("cold") {
        cold_starts().await?;
        return Ok(());
    }
    if std::env::args().nth(1).as_deref() == Some("soak") {
        // The stack's own log lines (JSON, one per line) go out with the tables: `RUST_LOG=warn
        // bench soak | grep '^{'` shows what failed and was retried.
        casebridge::telemetry::init();
        return soak().await;
    }
    println!("# casebridge bench\n");
    println!(
        "machine: {} cores; {}\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::env::consts::ARCH
    );

    let creatio = requests::creatio().await?;
    println!("## Creatio HTTP requests (cached sign-in, known contact)\n");
    println!("| operation | requests | goal |\n|---|---|---|");
    for (what, n, goal) in &creatio {
        println!("| {what} | {n} | {goal} |");
    }

    let dynamo = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) => Some(requests::dynamodb(&endpoint).await?),
        Err(_) => None,
    };
    println!("\n## DynamoDB requests per operation (moto, counted at the SDK)\n");
    match &dynamo {
        Some(rows) => {
            println!(
                "| operation | requests | by kind | write units | read units | items queried |\n|---|---|---|---|---|---|"
            );
            for r in rows {
                println!(
                    "| {} | {} | {} | {} | {} | {} |",
                    r.what,
                    r.requests(),
                    r.kinds(),
                    r.write_units(),
                    r.read_units(),
                    r.items_read()
                );
            }
            println!(
                "\nGoal: ≤ 2 requests per inbound message with an assistant reply. Units: 2 per item \
                 written in a transaction (items < 1 KB), 0.5 per eventually consistent read under 4 KB, \
                 1 per strongly consistent one; the store reads sessions strongly."
            );
            println!(
                "\n### Widget: polling against push\n\n{}",
                cost::push_vs_polling(rows)
            );
        }
        None => println!("skipped: set AWS_ENDPOINT_URL_DYNAMODB (scripts/bench starts moto)"),
    }

    let replies = match std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
        Ok(endpoint) => Some(replies::replies(&endpoint).await?),
        Err(_) => None,
    };
    println!("\n## Rep replies and the catch-up (moto and the sandbox)\n");
    match &replies {
        Some((rows, creatio)) => {
            println!(
                "| operation | Creatio requests | DynamoDB requests | by kind | write units | read units |\n|---|---|---|---|---|---|"
            );
            for r in rows {
                let c = creatio
                    .iter()
                    .find(|(w, _)| w.as_str() == r.what || r.what.starts_with(w.as_str()))
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_else(|| "0".into());
                println!(
                    "| {} | {c} | {} | {} | {} | {} |",
                    r.what,
                    r.requests(),
                    r.kinds(),
                    r.write_units(),
                    r.read_units()
                );
            }
            println!("\n{}", cost::catch_up_month(rows, 60));
        }
        None => println!("skipped: set AWS_ENDPOINT_URL_DYNAMODB (scripts/bench starts moto)"),
    }

    let starts = cold_starts().await?;

    println!("\n## TLS stacks linked (cargo tree, normal dependencies of the workspace)\n");
    println!("{}", tls_report());

    println!("\n## Throughput of the local stack (memory store, rules assistant)\n");
    let (sent, secs) = requests::throughput(64, Duration::from_secs(5)).await?;
    println!(
        "{sent} widget messages answered in {secs:.1} s by 64 concurrent visitors on loopback: \
         **{:.0} messages/s** (client and server share the machine's cores).",
        sent as f64 / secs
    );

    println!("\n## Cost per 1,000 conversations\n");
    // The model prices the inbound rows and the reply rows: both tables' rows.
    let priced: Option<Vec<requests::Row>> = dynamo.as_ref().map(|rows| {
        rows.iter()
            .chain(replies.iter().flat_map(|(r, _)| r.iter()))
            .cloned()
            .collect()
    });
    println!(
        "{}",
        cost::report(priced.as_deref(), &starts_for_cost(&starts))
    );
    knowledge::run().await?;
    actions::run().await?;
    soak().await
}

/// A started binary: its label, init, first invocation, peak RSS (KB), size (bytes) and answer.
type Start = (String, Duration, Duration, u64, u64, String);

/// The cold-start table: every function's release bootstrap (and hello-world) started under the
/// Runtime API emulator, interleaved, `ROUNDS` times; printed, and returned for the cost model.
async fn cold_starts() -> Result<Vec<Start>, Box<dyn std::error::Error>> {
    println!(
        "\n## Cold start under a Runtime API emulator (release, median of {ROUNDS} interleaved rounds)\n"
    );
    let release = target_release();
    let env = function_env();
    let mut bins = Vec::new();
    for name in std::iter::once("hello-lambda").chain(FUNCTIONS) {
        let bin = release.join(name);
        if bin.exists() {
            bins.push((name.to_owned(), name, bin, env.clone()));
        } else {
            println!(
                "{} missing: build with `cargo build --release --workspace --bins`",
                bin.display()
            );
        }
    }
    // The cost of secrets from SSM Parameter Store: creatio-reply again, its webhook token read
    // by name from moto's SSM at start-up (one GetParameters request on loopback).
    if let (Ok(endpoint), true) = (
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB"),
        release.join("creatio-reply").exists(),
    ) {
        let parameter = format!("/casebridge/bench-{}/webhook-token", std::process::id());
        casebridge::ssm::Ssm::local(&endpoint)?
            .put_secure_string(&parameter, "bench-webhook-token")
            .await?;
        let mut with_ssm: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k != "CREATIO_WEBHOOK_TOKEN")
            .cloned()
            .collect();
        with_ssm.push(("CREATIO_WEBHOOK_TOKEN_PARAMETER".into(), parameter));
        with_ssm.push(("AWS_ENDPOINT_URL_SSM".into(), endpoint));
        bins.push((
            "creatio-reply, token from SSM (moto)".into(),
            "creatio-reply",
            release.join("creatio-reply"),
            with_ssm,
        ));
    }
    // Round-robin, so that whatever else the machine does at some moment weighs on every binary
    // alike and the ratio to hello-world stays fair.
    let mut samples: Vec<(Vec<Duration>, Vec<Duration>, u64, String)> =
        vec![(Vec::new(), Vec::new(), 0, String::new()); bins.len()];
    for _ in 0..ROUNDS {
        for ((_, name, bin, env), sample) in bins.iter().zip(samples.iter_mut()) {
            let s = coldstart::start_once(bin, env, first_event(name)).await?;
            sample.0.push(s.init);
            sample.1.push(s.first_invocation);
            sample.2 = sample.2.max(s.peak_rss_kb);
            sample.3 = s.response;
        }
    }
    let mut hello_init = Duration::ZERO;
    let mut starts = Vec::new();
    for ((label, name, bin, _), (inits, firsts, rss, response)) in bins.iter().zip(samples) {
        let init = coldstart::median(inits);
        if *name == "hello-lambda" {
            hello_init = init;
        }
        let status = serde_json::from_str::<serde_json::Value>(&response)
            .ok()
            .and_then(|v| v.get("statusCode").cloned())
            .map(|s| s.to_string())
            .unwrap_or_else(|| "stream response".into());
        starts.push((
            label.clone(),
            init,
            coldstart::median(firsts),
            rss,
            std::fs::metadata(bin)?.len(),
            status,
        ));
    }
    println!(
        "| binary | init | × hello | first invocation | answer | peak RSS | size (x86_64) |\n|---|---|---|---|---|---|---|"
    );
    for (name, init, first, rss, size, status) in &starts {
        println!(
            "| {name} | {:.1} ms | {:.2} | {:.1} ms | {status} | {:.1} MB | {:.2} MB |",
            ms(*init),
            ms(*init) / ms(hello_init).max(0.001),
            ms(*first),
            *rss as f64 / 1024.0,
            *size as f64 / 1_048_576.0
        );
    }
    println!(
        "\nGoals: init ≤ 1.5 × hello, peak RSS ≤ 40 MB, bootstrap ≤ 8 MB. arm64 sizes are not \
         measured here: this toolchain has no aarch64 standard library (rustup cannot fetch one \
         from the registries this machine reaches)."
    );

    Ok(starts)
}

/// `bench soak`: the local stack on moto under 200 conversations for five minutes
/// ([`casebridge_bench::soak`]); `CASEBRIDGE_SOAK_SECONDS` shortens or lengthens it.
async fn soak() -> Result<(), Box<dyn std::error::Error>> {
    use casebridge_bench::soak::{Plan, run};
    println!("\n## Soak: the local stack on DynamoDB (moto) and the sandbox\n");
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") else {
        println!("skipped: set AWS_ENDPOINT_URL_DYNAMODB (scripts/bench starts moto)");
        return Ok(());
    };
    let mut plan = Plan::bench();
    if let Some(secs) = std::env::var("CASEBRIDGE_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        plan.duration = Duration::from_secs(secs);
    }
    println!(
        "{} conversations for {} s: SMS and widget alternating, one in {} handed off with a rep \
         replying every ~{} s, {:.0} % of Creatio's answers 503, every Twilio webhook, widget \
         send and Creatio webhook delivered twice.\n",
        plan.conversations,
        plan.duration.as_secs(),
        plan.handoff_every,
        plan.pause.as_secs(),
        plan.creatio_fault_rate * 100.0
    );
    let report = run(plan, &endpoint).await.map_err(|e| e.to_string())?;
    println!("{}", report.table());
    for p in report.problems.iter().take(20) {
        println!("- {p}");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn starts_for_cost(
    starts: &[(String, Duration, Duration, u64, u64, String)],
) -> Vec<(String, Duration)> {
    starts
        .iter()
        .map(|(n, init, ..)| (n.clone(), *init))
        .collect()
}

/// What each function needs to start: dummy but well-formed, and nothing that reaches a network
/// during init.
/// Cold starts per binary; the median is reported.
const ROUNDS: usize = 15;

fn function_env() -> Vec<(String, String)> {
    [
        ("TABLE_NAME", "bench"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("PUBLIC_BASE_URL", "https://api.example.com"),
        ("CREATIO_URL", "https://acme.creatio.com"),
        ("CREATIO_USERNAME", "Supervisor"),
        ("CREATIO_PASSWORD", "Supervisor"),
        ("CREATIO_WEBHOOK_TOKEN", "bench-webhook-token"),
        ("TWILIO_ACCOUNT_SID", "AC00000000000000000000000000000000"),
        ("TWILIO_AUTH_TOKEN", "bench-twilio-token"),
        ("TWILIO_FROM", "+15550006666"),
        ("WIDGET_SECRET", "bench-widget-secret-0123456789abcdef"),
        ("WIDGET_ALLOWED_ORIGINS", "https://shop.example.com"),
        // As the template deploys them: the widget, handoff and catch-up build their socket
        // client at start-up.
        (
            "WIDGET_SOCKET_URL",
            "wss://abc123.execute-api.us-east-1.amazonaws.com/live",
        ),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// A first event that each function answers without touching DynamoDB or Creatio, so the
/// figure is the runtime's and the handler's, not a network's.
fn first_event(name: &str) -> serde_json::Value {
    use coldstart::http_event;
    let host = json!({"host": "api.example.com"});
    match name {
        "handoff" => json!({"Records": []}),
        "catch-up" => {
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})
        }
        "sms-inbound" => http_event(
            "POST",
            "/sms/inbound",
            json!({"host": "api.example.com", "content-type": "application/x-www-form-urlencoded"}),
            "From=%2B15551230001&Body=hi",
        ),
        "widget-inbound" => http_event("GET", "/widget.js", host, ""),
        "creatio-reply" => http_event(
            "POST",
            "/creatio/reply",
            json!({"host": "api.example.com", "content-type": "application/json"}),
            "{}",
        ),
        _ => http_event("GET", "/", host, ""),
    }
}

fn tls_report() -> String {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree",
            "--workspace",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--locked",
        ])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output();
    let Ok(out) = out else {
        return "cargo tree could not run".into();
    };
    let tree = String::from_utf8_lossy(&out.stdout);
    let mut names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    names.sort();
    names.dedup();
    let has = |n: &str| names.contains(&n);
    let rustls: Vec<String> = tree
        .lines()
        .filter(|l| l.starts_with("rustls v"))
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    format!(
        "| crate | linked |\n|---|---|\n| rustls | {} |\n| ring | {} |\n| aws-lc-rs | {} |\n| openssl-sys | {} |\n| native-tls | {} |\n\n{}",
        if rustls.is_empty() {
            "no".into()
        } else {
            rustls.join(", ")
        },
        yes(has("ring")),
        yes(has("aws-lc-rs") || has("aws-lc-sys")),
        yes(has("openssl-sys")),
        yes(has("native-tls")),
        if !has("aws-lc-rs") && !has("openssl-sys") && !has("native-tls") && rustls.len() == 1 {
            "One TLS stack: rustls on ring."
        } else {
            "MORE THAN ONE TLS STACK IS LINKED."
        }
    )
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
