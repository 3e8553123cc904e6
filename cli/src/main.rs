//! `casebridge`: the operator CLI. Reads the same environment as the Lambda functions
//! (`TABLE_NAME`, `CREATIO_*`, …, secrets as values or as `*_PARAMETER` names read from SSM with
//! the operator's credentials); see `casebridge_cli` for the commands.

use casebridge::config::{Config, ProcessEnv};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Secrets named by `*_PARAMETER` are read from SSM with the operator's own AWS credentials.
    let loaded = casebridge::secrets::load_with(&ProcessEnv, || async {
        casebridge::ssm::Ssm::from_sdk_config(&casebridge::aws::sdk_config().await).await
    })
    .await;
    let config = match loaded {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if args.first().map(String::as_str) == Some("doctor") {
        let report = doctor(&config).await;
        print!("{}", report.0);
        return if report.1 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::FAILURE
        };
    }
    let store = match casebridge::store::connect_dynamodb(&config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if args.first().map(String::as_str) == Some("knowledge")
        && args.get(1).map(String::as_str) == Some("sync")
    {
        return knowledge(&config, &store, &args).await;
    }
    if let Some(command @ ("export" | "erase")) = args.first().map(String::as_str) {
        return customer_data(&config, &store, command, args.get(1)).await;
    }
    printed(
        casebridge_cli::run(&store, &args, || {
            casebridge::creatio::sync::SyncDeps::from_config(&config).map_err(|e| e.to_string())
        })
        .await,
    )
}

/// A command's output on stdout and success, or its error on stderr and failure.
fn printed(out: Result<String, casebridge_cli::CliError>) -> std::process::ExitCode {
    match out {
        Ok(out) => {
            print!("{out}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Configuration, the Creatio connection and its lookups, and the table, with what to fix.
async fn doctor(config: &Config) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    let mut line = |good: bool, what: &str| {
        ok &= good;
        out.push_str(if good { "ok    " } else { "FAIL  " });
        out.push_str(what);
        out.push('\n');
    };
    match casebridge::creatio::sync::SyncDeps::from_config(config) {
        Ok(deps) => {
            line(true, "Creatio configuration");
            let report = deps.creatio.check_connection().await;
            for step in &report.steps {
                match &step.outcome {
                    Ok(()) => line(true, &step.what),
                    Err(e) => line(false, &format!("{}: {e}", step.what)),
                }
            }
            if report.ok() {
                for (good, what) in casebridge_cli::check_lookups(&deps).await {
                    line(good, &what);
                }
            }
        }
        Err(e) => line(false, &e.to_string()),
    }
    match config.twilio() {
        Ok(_) => line(true, "Twilio configuration"),
        Err(e) => line(false, &e.to_string()),
    }
    // The stack's alarms, when the operator names the stack (CloudFormation names its alarms
    // after it).
    match std::env::var("CASEBRIDGE_STACK_NAME")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(stack) => {
            let sdk = casebridge::aws::sdk_config().await;
            match casebridge::cloudwatch::CloudWatch::from_sdk_config(&sdk).await {
                Ok(cw) => {
                    for (good, what) in casebridge_cli::alarm_report(&cw, &stack).await {
                        line(good, &what);
                    }
                }
                Err(e) => line(false, &format!("alarms: {e}")),
            }
        }
        None => out_skip(&mut line),
    }
    match casebridge::store::connect_dynamodb(config).await {
        Ok(store) => match casebridge::store::Store::needing_sync(&store).await {
            Ok(p) => line(
                true,
                &format!(
                    "table reachable; {} session(s) waiting for Creatio",
                    p.len()
                ),
            ),
            Err(e) => line(false, &format!("table: {e}")),
        },
        Err(e) => line(false, &e.to_string()),
    }
    (out, ok)
}

/// `knowledge sync`: reads the knowledge sources now and saves the table's snapshot.
async fn knowledge(
    config: &Config,
    store: &casebridge::store::dynamo::DynamoStore,
    args: &[String],
) -> std::process::ExitCode {
    if args.get(1).map(String::as_str) != Some("sync") {
        eprintln!("{}", casebridge_cli::USAGE);
        return std::process::ExitCode::from(2);
    }
    let sources = match casebridge::knowledge::sync::Sources::from_config(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match sources
        .sync_to(&store.knowledge_snapshots(), jiff::Timestamp::now())
        .await
    {
        Ok(s) => {
            println!(
                "{} articles, snapshot {} ({})",
                s.articles,
                s.version,
                if s.written { "written" } else { "unchanged" }
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Without a stack name the alarms are not looked at; said as a passing line.
fn out_skip(line: &mut impl FnMut(bool, &str)) {
    line(
        true,
        "alarms: not checked (set CASEBRIDGE_STACK_NAME to the stack's name to see which are in alarm)",
    );
}

/// `export` / `erase`: a customer's data, with the attachment bucket when the widget has one.
async fn customer_data(
    config: &Config,
    store: &casebridge::store::dynamo::DynamoStore,
    command: &str,
    who: Option<&String>,
) -> std::process::ExitCode {
    use casebridge_cli::customer_data::{self, Files};
    let customer = match customer_data::customer(who, config.default_country) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let bucket = config
        .widget()
        .ok()
        .and_then(|w| w.attachments.bucket.clone());
    let s3 = match &bucket {
        Some(_) => {
            let sdk = casebridge::aws::sdk_config().await;
            match casebridge::aws::Access::operator(&sdk, "AWS_ENDPOINT_URL_S3").await {
                Ok(access) => Some(casebridge::s3::S3::new(access)),
                Err(e) => {
                    eprintln!("configuration: {e}");
                    return std::process::ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    let files = match (&s3, &bucket) {
        (Some(s3), Some(bucket)) => Some(Files { s3, bucket }),
        _ => None,
    };
    let now = jiff::Timestamp::now();
    let out = match command {
        "export" => customer_data::export(store, files.as_ref(), &customer, now)
            .await
            .map(|v| format!("{v:#}\n")),
        _ => customer_data::erase(store, files.as_ref(), &customer, now).await,
    };
    printed(out)
}
