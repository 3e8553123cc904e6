//! The Creatio client against the Creatio sandbox (a loopback server that answers as Creatio
//! does: login cookies and BPMCSRF, OAuth tokens, OData shapes and errors, $batch, expiry).

use std::time::Duration;

use casebridge::config::{BaseUrl, CreatioAuth, CreatioConfig, IdentityServer};
use casebridge::creatio::error::DataErrorKind;
use casebridge::creatio::odata::{date_value, lookup_value, text_value};
use casebridge::creatio::{BatchOp, Created, CreatioClient, CreatioError, Filter, RetryPolicy};
use creatio_sandbox::{CustomColumn, Dialect, ExpiryStyle, Sandbox, SandboxConfig, UnknownEntity};
use serde_json::json;
use uuid::Uuid;

const HIGH: &str = "8b700f24-f46b-1410-ee8c-0050ba5d6c38";

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 10,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
    }
}

fn forms(sandbox: &Sandbox, password: &str, netcore: bool) -> CreatioConfig {
    CreatioConfig::with_defaults(
        BaseUrl::parse("CREATIO_URL", &format!("{}/", sandbox.url)).unwrap(),
        netcore,
        CreatioAuth::Forms {
            username: "Supervisor".into(),
            password: password.to_owned().into(),
        },
    )
}

fn oauth(sandbox: &Sandbox, secret: &str) -> CreatioConfig {
    CreatioConfig::with_defaults(
        BaseUrl::parse("CREATIO_URL", &sandbox.url).unwrap(),
        false,
        CreatioAuth::OAuth {
            client_id: "casebridge".into(),
            client_secret: secret.to_owned().into(),
            // The identity server is a host of its own, as on Creatio cloud.
            identity: IdentityServer::Configured(
                BaseUrl::parse("CREATIO_IDENTITY_URL", &sandbox.identity_url).unwrap(),
            ),
        },
    )
}

fn client(config: &CreatioConfig) -> CreatioClient {
    let http = casebridge::http::client(Duration::from_secs(10)).unwrap();
    CreatioClient::new(config, http, fast_retries())
}

async fn sandbox(config: SandboxConfig) -> Sandbox {
    Sandbox::start(config).await.unwrap()
}

fn count(s: &Sandbox, method: &str, path_suffix: &str) -> usize {
    s.requests()
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(path_suffix))
        .count()
}

fn case_body(subject: &str) -> serde_json::Value {
    json!({"Subject": subject, "Symptoms": "summary", "PriorityId": HIGH})
}

#[tokio::test]
async fn forms_login_creates_and_reads_a_case() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let id = Uuid::new_v4();
    let created = c.create("Case", id, case_body("Order late")).await.unwrap();
    match created {
        Created::New(v) => {
            assert_eq!(v["Id"], json!(id.to_string()));
            assert!(v["Number"].as_str().unwrap().starts_with("SR"));
        }
        other => panic!("{other:?}"),
    }
    let got = c
        .get("Case", id, &["Id", "Subject", "Number"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["Subject"], "Order late");
    assert!(got.get("Symptoms").is_none(), "$select is honoured");
    assert_eq!(c.get("Case", Uuid::new_v4(), &["Id"]).await.unwrap(), None);
    assert_eq!(
        count(&s, "POST", "AuthService.svc/Login"),
        1,
        "one login for the run"
    );
}

#[tokio::test]
async fn bad_forms_credentials_are_reported_with_creatios_message_and_not_retried() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "wrong", false));
    let err = c
        .create("Case", Uuid::new_v4(), case_body("x"))
        .await
        .unwrap_err();
    match &err {
        CreatioError::Auth(m) => assert!(m.contains("user name or password"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(count(&s, "POST", "AuthService.svc/Login"), 1);
    assert!(s.records("Case").is_empty());
}

#[tokio::test]
async fn oauth_token_is_fetched_once_and_reused() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&oauth(&s, "casebridge-secret"));
    for i in 0..3 {
        c.create("Contact", Uuid::new_v4(), json!({"Name": format!("c{i}")}))
            .await
            .unwrap();
    }
    assert_eq!(count(&s, "POST", "/connect/token"), 1);
    assert_eq!(s.records("Contact").len(), 3);
    // An expired token (401) is replaced once and the call succeeds.
    s.expire_all();
    c.create("Contact", Uuid::new_v4(), json!({"Name": "after"}))
        .await
        .unwrap();
    assert_eq!(count(&s, "POST", "/connect/token"), 2);
}

