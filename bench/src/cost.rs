//! Cost per 1,000 conversations: the measured DynamoDB requests per operation × how often a
//! conversation does each operation (the assumptions, printed with the figure) × AWS list prices
//! (us-east-1, on-demand, arm64; no free tier). Twilio and Creatio are billed by them, not AWS,
//! and are left out.

use std::time::Duration;

use crate::requests::Row;

/// USD, us-east-1 list prices.
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_ARM_PER_GB_S: f64 = 0.000_013_333_4;
const HTTP_API_PER_REQUEST: f64 = 1.00 / 1e6;
const DDB_PER_WRU: f64 = 0.625 / 1e6;
const DDB_PER_RRU: f64 = 0.125 / 1e6;
const MEMORY_GB: f64 = 0.25;

/// One kind of call in a conversation.
struct Op {
    what: &'static str,
    /// Per conversation, on average.
    times: f64,
    /// The bench row whose DynamoDB figures it uses, or fixed (wru, rru) where not measured.
    row: Result<&'static str, (f64, f64)>,
    http_api: bool,
    /// Billed milliseconds per invocation (assumed; see the notes).
    billed_ms: f64,
}

pub fn report(rows: Option<&[Row]>, starts: &[(String, Duration)]) -> String {
    let Some(rows) = rows else {
        return "skipped: needs the DynamoDB figures (run through scripts/bench)".into();
    };
    let handoff_share = 0.3;
    // A conversation: half SMS, half widget; 4 customer messages answered by the assistant;
    // 30% hand off, and then 3 agent replies and 3 more customer messages.
    let ops = [
        Op {
            what: "SMS inbound, assistant answers",
            times: 0.5 * 4.0,
            row: Ok("inbound SMS, answered by the assistant"),
            http_api: true,
            billed_ms: 50.0,
        },
        Op {
            what: "SMS status callbacks (2 per SMS sent)",
            times: 0.5 * 2.0 * (4.0 + handoff_share * 3.0),
            row: Ok("status callback"),
            http_api: true,
            billed_ms: 20.0,
        },
        Op {
            what: "SMS inbound while an agent has it",
            times: 0.5 * handoff_share * 3.0,
            row: Ok("inbound SMS while an agent has the case"),
            http_api: true,
            billed_ms: 30.0,
        },
        Op {
            what: "widget start",
            times: 0.5,
            row: Ok("widget session start"),
            http_api: true,
            billed_ms: 30.0,
        },
        Op {
            what: "widget message, assistant answers",
            times: 0.5 * 4.0,
            row: Ok("widget message, answered by the assistant"),
            http_api: true,
            billed_ms: 50.0,
        },
        Op {
            what: "widget polls (20; 60 more with an agent)",
            times: 0.5 * (20.0 + handoff_share * 60.0),
            row: Ok("widget poll, nothing new"),
            http_api: true,
            billed_ms: 15.0,
        },
        Op {
            what: "widget message while an agent has it",
            times: 0.5 * handoff_share * 3.0,
            row: Ok("widget message while an agent has the case"),
            http_api: true,
            billed_ms: 30.0,
        },
        // Handoff sync: session + transcript read, watermark write (estimated, not counted).
        Op {
            what: "handoff sync (stream), at handoff and per follow-up",
            times: handoff_share * (1.0 + 3.0 + 3.0),
            row: Err((2.0, 2.0)),
            http_api: false,
            billed_ms: 400.0,
        },
        Op {
            what: "agent reply webhook (records it)",
            times: handoff_share * 3.0,
            row: Ok("rep reply webhook (recorded in the outbox)"),
            http_api: true,
            billed_ms: 20.0,
        },
        Op {
            what: "agent reply delivery (stream)",
            times: handoff_share * 3.0,
            row: Ok("rep reply delivery from the stream (widget)"),
            http_api: false,
            billed_ms: 300.0,
        },
    ];
    let mut lines = vec![
        "| operation | per conversation | DynamoDB WRU / RRU each | per 1,000 conversations (USD) |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    let mut total = 0.0;
    let (mut t_lambda, mut t_api, mut t_ddb) = (0.0, 0.0, 0.0);
    for op in &ops {
        let (wru, rru) = match op.row {
            Ok(name) => rows
                .iter()
                .find(|r| r.what == name)
                .map(|r| (r.write_units(), r.read_units()))
                .unwrap_or((0.0, 0.0)),
            Err(fixed) => fixed,
        };
        let n = op.times * 1000.0;
        let lambda =
            n * (LAMBDA_PER_REQUEST + op.billed_ms / 1000.0 * MEMORY_GB * LAMBDA_ARM_PER_GB_S);
        let api = if op.http_api {
            n * HTTP_API_PER_REQUEST
        } else {
            0.0
        };
        let ddb = n * (wru * DDB_PER_WRU + rru * DDB_PER_RRU);
        t_lambda += lambda;
        t_api += api;
        t_ddb += ddb;
        total += lambda + api + ddb;
        lines.push(format!(
            "| {}{} | {:.1} | {wru} / {rru} | {:.4} |",
            op.what,
            if op.row.is_err() {
                " (units estimated)"
            } else {
                ""
            },
            op.times,
            lambda + api + ddb
        ));
    }
    let init_ms: f64 = starts
        .iter()
        .filter(|(n, _)| n != "hello-lambda")
        .map(|(_, d)| d.as_secs_f64() * 1000.0)
        .fold(0.0, f64::max);
    lines.push(format!(
        "\n**≈ ${total:.3} per 1,000 conversations** (Lambda ${t_lambda:.3}, HTTP API ${t_api:.3}, \
         DynamoDB ${t_ddb:.3}).\n\nAssumptions: half SMS, half widget; 4 customer messages answered \
         by the assistant; 30% hand off, then 3 agent replies and 3 more customer messages; Twilio \
         reports 2 statuses per SMS; the widget polls 20 times, 60 more while an agent has it. \
         Lambda: arm64, 256 MB, billed milliseconds as in the table's code (Creatio round trips \
         dominate the sync and the webhook); a cold start adds its init (the slowest measured here: \
         {init_ms:.0} ms), billed like the handler, which at one cold start per hundred invocations \
         changes the Lambda figure by a few percent. DynamoDB on-demand: items \
         under 1 KB, reads strongly consistent under 4 KB; Streams reads by Lambda are free. \
         Prices: Lambda $0.20 per million requests + $0.0000133334 per GB-s (arm64), HTTP API \
         $1.00 per million, DynamoDB $0.625 per million WRU and $0.125 per million RRU. Not \
         included: SMS (Twilio), Creatio, CloudWatch Logs, S3 for attachments."
    ));
    lines.join("\n")
}

/// What the catch-up costs a month at one poll every `interval_s` seconds, from the bench's
/// "nothing new" row (most polls find nothing).
pub fn catch_up_month(rows: &[Row], interval_s: u64) -> String {
    let Some(quiet) = rows
        .iter()
        .find(|r| r.what.starts_with("catch-up poll, nothing new"))
    else {
        return String::new();
    };
    let polls = 30.0 * 24.0 * 3600.0 / interval_s as f64;
    // A poll is one Creatio request; billed time assumed 300 ms (the round trip dominates).
    let lambda = polls * (LAMBDA_PER_REQUEST + 0.3 * MEMORY_GB * LAMBDA_ARM_PER_GB_S);
    let ddb = polls * (quiet.write_units() * DDB_PER_WRU + quiet.read_units() * DDB_PER_RRU);
    format!(
        "**The catch-up, one poll every {interval_s} s: {polls:.0} polls a month, ≈ ${:.3} a month** \
         (Lambda ${lambda:.3}: requests and 300 ms at 256 MB each; DynamoDB ${ddb:.4}: {} WRU / {} RRU \
         a quiet poll; EventBridge schedules are free). Creatio: {polls:.0} requests a month \
         ({:.0} a day), whatever the number of open cases.",
        lambda + ddb,
        quiet.write_units(),
        quiet.read_units(),
        polls / 30.0
    )
}
