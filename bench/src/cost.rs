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
/// API Gateway WebSocket APIs: messages (sent or received, in 32 KB units) and connection minutes.
const WS_PER_MESSAGE: f64 = 1.00 / 1e6;
const WS_PER_CONNECTION_MINUTE: f64 = 0.25 / 1e6;

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

/// The widget's side only, per 1,000 widget conversations: reaching the visitor by polling (what
/// the widget does without a socket) against pushing over the WebSocket API (with its
/// once-a-minute poll and a catch-up poll per connection), from the bench's DynamoDB rows.
pub fn push_vs_polling(rows: &[Row]) -> String {
    let needed = [
        "widget poll, nothing new",
        "widget socket $connect",
        "widget socket $disconnect",
        "widget push, the session's sockets read",
    ];
    if let Some(missing) = needed.iter().find(|n| !rows.iter().any(|r| r.what == **n)) {
        return format!("skipped: no \"{missing}\" row to price (the DynamoDB rows are needed)");
    }
    let units = |name: &str| {
        rows.iter()
            .find(|r| r.what == name)
            .map(|r| (r.write_units(), r.read_units()))
            .unwrap_or((0.0, 0.0))
    };
    let handoff_share = 0.3;
    // Invocations of the widget function answering an HTTP API request or a socket event.
    let lambda =
        |n: f64, ms: f64| n * (LAMBDA_PER_REQUEST + ms / 1000.0 * MEMORY_GB * LAMBDA_ARM_PER_GB_S);
    let ddb = |n: f64, (w, r): (f64, f64)| n * (w * DDB_PER_WRU + r * DDB_PER_RRU);
    let poll = units("widget poll, nothing new");
    // Polling: 20 polls a conversation, 60 more while an agent has it (the main model).
    let polls = 20.0 + handoff_share * 60.0;
    let polling = lambda(polls, 15.0) + polls * HTTP_API_PER_REQUEST + ddb(polls, poll);
    // Push: a conversation holds its socket 5 minutes, 25 more with an agent, which is waiting
    // time, so API Gateway's 10 idle minutes close it twice more and the widget reconnects. Each
    // connection costs $connect, $disconnect and one catch-up poll; a poll a minute while open;
    // and each stored message or state change (4 answers; with an agent 3 replies, 3 more
    // messages, the case created and closed) is one read of the sessions's sockets and one
    // message per open socket (one tab).
    let connections = 1.0 + handoff_share * 2.0;
    let minutes = 5.0 + handoff_share * 25.0;
    let minute_polls = minutes;
    let pushes = 4.0 + handoff_share * 8.0;
    let connect = units("widget socket $connect");
    let disconnect = units("widget socket $disconnect");
    let read = units("widget push, the session's sockets read");
    let push_polls = connections + minute_polls;
    let push = lambda(2.0 * connections, 15.0)
        + ddb(connections, connect)
        + ddb(connections, disconnect)
        + lambda(push_polls, 15.0)
        + push_polls * HTTP_API_PER_REQUEST
        + ddb(push_polls, poll)
        + ddb(pushes, read)
        // $connect and $disconnect are messages too, as is each push.
        + (2.0 * connections + pushes) * WS_PER_MESSAGE
        + minutes * WS_PER_CONNECTION_MINUTE;
    format!(
        "| per 1,000 widget conversations | requests to casebridge | USD |\n|---|---|---|\n\
         | polling (20 polls, 60 more with an agent) | {:.0} | {:.4} |\n\
         | push (socket + a poll a minute) | {:.0} | {:.4} |\n\n\
         Push: {connections:.1} connections a conversation ($connect {}/{} and $disconnect {}/{} \
         WRU/RRU each, one catch-up poll each), {minutes:.1} connection minutes with a poll a minute, \
         {pushes:.1} pushes (each one read of the session's sockets, {}/{} WRU/RRU, and one \
         WebSocket message). Prices: WebSocket API $1.00 per million messages and $0.25 per \
         million connection minutes; the rest as above. The widget's rep replies arrive within \
         the push instead of within the next poll (up to 30 s).",
        polls * 1000.0,
        polling * 1000.0,
        (2.0 * connections + push_polls) * 1000.0,
        push * 1000.0,
        connect.0,
        connect.1,
        disconnect.0,
        disconnect.1,
        read.0,
        read.1,
    )
}