#[tokio::test]
async fn bad_oauth_secret_is_an_auth_error() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&oauth(&s, "expired-secret"));
    let err = c.query("Case", None, &["Id"], Some(1)).await.unwrap_err();
    assert!(
        matches!(&err, CreatioError::Auth(m) if m.contains("invalid_client")),
        "{err:?}"
    );
}

#[tokio::test]
async fn both_odata_roots_work() {
    for netcore in [false, true] {
        let s = sandbox(SandboxConfig {
            netcore,
            ..Default::default()
        })
        .await;
        let c = client(&forms(&s, "Supervisor", netcore));
        let id = Uuid::new_v4();
        c.create("Case", id, case_body("root")).await.unwrap();
        let root = if netcore {
            "/odata/Case"
        } else {
            "/0/odata/Case"
        };
        assert_eq!(count(&s, "POST", root), 1, "netcore={netcore}");
    }
}

#[tokio::test]
async fn session_expiry_mid_run_is_survived_in_every_style() {
    for style in [
        ExpiryStyle::Unauthorized,
        ExpiryStyle::RedirectToLogin,
        ExpiryStyle::HtmlLoginPage,
    ] {
        let s = sandbox(SandboxConfig {
            expire_after_requests: Some(3),
            expiry_style: style,
            ..Default::default()
        })
        .await;
        let c = client(&forms(&s, "Supervisor", false));
        let ids: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            c.create("Activity", *id, json!({"Title": "a"}))
                .await
                .unwrap();
        }
        assert_eq!(s.records("Activity").len(), 10, "{style:?}");
        assert!(
            count(&s, "POST", "AuthService.svc/Login") >= 3,
            "{style:?}: logged in again"
        );
    }
}

#[tokio::test]
async fn a_stale_csrf_token_403_is_handled_by_signing_in_again() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    s.rotate_csrf();
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    assert_eq!(count(&s, "POST", "AuthService.svc/Login"), 2);
    assert!(s.requests().iter().any(|r| r.status == 403));
}

#[tokio::test]
async fn transient_faults_are_retried_to_success_without_duplicates() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    c.query("Case", None, &["Id"], Some(1)).await.unwrap(); // sign in before faults start
    s.set_faults(0.3, 503, None);
    let ids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for id in &ids {
        c.create("Activity", *id, json!({"Title": "t"}))
            .await
            .unwrap();
    }
    s.set_faults(0.0, 503, None);
    assert_eq!(s.records("Activity").len(), 20);
    assert!(
        s.requests().iter().any(|r| r.status == 503),
        "faults were injected"
    );
}

