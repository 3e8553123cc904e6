//! The local stack as a newcomer uses it: a signed test SMS, the in-process handoff sync, the
//! console's agent reply through /creatio/reply into the outbox, and the reply texted through
//! the Twilio stand-in by the in-process stream.

use std::sync::Arc;
use std::time::Duration;

use casebridge::config::Config;
use casebridge::sms::signature::sign;
use casebridge::store::memory::MemoryStore;
use casebridge_local::{App, LOCAL_TWILIO_FROM, LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN, spawn_sync};
use creatio_sandbox::twilio::TwilioStandIn;
use creatio_sandbox::{Sandbox, SandboxConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_to_case_to_console_reply_to_sms() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let twilio = Arc::new(
        TwilioStandIn::start(LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN)
            .await
            .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut env = test_support::stack_env(&base, &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", "local-test-webhook-token"),
        ("WIDGET_SECRET", "local-test-widget-secret-0123456789abcdef"),
        ("TWILIO_ACCOUNT_SID", LOCAL_TWILIO_SID),
        ("TWILIO_AUTH_TOKEN", LOCAL_TWILIO_TOKEN),
        ("TWILIO_FROM", LOCAL_TWILIO_FROM),
        ("TWILIO_API_URL", twilio.url.as_str()),
    ]);
    let mut app = App::new(
        Arc::new(MemoryStore::new()),
        Config::from_source(&env).unwrap(),
    );
    app.twilio = Some(twilio.clone());
    let app = Arc::new(app);
    let token = app.console_token.clone();
    spawn_sync(app.clone());
    tokio::spawn(async move { casebridge_local::serve(listener, app).await });
    let http = reqwest::Client::new();

    // A customer texts and asks for a person (signed as Twilio signs).
    for (sid, text) in [
        ("SM1", "My order #A-77 never came"),
        ("SM2", "talk to a human please"),
    ] {
        let params: Vec<(String, String)> = [
            ("MessageSid", sid),
            ("From", "+15551230001"),
            ("To", LOCAL_TWILIO_FROM),
            ("Body", text),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = format!("{base}/sms/inbound");
        let r = http
            .post(&url)
            .header(
                "x-twilio-signature",
                sign(LOCAL_TWILIO_TOKEN, &url, &params),
            )
            .form(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The in-process sync creates the case.
    let case = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(c) = sandbox.records("Case").first() {
                return c["Id"].as_str().unwrap().to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the case is created");
    let console = http
        .get(format!("{base}/console?token={token}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        console.contains("SMS: My order #A-77 never came"),
        "{console}"
    );
    // The rep replies from the console; the customer gets an SMS.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .post(format!("{base}/console/reply"))
        .header("origin", &base)
        .form(&[
            ("case_id", case.as_str()),
            ("text", "<p>Hi, Bob here: it ships today.</p>"),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The webhook recorded it; the in-process stream delivers it.
    let sent = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let sent = twilio.sent();
            if !sent.is_empty() {
                return sent;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the reply is texted");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+15551230001");
    assert_eq!(sent[0].body, "Hi, Bob here: it ships today.");
}

/// The README's first command is `cargo run -p casebridge-local`: with two binaries in the
/// package, cargo needs `default-run` to know which one (scripts/test also runs the command).
#[test]
fn the_readme_command_names_the_stack_binary() {
    let manifest = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../local/Cargo.toml"),
    )
    .unwrap();
    assert!(
        manifest.contains("default-run = \"casebridge-local\""),
        "local/Cargo.toml must set default-run"
    );
}

/// The console acts on Creatio (and on a real Twilio when configured): another site's page, a
/// request without the printed token, or a name that only resolves to loopback (DNS rebinding)
/// must not drive it; local uploads are served only with the signed link.
#[tokio::test]
async fn the_console_and_local_uploads_refuse_what_they_did_not_issue() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let mut env = test_support::stack_env(&base, &sandbox.url);
    env.extend([
        ("CREATIO_WEBHOOK_TOKEN", "local-test-webhook-token"),
        ("WIDGET_SECRET", "local-test-widget-secret-0123456789abcdef"),
    ]);
    let app = Arc::new(App::new(
        Arc::new(MemoryStore::new()),
        Config::from_source(&env).unwrap(),
    ));
    let token = app.console_token.clone();
    tokio::spawn(async move { casebridge_local::serve(listener, app).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reply = |origin: Option<String>, host: Option<String>, token: &str| {
        let mut r = http.post(format!("{base}/console/reply")).form(&[
            ("case_id", "00000000-0000-0000-0000-000000000001"),
            ("text", "hi"),
            ("token", token),
        ]);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(h) = host {
            r = r.header("host", h);
        }
        r.send()
    };

    // WHEN another site's page posts a reply form (the browser sends its own Origin)
    let r = reply(Some("https://evil.example".into()), None, &token)
        .await
        .unwrap();
    // THEN 403, whatever the token
    assert_eq!(r.status(), 403);
    // AND a post without an Origin is refused too
    assert_eq!(reply(None, None, &token).await.unwrap().status(), 403);
    // AND an opaque origin (`Origin: null`) passes only when the browser says the form was the
    // console's own (`Sec-Fetch-Site`, which no page's script can set)
    let opaque = |site: &'static str| {
        http.post(format!("{base}/console/reply"))
            .header("origin", "null")
            .header("sec-fetch-site", site)
            .form(&[
                ("case_id", "not-a-case"),
                ("text", "hi"),
                ("token", token.as_str()),
            ])
            .send()
    };
    assert_eq!(opaque("cross-site").await.unwrap().status(), 403);
    assert_eq!(opaque("same-site").await.unwrap().status(), 403);
    assert_ne!(opaque("same-origin").await.unwrap().status(), 403);
    // AND the console's own origin without the token is 401
    assert_eq!(
        reply(Some(base.clone()), None, "guess")
            .await
            .unwrap()
            .status(),
        401
    );
    // AND a rebinding name is refused even with everything else right
    let rebound = format!("casebridge.attacker.example:{}", addr.port());
    let r = reply(
        Some(format!("http://{rebound}")),
        Some(rebound.clone()),
        &token,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 403);
    // AND the page itself needs the token
    let page = http.get(format!("{base}/console")).send().await.unwrap();
    assert_eq!(page.status(), 401);
    let page = http
        .get(format!("{base}/console?token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    // AND no case was touched by any refused form
    assert!(sandbox.records("Activity").is_empty());

    // WHEN someone asks for a stored file without the signed link
    for path in [
        "/local/uploads/attachments/s/a",
        "/local/uploads/attachments/s/a?expires=99999999999&sig=00",
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        // THEN it is refused before the store is even read
        assert_eq!(r.status(), 403, "{path}");
    }
}
