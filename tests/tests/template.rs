//! template.yaml: `cfn-lint` clean, and its table exactly the one the store uses
//! (`casebridge::store::dynamo::table_definition`), so a deploy never meets a table the code does
//! not expect. Needs the test command's Python tools (`CASEBRIDGE_TOOLS`, set by scripts/test).

use std::path::{Path, PathBuf};
use std::process::Command;

use casebridge::store::dynamo::{TTL_ATTRIBUTE, table_definition};
use serde_json::Value;

use test_support::tools;

fn template() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

#[test]
fn cfn_lint_is_clean() {
    let Some(tools) = tools() else { return };
    let out = Command::new(tools.join("cfn-lint"))
        .arg(template())
        .output()
        .expect("cfn-lint runs");
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The template's resource, read with cfn-lint's own YAML loader (it understands `!Ref` & co).
fn resource(tools: &Path, name: &str) -> Value {
    whole(tools)["Resources"][name].clone()
}

#[test]
fn the_table_is_the_one_the_store_uses() {
    let Some(tools) = tools() else { return };
    let table = resource(&tools, "Table");
    let p = &table["Properties"];
    let def = table_definition();
    let attrs: Vec<(String, String)> = p["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().into(),
                a["AttributeType"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = def
        .attributes
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(attrs, want);
    let keys = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap().into(),
                    k["KeyType"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let want_keys: Vec<(String, String)> = def
        .key_schema
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(keys(&p["KeySchema"]), want_keys);
    let gsis = p["GlobalSecondaryIndexes"].as_array().unwrap();
    assert_eq!(gsis.len(), def.indexes.len());
    for (g, want) in gsis.iter().zip(&def.indexes) {
        assert_eq!(g["IndexName"], want.index_name());
        let want_keys: Vec<(String, String)> = want
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(keys(&g["KeySchema"]), want_keys);
        assert_eq!(
            g["Projection"]["ProjectionType"],
            want.projection()
                .unwrap()
                .projection_type()
                .unwrap()
                .as_str()
        );
    }
    assert_eq!(
        p["StreamSpecification"]["StreamViewType"],
        def.stream.stream_view_type().unwrap().as_str()
    );
    assert_eq!(p["TimeToLiveSpecification"]["AttributeName"], TTL_ATTRIBUTE);
    assert_eq!(p["TimeToLiveSpecification"]["Enabled"], true);
    assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
}

#[test]
fn the_stream_consumer_filters_retries_and_dead_letters() {
    let Some(tools) = tools() else { return };
    let f = resource(&tools, "HandoffFunction");
    let stream = &f["Properties"]["Events"]["Stream"]["Properties"];
    assert_eq!(stream["BisectBatchOnFunctionError"], true);
    assert!(stream["MaximumRetryAttempts"].as_i64().unwrap() <= 10);
    assert_eq!(
        stream["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
    assert_eq!(stream["DestinationConfig"]["OnFailure"]["Type"], "SQS");
    let pattern: Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        pattern["dynamodb"]["NewImage"]["kind"]["S"],
        serde_json::json!(["session", "message"])
    );
}

#[test]
fn queued_replies_reach_the_stream_consumer_and_the_catch_up_runs_on_a_schedule() {
    let Some(tools) = tools() else { return };
    let f = resource(&tools, "HandoffFunction");
    let stream = &f["Properties"]["Events"]["Stream"]["Properties"];
    let outbox: Value = serde_json::from_str(
        stream["FilterCriteria"]["Filters"][1]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    // Only queued entries start a delivery: retrying, waiting and done do not; queued status
    // checks (a case_updated webhook) are applied the same way.
    assert_eq!(
        outbox["dynamodb"]["NewImage"],
        serde_json::json!({"kind": {"S": ["outbox", "case_status"]}, "state": {"S": ["queued"]}})
    );
    // A failing reply is given up on (and the case told) before the stream gives up on it.
    assert!(
        i64::from(casebridge::replies::deliver::MAX_ATTEMPTS)
            < stream["MaximumRetryAttempts"].as_i64().unwrap()
    );
    let c = resource(&tools, "CatchUpFunction");
    assert_eq!(c["Metadata"]["BuildProperties"]["Binary"], "catch-up");
    let schedule = &c["Properties"]["Events"]["Schedule"];
    assert_eq!(schedule["Type"], "Schedule");
}

/// Each function's DynamoDB actions, as its code calls them (a missing one is an AccessDenied
/// in production that no local test would meet).
#[test]
fn each_function_may_call_what_its_code_calls() {
    let Some(tools) = tools() else { return };
    let needs: &[(&str, &[&str])] = &[
        // open_turn: BatchGetItem + Query; append: TransactWriteItems; idle close: DeleteItem.
        (
            "SmsInboundFunction",
            &[
                "BatchGetItem",
                "Query",
                "PutItem",
                "UpdateItem",
                "ConditionCheckItem",
                "DeleteItem",
                "GetItem",
            ],
        ),
        // $disconnect and a gone socket: DeleteItem.
        (
            "WidgetInboundFunction",
            &[
                "GetItem",
                "Query",
                "PutItem",
                "UpdateItem",
                "ConditionCheckItem",
                "DeleteItem",
            ],
        ),
        // sync, and delivery: find_by_case (index), append, record_delivery, consent; status
        // checks: the close appends the notice and removes the pointer.
        (
            "HandoffFunction",
            &[
                "GetItem",
                "Query",
                "PutItem",
                "UpdateItem",
                "ConditionCheckItem",
                "DeleteItem",
            ],
        ),
        // enqueue (conditional put); find_by_case (index), request_status_check (update).
        ("CreatioReplyFunction", &["PutItem", "UpdateItem", "Query"]),
        // marks, outbox_entries (BatchGetItem), enqueue, find_by_case, closing.
        (
            "CatchUpFunction",
            &[
                "GetItem",
                "BatchGetItem",
                "PutItem",
                "UpdateItem",
                "Query",
                "ConditionCheckItem",
                "DeleteItem",
            ],
        ),
        // the snapshot: its pointer (GetItem), its chunks (Query on the table, no index),
        // writing a version, the replaced one's chunks given a TTL.
        (
            "KnowledgeSyncFunction",
            &["GetItem", "Query", "PutItem", "UpdateItem"],
        ),
    ];
    for (name, actions) in needs {
        let f = resource(&tools, name);
        let granted: Vec<String> = f["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
            .flat_map(|st| st["Action"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        for a in *actions {
            assert!(
                granted.contains(&format!("dynamodb:{a}")),
                "{name} lacks dynamodb:{a}: {granted:?}"
            );
        }
        let indexes = f["Properties"]["Policies"].to_string().contains("/index/*");
        if actions.contains(&"Query")
            && !["WidgetInboundFunction", "KnowledgeSyncFunction"].contains(name)
        {
            assert!(indexes, "{name} queries the by_case index");
        }
    }
}

/// The routes API Gateway gives a function, as `(METHOD, path)`, from its `HttpApi` events.
fn http_api_routes(tools: &Path, function: &str) -> Vec<(String, String)> {
    let r = resource(tools, function);
    let mut routes: Vec<(String, String)> = r["Properties"]["Events"]
        .as_object()
        .unwrap_or_else(|| panic!("{function} has no events"))
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .map(|e| {
            (
                e["Properties"]["Method"].as_str().unwrap().to_uppercase(),
                e["Properties"]["Path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    routes.sort();
    routes
}

fn table_routes<E: Copy>(table: &[casebridge::routes::Route<E>]) -> Vec<(String, String)> {
    let mut routes: Vec<(String, String)> = table
        .iter()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    routes.sort();
    routes
}

#[test]
fn each_function_answers_exactly_the_routes_the_template_gives_it() {
    let Some(tools) = tools() else { return };
    // GIVEN the route tables the functions dispatch on (and the local stack mounts)
    let tables = [
        ("SmsInboundFunction", table_routes(sms_inbound::ROUTES)),
        (
            "WidgetInboundFunction",
            table_routes(widget_inbound::ROUTES),
        ),
        ("CreatioReplyFunction", table_routes(creatio_reply::ROUTES)),
    ];
    for (function, table) in tables {
        // THEN API Gateway routes exactly those to the function
        assert_eq!(http_api_routes(&tools, function), table, "{function}");
    }
}

#[test]
fn the_alarms_and_the_dashboard_use_only_metrics_the_functions_write() {
    let Some(tools) = tools() else { return };
    let written = casebridge::metrics::Metric::NAMES;
    // GIVEN the casebridge-namespace alarms
    for alarm in [
        "PermanentSyncErrorsAlarm",
        "UndeliveredRepliesAlarm",
        "CatchUpNotRunningAlarm",
    ] {
        let p = &resource(&tools, alarm)["Properties"];
        assert_eq!(p["Namespace"], "casebridge", "{alarm}");
        let name = p["MetricName"].as_str().unwrap();
        assert!(written.contains(&name), "{alarm}: {name} is never written");
        assert!(!p["AlarmActions"].as_array().unwrap().is_empty(), "{alarm}");
    }
    // AND the dashboard, whose body must be JSON once its names are filled in
    let d = &resource(&tools, "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"];
    let mut body = d[0].as_str().unwrap().to_owned();
    for var in ["Handoff", "CatchUp", "Dlq", "AWS::Region"] {
        body = body.replace(&format!("${{{var}}}"), "x");
    }
    let body: Value = serde_json::from_str(&body).expect("the dashboard body is JSON");
    let mut named = Vec::new();
    for w in body["widgets"].as_array().unwrap() {
        for m in w["properties"]["metrics"].as_array().unwrap() {
            let m = m.as_array().unwrap();
            match m[0].as_str() {
                Some("casebridge") => named.push(m[1].as_str().unwrap().to_owned()),
                Some(_) => {}
                None => {
                    let e = m[0]["expression"].as_str().unwrap();
                    let name = e.split("MetricName=\"").nth(1).unwrap().split('"').next();
                    named.push(name.unwrap().to_owned());
                }
            }
        }
    }
    for name in &named {
        assert!(
            written.contains(&name.as_str()),
            "dashboard: {name} is never written"
        );
    }
    assert!(named.len() >= 10, "{named:?}");
}

/// The whole template, read with cfn-lint's loader.
fn whole(tools: &Path) -> Value {
    let code = "import json,sys\nfrom cfnlint.decode import decode\nt, m = decode(sys.argv[1])\nassert not m, m\nprint(json.dumps(t, default=str))";
    let out = Command::new(tools.join("python"))
        .arg("-c")
        .arg(code)
        .arg(template())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every secret reaches the functions as the name of an SSM parameter, never as a value, and
/// every function may read exactly those parameters (no wildcard).
#[test]
fn secrets_reach_the_functions_as_parameter_names_they_may_read() {
    let Some(tools) = tools() else { return };
    let t = whole(&tools);
    let env = &t["Globals"]["Function"]["Environment"]["Variables"];
    let policy = &t["Resources"]["SecretsReadPolicy"]["Properties"]["PolicyDocument"];
    let granted = policy.to_string();
    assert!(!granted.contains('*'), "a wildcard in {granted}");
    for (secret, variable) in casebridge::secrets::SECRETS {
        assert!(
            env.get(secret).is_none(),
            "{secret} is in the environment as a value"
        );
        let parameter = env[variable]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{variable} is not set from a template parameter"));
        assert!(
            granted.contains(&format!("parameter${{{parameter}}}")),
            "{parameter} is not granted: {granted}"
        );
        assert!(t["Parameters"][parameter].is_object(), "{parameter}");
    }
    for (name, r) in t["Resources"].as_object().unwrap() {
        if r["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let policies = r["Properties"]["Policies"].as_array().unwrap();
        assert!(
            policies.contains(&serde_json::json!({"Ref": "SecretsReadPolicy"})),
            "{name} cannot read its secrets"
        );
    }
}

/// The widget's socket: $connect and $disconnect reach the widget function (which answers them,
/// `widget_inbound::socket`), and every function that stores a message for a widget (the widget
/// function, the handoff's deliveries and status checks, the catch-up's closings) knows the
/// socket URL and may post to the stage's connections, and no other.
#[test]
fn the_widget_socket_reaches_the_widget_function_and_every_pusher_may_post() {
    let Some(tools) = tools() else { return };
    let t = whole(&tools);
    let r = &t["Resources"];
    assert_eq!(
        r["WidgetSocketApi"]["Properties"]["ProtocolType"],
        "WEBSOCKET"
    );
    let mut keys: Vec<String> = r
        .as_object()
        .unwrap()
        .values()
        .filter(|v| v["Type"] == "AWS::ApiGatewayV2::Route")
        .map(|v| v["Properties"]["RouteKey"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["$connect", "$disconnect"]);
    for key in &keys {
        assert_ne!(
            widget_inbound::socket::SocketRoute::of(Some(key)),
            widget_inbound::socket::SocketRoute::Message,
            "{key} is answered"
        );
    }
    let uri = r["WidgetSocketIntegration"]["Properties"]["IntegrationUri"].to_string();
    assert!(uri.contains("WidgetInboundFunction.Arn"), "{uri}");
    let stage = r["WidgetSocketStage"]["Properties"]["StageName"]
        .as_str()
        .unwrap();
    let push = r["SocketPushPolicy"]["Properties"]["PolicyDocument"].to_string();
    assert!(push.contains("execute-api:ManageConnections"), "{push}");
    assert!(
        push.contains(&format!("/{stage}/POST/@connections/*")),
        "{push}"
    );
    for f in [
        "WidgetInboundFunction",
        "HandoffFunction",
        "CatchUpFunction",
    ] {
        let props = &r[f]["Properties"];
        let url = props["Environment"]["Variables"]["WIDGET_SOCKET_URL"].to_string();
        assert!(
            url.contains(&format!("/{stage}")) && url.contains("wss://"),
            "{f}: {url}"
        );
        assert!(
            props["Policies"].to_string().contains("SocketPushPolicy"),
            "{f} may not push"
        );
    }
    for f in [
        "SmsInboundFunction",
        "CreatioReplyFunction",
        "KnowledgeSyncFunction",
    ] {
        assert!(
            !r[f]["Properties"]["Policies"]
                .to_string()
                .contains("SocketPushPolicy"),
            "{f} never pushes"
        );
    }
}