#[tokio::test]
async fn a_permanent_error_carries_creatios_message_and_is_not_retried() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let err = c
        .create(
            "Case",
            Uuid::new_v4(),
            json!({"Subject": "x", "UsrCategory": "Billing"}),
        )
        .await
        .unwrap_err();
    match &err {
        CreatioError::Api {
            status: 400,
            message,
        } => {
            assert!(
                message.contains("'UsrCategory' does not exist"),
                "{message}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_transient());
    assert_eq!(count(&s, "POST", "/0/odata/Case"), 1, "never retried");
    // An entity set the instance lacks is named as such, and not retried either.
    let err = c.query("NoSuchEntity", None, &[], None).await.unwrap_err();
    assert!(
        matches!(&err, CreatioError::NoAccess { status: 404, entity, .. } if entity == "NoSuchEntity"),
        "{err:?}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn creating_the_same_id_twice_is_idempotent() {
    for duplicate_status in [500, 409, 400] {
        let s = sandbox(SandboxConfig {
            duplicate_status,
            ..Default::default()
        })
        .await;
        let c = client(&forms(&s, "Supervisor", false));
        let id = Uuid::new_v4();
        assert!(matches!(
            c.create("Case", id, case_body("a")).await.unwrap(),
            Created::New(_)
        ));
        assert_eq!(
            c.create("Case", id, case_body("a")).await.unwrap(),
            Created::AlreadyThere,
            "duplicate answered {duplicate_status}"
        );
        assert_eq!(s.records("Case").len(), 1);
        // In a batch too: a mix of existing and new records.
        let new_id = Uuid::new_v4();
        let results = c
            .batch(&[
                BatchOp::create("Case", id, case_body("a")),
                BatchOp::create("Case", new_id, case_body("b")),
            ])
            .await
            .unwrap();
        assert_eq!(results[0], Ok(Created::AlreadyThere));
        assert!(matches!(results[1], Ok(Created::New(_))));
        assert_eq!(s.records("Case").len(), 2);
    }
}

#[tokio::test]
async fn a_duplicate_in_a_batch_is_there_even_when_it_cannot_be_read_back() {
    // GIVEN a record an earlier attempt created (its answer lost), and the check that would
    // read it back failing (here: no rights to read it)
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let id = Uuid::new_v4();
    c.create("Case", id, case_body("a")).await.unwrap();
    s.deny("Case", "GET");
    // WHEN the batch creates it again
    let results = c
        .batch(&[BatchOp::create("Case", id, case_body("a"))])
        .await
        .unwrap();
    // THEN the duplicate key says it is there: done, not a permanent failure of the sync
    assert_eq!(results[0], Ok(Created::AlreadyThere));
    assert_eq!(s.records("Case").len(), 1);
}

#[tokio::test]
async fn filter_literals_cannot_break_or_change_the_filter() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    for name in ["O'Brien", "Smith", "y"] {
        c.create(
            "Contact",
            Uuid::new_v4(),
            json!({"Name": name, "MobilePhone": "+15551234567"}),
        )
        .await
        .unwrap();
    }
    let rows = c
        .query(
            "Contact",
            Some(&Filter::eq_str("Name", "O'Brien")),
            &["Id", "Name"],
            None,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Name"], "O'Brien");
    // An injection attempt is one literal: it matches nothing, and it is not a syntax error.
    for hostile in [
        "x' or Name ne 'y",
        "' or 1 eq 1 or Name eq '",
        "Smith') or (Name ne '",
    ] {
        let rows = c
            .query(
                "Contact",
                Some(&Filter::eq_str("Name", hostile)),
                &["Id"],
                None,
            )
            .await
            .unwrap();
        assert!(rows.is_empty(), "{hostile} matched {rows:?}");
    }
    let phone =
        Filter::eq_str("MobilePhone", "+15551234567").or(Filter::eq_str("Phone", "+15551234567"));
    assert_eq!(
        c.query("Contact", Some(&phone), &["Id"], None)
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn activities_are_found_through_the_navigation_path() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let case = Uuid::new_v4();
    c.create("Case", case, case_body("nav")).await.unwrap();
    c.create(
        "Activity",
        Uuid::new_v4(),
        json!({"Title": "on case", "CaseId": case}),
    )
    .await
    .unwrap();
    c.create("Activity", Uuid::new_v4(), json!({"Title": "elsewhere"}))
        .await
        .unwrap();
    let rows = c
        .query(
            "Activity",
            Some(&Filter::eq_guid("Case/Id", case)),
            &["Id", "Title"],
            None,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["Title"], "on case");
}

#[tokio::test]
async fn two_hundred_fifty_activities_take_three_requests() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    c.query("Case", None, &["Id"], Some(1)).await.unwrap(); // signed in, as a warm container is
    s.clear_log();
    let ops: Vec<BatchOp> = (0..250)
        .map(|i| {
            BatchOp::create(
                "Activity",
                Uuid::new_v4(),
                json!({"Title": format!("m{i}")}),
            )
        })
        .collect();
    let results = c.batch(&ops).await.unwrap();
    assert!(results.iter().all(|r| matches!(r, Ok(Created::New(_)))));
    assert_eq!(s.records("Activity").len(), 250);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert!(
        reqs.iter()
            .all(|r| r.path.ends_with("$batch") && r.sub_requests <= 100)
    );
}

#[tokio::test]
async fn a_batch_under_faults_ends_with_every_record_exactly_once() {
    let s = sandbox(SandboxConfig::default()).await;
    // A whole batch and each of its sub-requests can fail: give it the rounds a stream retry
    // would add in production.
    let http = casebridge::http::client(Duration::from_secs(10)).unwrap();
    let c = CreatioClient::new(
        &forms(&s, "Supervisor", false),
        http,
        RetryPolicy {
            attempts: 30,
            ..fast_retries()
        },
    );
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    s.set_faults(0.3, 500, None);
    let ids: Vec<Uuid> = (0..120).map(|_| Uuid::new_v4()).collect();
    let ops: Vec<BatchOp> = ids
        .iter()
        .map(|id| BatchOp::create("Activity", *id, json!({"Title": "f"})))
        .collect();
    let results = c.batch(&ops).await.unwrap();
    s.set_faults(0.0, 500, None);
    let failed = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 0, "{failed} ops still failing");
    assert_eq!(s.records("Activity").len(), 120);
}

#[tokio::test]
async fn a_bad_op_in_a_batch_fails_alone() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let results = c
        .batch(&[
            BatchOp::create("Activity", Uuid::new_v4(), json!({"Title": "good"})),
            BatchOp::create("Activity", Uuid::new_v4(), json!({"UsrBad": 1})),
            BatchOp::create("Activity", Uuid::new_v4(), json!({"Title": "also good"})),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(
        matches!(&results[1], Err(CreatioError::Api { status: 400, message }) if message.contains("UsrBad"))
    );
    assert_eq!(s.records("Activity").len(), 2);
}

#[tokio::test]
async fn lookups_resolve_by_name_and_are_cached() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let high = c.lookup_id("CasePriority", "High").await.unwrap();
    assert_eq!(high.to_string(), HIGH);
    let before = s.api_requests();
    assert_eq!(c.lookup_id("CasePriority", "High").await.unwrap(), high);
    assert_eq!(s.api_requests(), before, "served from the cache");
    let err = c.lookup_id("CasePriority", "Urgent'").await.unwrap_err();
    assert!(
        matches!(err, CreatioError::LookupNotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_connection_check_says_what_to_fix() {
    let s = sandbox(SandboxConfig::default()).await;
    let good = client(&forms(&s, "Supervisor", false))
        .check_connection()
        .await;
    assert!(good.ok(), "{good}");
    // Sign in, then Case, Activity, Contact and ContactCommunication.
    assert_eq!(good.steps.len(), 5);

    let bad_password = client(&forms(&s, "nope", false)).check_connection().await;
    assert!(!bad_password.ok());
    assert!(
        bad_password
            .to_string()
            .contains("FAIL  sign in: login as Supervisor failed"),
        "{bad_password}"
    );

    let wrong_flavour = client(&forms(&s, "Supervisor", true))
        .check_connection()
        .await;
    assert!(
        wrong_flavour.to_string().contains("CREATIO_NETCORE"),
        "{wrong_flavour}"
    );

    let unreachable = CreatioConfig {
        url: BaseUrl::parse("CREATIO_URL", "http://127.0.0.1:9").unwrap(),
        ..forms(&s, "Supervisor", false)
    };
    let report = client(&unreachable).check_connection().await;
    assert!(
        report.to_string().contains("cannot reach Creatio"),
        "{report}"
    );
}

// ---- Creatio as it really answers ---------------------------------------------------------------

fn client_with(config: &CreatioConfig, attempts: usize) -> CreatioClient {
    let http = casebridge::http::client(Duration::from_secs(10)).unwrap();
    CreatioClient::new(
        config,
        http,
        RetryPolicy {
            attempts,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
        },
    )
}

#[tokio::test]
async fn data_errors_come_as_500s_and_are_permanent_in_both_databases_words() {
    for dialect in [Dialect::SqlServer, Dialect::Postgres] {
        let s = sandbox(SandboxConfig {
            dialect,
            custom_columns: vec![CustomColumn::text("Case", "UsrTopic", 10)],
            ..SandboxConfig::default()
        })
        .await;
        let c = client_with(&forms(&s, "Supervisor", false), 5);
        let cases = [
            (
                "Case",
                json!({"Subject": "x", "GroupId": Uuid::new_v4().to_string()}),
                DataErrorKind::ForeignKey,
            ),
            (
                "Case",
                json!({"Subject": "x", "UsrTopic": "far more than ten characters"}),
                DataErrorKind::TooLong,
            ),
            (
                "Contact",
                json!({"MobilePhone": "+15551230001"}),
                DataErrorKind::Required,
            ),
        ];
        for (entity, body, kind) in cases {
            let before = count(&s, "POST", &format!("/0/odata/{entity}"));
            let err = c.create(entity, Uuid::new_v4(), body).await.unwrap_err();
            // THEN the kind is read from the body, under Creatio's generic top-level message
            assert_eq!(err.data_kind(), Some(kind), "{dialect:?}: {err}");
            assert!(!err.is_transient());
            assert_eq!(err.status(), Some(500));
            assert!(!err.to_string().contains("An error has occurred"), "{err}");
            // AND it is sent once: no retries, no existence check of a record that cannot be
            assert_eq!(count(&s, "POST", &format!("/0/odata/{entity}")), before + 1);
        }
        let err = c
            .create(
                "Case",
                Uuid::new_v4(),
                json!({"Subject": "x", "GroupId": Uuid::new_v4().to_string()}),
            )
            .await
            .unwrap_err();
        let words = match dialect {
            Dialect::SqlServer => "FOREIGN KEY constraint",
            Dialect::Postgres => "23503",
        };
        assert!(err.to_string().contains(words), "{dialect:?}: {err}");
    }
}

#[tokio::test]
async fn empty_values_read_back_as_creatio_renders_them_and_mean_nothing() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let case = Uuid::new_v4();
    c.create("Case", case, json!({"Subject": "bare"}))
        .await
        .unwrap();
    let row = c.get("Case", case, &[]).await.unwrap().unwrap();
    // Creatio's empty values: the zero GUID, "", the zero date; never null.
    assert_eq!(row["OwnerId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(row["Notes"], "");
    assert_eq!(row["ClosureDate"], "0001-01-01T00:00:00Z");
    assert!(row.as_object().unwrap().values().all(|v| !v.is_null()));
    // Read as none, like null.
    assert_eq!(lookup_value(&row, "OwnerId"), None);
    assert_eq!(text_value(&row, "Notes"), None);
    assert_eq!(date_value(&row, "ClosureDate"), None);
    assert!(date_value(&row, "RegisteredOn").is_some());
    // And written back, the zero GUID is an empty lookup, not a missing row.
    c.patch(
        "Case",
        case,
        json!({"OwnerId": "00000000-0000-0000-0000-000000000000"}),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_403_that_stays_after_a_fresh_sign_in_names_the_entity_and_the_right() {
    let s = sandbox(SandboxConfig::default()).await;
    s.deny("Activity", "POST");
    for config in [
        forms(&s, "Supervisor", false),
        oauth(&s, "casebridge-secret"),
    ] {
        let c = client_with(&config, 5);
        c.query("Case", None, &["Id"], Some(1)).await.unwrap();
        s.clear_log();
        let err = c
            .create("Activity", Uuid::new_v4(), json!({"Title": "x"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CreatioError::NoAccess { entity, status: 403, .. } if entity == "Activity"),
            "{err:?}"
        );
        assert!(!err.is_transient());
        let text = err.to_string();
        assert!(
            text.contains("Activity") && text.contains("Object permissions"),
            "{text}"
        );
        // At most one fresh sign-in to tell a stale session from a missing right.
        let sign_ins = s
            .requests()
            .iter()
            .filter(|r| r.path.contains("AuthService") || r.path.ends_with("/connect/token"))
            .count();
        assert!(sign_ins <= 1, "{sign_ins} sign-ins");
    }
}

#[tokio::test]
async fn an_entity_set_answered_401_does_not_loop_through_sign_in() {
    let s = sandbox(SandboxConfig {
        unknown_entity: UnknownEntity::Unauthorized,
        ..SandboxConfig::default()
    })
    .await;
    let c = client_with(&forms(&s, "Supervisor", false), 5);
    let err = c.query("UsrTicket", None, &["Id"], None).await.unwrap_err();
    assert!(
        matches!(&err, CreatioError::NoAccess { entity, status: 401, .. } if entity == "UsrTicket"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("does not exist on this instance"),
        "{err}"
    );
    assert_eq!(count(&s, "POST", "/ServiceModel/AuthService.svc/Login"), 2);
    assert_eq!(count(&s, "GET", "/0/odata/UsrTicket"), 2);
}

#[tokio::test]
async fn the_login_is_refused_without_force_use_session() {
    let s = sandbox(SandboxConfig::default()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/ServiceModel/AuthService.svc/Login", s.url))
        .json(&json!({"UserName": "Supervisor", "UserPassword": "Supervisor"}))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie").is_none());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["Code"], 1);
    // casebridge's client sends it.
    client(&forms(&s, "Supervisor", false))
        .query("Case", None, &["Id"], Some(1))
        .await
        .unwrap();
}

fn discovering(sandbox: &Sandbox, cloud: Option<&str>) -> CreatioConfig {
    CreatioConfig::with_defaults(
        BaseUrl::parse("CREATIO_URL", &sandbox.url).unwrap(),
        false,
        CreatioAuth::OAuth {
            client_id: "casebridge".into(),
            client_secret: "casebridge-secret".to_owned().into(),
            identity: IdentityServer::Discover {
                cloud: cloud.map(|u| BaseUrl::parse("CREATIO_IDENTITY_URL", u).unwrap()),
            },
        },
    )
}

#[tokio::test]
async fn the_identity_server_is_discovered_else_the_cloud_rule_else_named_as_missing() {
    // Creatio 8.3+: the instance names its identity server; found once per container.
    let s = sandbox(SandboxConfig {
        token_lifetime: Duration::from_secs(61),
        ..SandboxConfig::default()
    })
    .await;
    let c = client(&discovering(&s, None));
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    s.expire_all();
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    assert_eq!(count(&s, "GET", "/0/.well-known/openid-configuration"), 1);
    assert_eq!(count(&s, "POST", "/connect/token"), 2);
    // No discovery document (before 8.3), on Creatio cloud: the `-is` host (here the sandbox's
    // identity host stands for it).
    let old = sandbox(SandboxConfig {
        discovery: false,
        ..SandboxConfig::default()
    })
    .await;
    let c = client(&discovering(&old, Some(&old.identity_url)));
    c.query("Case", None, &["Id"], Some(1)).await.unwrap();
    assert_eq!(count(&old, "POST", "/connect/token"), 1);
    // Neither: the sign-in says what to set, and is not retried.
    let c = client(&discovering(&old, None));
    let err = c.query("Case", None, &["Id"], Some(1)).await.unwrap_err();
    assert!(
        matches!(&err, CreatioError::Auth(m) if m.contains("CREATIO_IDENTITY_URL") && m.contains("OAuth20IdentityServerUrl")),
        "{err:?}"
    );
    assert!(!err.is_transient());
    // The instance itself has no token endpoint: the identity server is a host of its own.
    let r = reqwest::Client::new()
        .post(format!("{}/connect/token", s.url))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn saving_a_contacts_numbers_keeps_its_communications_and_search_numbers() {
    let s = sandbox(SandboxConfig::default()).await;
    let c = client(&forms(&s, "Supervisor", false));
    let contact = Uuid::new_v4();
    c.create(
        "Contact",
        contact,
        json!({"Name": "Ann", "MobilePhone": "(555) 123-4567", "Email": "Ann@Example.com"}),
    )
    .await
    .unwrap();
    let rows = c
        .query(
            "ContactCommunication",
            Some(&Filter::starts_with("SearchNumber", "7654321555")),
            &["ContactId", "Number", "SearchNumber"],
            None,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ContactId"], contact.to_string());
    assert_eq!(rows[0]["Number"], "(555) 123-4567");
    let email = c
        .query(
            "ContactCommunication",
            Some(&Filter::eq_str("SearchNumber", "ann@example.com")),
            &["ContactId"],
            None,
        )
        .await
        .unwrap();
    assert_eq!(email.len(), 1);
    // A changed number changes its row.
    c.patch(
        "Contact",
        contact,
        json!({"MobilePhone": "+44 20 7946 0958"}),
    )
    .await
    .unwrap();
    let rows = c
        .query(
            "ContactCommunication",
            Some(&Filter::starts_with("SearchNumber", "8590649702")),
            &["ContactId"],
            None,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn the_connection_check_names_a_missing_right_and_the_object() {
    let s = sandbox(SandboxConfig::default()).await;
    s.deny("ContactCommunication", "GET");
    let report = client(&forms(&s, "Supervisor", false))
        .check_connection()
        .await;
    assert!(!report.ok());
    let text = report.to_string();
    assert!(
        text.contains("FAIL  read one ContactCommunication")
            && text.contains("may not use ContactCommunication")
            && text.contains("Object permissions"),
        "{text}"
    );
}

#[tokio::test]
async fn the_sandbox_answers_loopback_names_only() {
    // GIVEN the sandbox on 127.0.0.1, reached through another name (DNS rebinding)
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let http = casebridge::http::client(std::time::Duration::from_secs(5)).unwrap();
    let rebound = http
        .get(format!("{}/0/ServiceModel/AuthService.svc/Login", sb.url))
        .header("host", "creatio.attacker.example")
        .send()
        .await
        .unwrap();
    // THEN it refuses, as the local console does
    assert_eq!(rebound.status(), 403);
    // AND its own address still works
    let own = http
        .get(format!("{}/0/odata/Case", sb.url))
        .send()
        .await
        .unwrap();
    assert_ne!(own.status(), 403);
}
