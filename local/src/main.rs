//! `cargo run -p casebridge-local`: the whole stack on http://127.0.0.1:3000 (or `PORT`), with no
//! AWS account and no Creatio.
//!
//! Whatever the environment sets wins; what it leaves out gets a local default: the public URL
//! is this server, the widget and webhook secrets are development values, and unless
//! `CREATIO_URL` is set the Creatio sandbox runs embedded (user Supervisor/Supervisor). The store
//! is in memory unless `TABLE_NAME` and `AWS_ENDPOINT_URL_DYNAMODB` are set. The handoff sync runs
//! in-process, as the DynamoDB stream would run it.

use std::collections::HashMap;
use std::sync::Arc;

use casebridge::config::{Config, Source};
use casebridge::store::Store;
use casebridge::store::memory::MemoryStore;
use casebridge_local::{
    App, LOCAL_TWILIO_FROM, LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN, serve, spawn_sync,
};

/// The process environment, then local defaults.
struct Layered(HashMap<&'static str, String>);

impl Source for Layered {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.0.get(name).cloned())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    casebridge::telemetry::init();
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p.parse().map_err(|_| "PORT must be a port number")?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let base = format!("http://127.0.0.1:{port}");
    let mut defaults: HashMap<&'static str, String> = HashMap::from([
        ("PUBLIC_BASE_URL", base.clone()),
        (
            "WIDGET_SECRET",
            "local-development-widget-secret-change-me".into(),
        ),
        ("WIDGET_ALLOWED_ORIGINS", base.clone()),
        // The widget's socket: the stack serves API Gateway's WebSocket protocol itself.
        (
            "WIDGET_SOCKET_URL",
            format!("ws://127.0.0.1:{port}/widget/socket"),
        ),
        (
            "CREATIO_WEBHOOK_TOKEN",
            "local-development-webhook-token".into(),
        ),
        // The sample help articles the demo answers from (docs/knowledge.md).
        (
            "CASEBRIDGE_KNOWLEDGE_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge").into(),
        ),
    ]);
    // Kept alive for the life of the process.
    let _sandbox = if std::env::var("CREATIO_URL").is_err() {
        let sandbox = creatio_sandbox::Sandbox::start(Default::default()).await?;
        eprintln!("Creatio sandbox (embedded) on {}", sandbox.url);
        defaults.insert("CREATIO_URL", sandbox.url.clone());
        defaults.insert("CREATIO_USERNAME", "Supervisor".into());
        defaults.insert("CREATIO_PASSWORD", "Supervisor".into());
        Some(sandbox)
    } else {
        None
    };
    let twilio = if std::env::var("TWILIO_ACCOUNT_SID").is_err() {
        let t = creatio_sandbox::twilio::TwilioStandIn::start(LOCAL_TWILIO_SID, LOCAL_TWILIO_TOKEN)
            .await?;
        defaults.insert("TWILIO_ACCOUNT_SID", LOCAL_TWILIO_SID.into());
        defaults.insert("TWILIO_AUTH_TOKEN", LOCAL_TWILIO_TOKEN.into());
        defaults.insert("TWILIO_FROM", LOCAL_TWILIO_FROM.into());
        defaults.insert("TWILIO_API_URL", t.url.clone());
        Some(Arc::new(t))
    } else {
        None
    };
    // A sample shop's order API and the actions that ask it ("where is my order 5511?" from
    // +15551230001, or from the widget signed in as ann@example.com), unless a settings file is
    // named: the embedded settings plus the demo's [actions], written where the stack can read
    // them (docs/actions.md).
    let _shop = if std::env::var("CASEBRIDGE_CONFIG").is_err() {
        let shop = creatio_sandbox::shop::ShopStandIn::start(
            creatio_sandbox::shop::DEMO_TOKEN,
            creatio_sandbox::shop::sample_orders(),
        )
        .await?;
        let settings = std::env::temp_dir().join(format!("casebridge-local-{port}.toml"));
        std::fs::write(
            &settings,
            format!(
                "{}{}",
                casebridge::assistant::Settings::embedded_text(),
                creatio_sandbox::shop::demo_actions(
                    &shop.url,
                    &format!("Bearer {}", creatio_sandbox::shop::DEMO_TOKEN)
                )
            ),
        )?;
        eprintln!(
            "Sample shop order API on {} (actions in {})",
            shop.url,
            settings.display()
        );
        defaults.insert("CASEBRIDGE_CONFIG", settings.display().to_string());
        Some(shop)
    } else {
        None
    };
    let config = Config::from_source(&Layered(defaults))?;
    let store: Arc<dyn Store> = match (
        config.table_name.as_deref(),
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB"),
    ) {
        (Some(_), Ok(endpoint)) => {
            let client = casebridge::aws::local_dynamodb_client(&endpoint);
            let table = config.table_name()?;
            casebridge::store::dynamo::DynamoStore::create_table(&client, table).await?;
            Arc::new(casebridge::store::dynamo::DynamoStore::new(
                client,
                table,
                casebridge::store::Retention(config.retention),
            ))
        }
        _ => Arc::new(MemoryStore::new()),
    };
    let mut app = App::new(store, config);
    app.twilio = twilio;
    let app = Arc::new(app);
    for (what, problem) in [
        ("SMS routes", app.sms.as_ref().err()),
        ("widget routes", app.widget.as_ref().err()),
        ("Creatio webhook", app.reply.as_ref().err()),
        ("handoff sync", app.handoff.as_ref().err()),
    ] {
        if let Some(p) = problem {
            eprintln!("{what} disabled: {p}");
        }
    }
    spawn_sync(app.clone());
    // The articles are indexed before the stack says it is listening, and again every
    // KNOWLEDGE_SYNC_SECONDS, so an article added in the sandbox is answered within that.
    app.load_knowledge().await;
    let every = app.config.knowledge.sync_interval;
    let knowledge_app = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            knowledge_app.load_knowledge().await;
        }
    });
    eprintln!("casebridge local stack on {base}");
    eprintln!("  {base}/         demo page with the chat widget");
    eprintln!(
        "  {base}/console?token={}  cases in Creatio; reply as an agent (the token is new each run)",
        app.console_token
    );
    eprintln!(
        "  cargo run -p casebridge-local --bin send-sms -- +15551234567 \"hello\"   a signed test SMS"
    );
    tokio::select! {
        served = serve(listener, app) => served?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
