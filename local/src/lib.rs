//! The local stack: every route of every function on one port, calling the same handler
//! functions the Lambda binaries call, as API Gateway would (path and query parameters set the
//! way `lambda_http` exposes them).
//!
//! The store is in memory unless `TABLE_NAME` and `AWS_ENDPOINT_URL_DYNAMODB` are set. Widget
//! attachments are kept in memory and uploaded to `/local/uploads/…`, which holds uploads to the
//! rules a presigned S3 URL would (see `widget_inbound::attachment_store::MemoryAttachments`).

pub mod console;
pub mod sockets;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use casebridge::config::Config;
use casebridge::creatio::sync::SyncDeps;
use casebridge::replies::catchup;
use casebridge::replies::deliver::deliver;
use casebridge::routes::Route;
use casebridge::store::Store;
use lambda_http::RequestExt;
use widget_inbound::attachment_store::MemoryAttachments;

/// Largest request body the local stack passes on (API Gateway's own limit is 10 MB).
const MAX_BODY: usize = 10 * 1024 * 1024;

pub struct App {
    pub store: Arc<dyn Store>,
    pub config: Config,
    /// The SMS function's dependencies, or why they could not be built (say, no Twilio
    /// credentials): then the SMS routes answer 503 naming the missing variable.
    pub sms: Result<sms_inbound::Deps, String>,
    /// Likewise for the Creatio reply webhook (needs the Creatio settings and the webhook token).
    pub reply: Result<creatio_reply::Deps, String>,
    pub widget: Result<widget_inbound::Deps, String>,
    /// The handoff sync, run in-process in place of the DynamoDB stream.
    pub handoff: Result<SyncDeps, String>,
    /// The Twilio stand-in the local stack sends SMS to (when no real Twilio is configured).
    pub twilio: Option<Arc<creatio_sandbox::twilio::TwilioStandIn>>,
    /// Where widget attachments go locally (needs `PUBLIC_BASE_URL`, which the runner sets).
    pub uploads: Option<Arc<MemoryAttachments>>,
    /// What the console asks of every request: random per process, printed at start-up in the
    /// console's link ([`console`]).
    pub console_token: String,
    /// The widget's open sockets ([`sockets`]): the WebSocket API, locally.
    pub sockets: Arc<sockets::LocalSockets>,
    /// Wakes the in-process stream ([`spawn_sync`]) when the Creatio webhook queued a reply, as
    /// the table's stream hands a new record over at once.
    pub wake: Arc<tokio::sync::Notify>,
}

impl App {
    /// The assistants' articles, read now (the local stack reads its sources directly: the
    /// folder, and Creatio's knowledge base when `CASEBRIDGE_KNOWLEDGE_CREATIO=true`).
    pub async fn load_knowledge(&self) {
        let concierges = [
            self.sms.as_ref().ok().map(|d| &d.concierge),
            self.widget.as_ref().ok().map(|d| &d.concierge),
        ];
        for knowledge in concierges
            .into_iter()
            .flatten()
            .filter_map(|c| c.knowledge())
        {
            knowledge.index().await;
        }
    }

    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        let sms = sms_inbound::Deps::from_config(&config).map_err(|e| e.to_string());
        let reply = creatio_reply::Deps::from_config(&config).map_err(|e| e.to_string());
        let uploads = config
            .public_base_url
            .clone()
            .map(|base| Arc::new(MemoryAttachments::new(base)));
        let widget = widget_inbound::Deps::from_config(&config)
            .map(|d| match &uploads {
                Some(u) => d.with_attachments(u.clone()),
                None => d,
            })
            .map(|d| d.with_sockets(local_sockets(&config)))
            .map_err(|e| e.to_string());
        let handoff = SyncDeps::from_config(&config)
            .map(|mut d| {
                d.sockets = local_sockets(&config);
                d
            })
            .map_err(|e| e.to_string());
        Self {
            twilio: None,
            console_token: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            uploads,
            sockets: Default::default(),
            wake: Default::default(),
            handoff,
            store,
            config,
            sms,
            reply,
            widget,
        }
    }
}

/// The client the functions push with, when `WIDGET_SOCKET_URL` is set: the same signed posts
/// as in AWS, to this stack's own management endpoint ([`sockets`]).
fn local_sockets(config: &Config) -> Option<casebridge::widget::socket::Sockets> {
    let url = config.widget_socket.clone()?;
    let access = casebridge::aws::Access::local(url.as_str()).ok()?;
    Some(casebridge::widget::socket::Sockets::new(access, url))
}

#[derive(Clone, Copy)]
enum Function {
    SmsInbound,
    WidgetInbound,
    CreatioReply,
}

/// Sessions the in-process sync brings up to date at once (a stream with that many shards).
const SESSIONS_AT_ONCE: usize = 8;

/// What the DynamoDB stream and the schedule do in AWS, twice a second (less often when
/// reading the table takes long, see the end of the loop; at once when the Creatio webhook
/// queued a reply, [`App::wake`]): bring Creatio up to date
/// for every session it is behind on, deliver every queued rep reply in the outbox, run every
/// status check a `case_updated` webhook recorded, and, every
/// `CREATIO_CATCHUP_SECONDS`, ask Creatio for the replies and closed cases no process reported.
pub fn spawn_sync(app: Arc<App>) {
    tokio::spawn(async move {
        let Ok(deps) = &app.handoff else {
            return;
        };
        let store = app.store.as_ref();
        let mut next_catchup = tokio::time::Instant::now();
        // Sessions whose sync failed for good, with the last seq then: as the stream would, the
        // loop leaves them alone until something new arrives (`casebridge resync` replays them).
        let mut refused: std::collections::HashMap<casebridge::domain::SessionId, u64> =
            std::collections::HashMap::new();
        loop {
            let reads_started = tokio::time::Instant::now();
            let mut reading = std::time::Duration::ZERO;
            if let Ok(pending) = store.needing_sync().await {
                reading += reads_started.elapsed();
                // Several sessions at once, as a stream's shards run side by side; each
                // session by one task, so its messages still reach Creatio in order.
                let mut waiting = pending
                    .into_iter()
                    .filter(|s| refused.get(&s.id) != Some(&s.last_seq))
                    .collect::<Vec<_>>()
                    .into_iter();
                let mut running = tokio::task::JoinSet::new();
                loop {
                    while running.len() < SESSIONS_AT_ONCE {
                        let Some(s) = waiting.next() else { break };
                        let app = app.clone();
                        running.spawn(async move {
                            let deps = app.handoff.as_ref().ok()?;
                            let synced = casebridge::creatio::sync::sync_session(
                                app.store.as_ref(),
                                deps,
                                s.id,
                            )
                            .await;
                            Some((s.id, s.last_seq, synced))
                        });
                    }
                    let Some(joined) = running.join_next().await else {
                        break;
                    };
                    let Ok(Some((id, last_seq, synced))) = joined else {
                        continue;
                    };
                    match synced {
                        Ok(_) => {
                            refused.remove(&id);
                        }
                        Err(e) if e.is_transient() => {
                            tracing::warn!(session_id = %id, error = %e, "local sync failed; will retry");
                        }
                        Err(e) => {
                            tracing::error!(session_id = %id, error = %e, "local sync refused; recorded on the session");
                            refused.insert(id, last_seq);
                        }
                    }
                }
            }
            let read = tokio::time::Instant::now();
            let outbox = store.unfinished_outbox().await;
            reading += read.elapsed();
            if let Ok(outbox) = outbox {
                for e in outbox.into_iter().filter(|e| e.state.is_deliverable()) {
                    let now = jiff::Timestamp::now();
                    if let Err(err) = deliver(store, &deps.replies(), e.activity_id, now).await {
                        tracing::warn!(activity_id = %e.activity_id, error = %err, "local reply delivery failed; will retry");
                    }
                }
            }
            let read = tokio::time::Instant::now();
            let checks = store.unfinished_status_checks().await;
            reading += read.elapsed();
            if let Ok(checks) = checks {
                for c in checks {
                    let now = jiff::Timestamp::now();
                    if let Err(err) = casebridge::replies::closure::apply_status_check(
                        store,
                        &deps.replies(),
                        c.case_id,
                        now,
                    )
                    .await
                    {
                        tracing::warn!(case_id = %c.case_id, error = %err, "local status check failed");
                    }
                }
            }
            if let Some(interval) = app.config.catchup_interval
                && tokio::time::Instant::now() >= next_catchup
            {
                let now = jiff::Timestamp::now();
                if let Err(e) = catchup::poll(store, &deps.replies(), interval, now).await {
                    tracing::warn!(error = %e, "local catch-up failed; will retry");
                }
                next_catchup = tokio::time::Instant::now() + interval;
            }
            // Each round reads the whole table three times (these reads are scans on DynamoDB,
            // where the stream would hand over just the changes). Twice a second, or less often
            // when they take long, so that they never take more than about a third of the
            // store's time (a large table on moto, the soak).
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_millis(500).max(reading * 2)) => {}
                _ = app.wake.notified() => {}
            }
        }
    });
}

/// `GET /` (`?lang=es` for the widget in Spanish, and so on): a page with the widget embedded,
/// as a customer's site would embed it.
const DEMO_PAGE: &str = r#"<!doctype html><html lang="LANG"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>casebridge demo shop</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}</style></head>
<body><h1>Example Co</h1><p>This page embeds the casebridge chat widget with one script tag.
Open the chat at the bottom right, ask about returns or shipping, or ask for a person.</p>
<script src="/widget.js" data-title="Example Co support" data-suggestions="What is your return policy?|Where is my order 5511?" data-avatar="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 28 28'%3E%3Ccircle cx='14' cy='14' r='14' fill='%23f59e0b'/%3E%3C/svg%3E"GREETING async></script></body></html>"#;

#[derive(serde::Deserialize)]
struct DemoQuery {
    lang: Option<String>,
}

async fn demo_page(axum::extract::Query(q): axum::extract::Query<DemoQuery>) -> Response {
    // Only the five languages the widget speaks; anything else is English.
    let lang = q
        .lang
        .as_deref()
        .and_then(casebridge::domain::Language::parse)
        .map_or("en", |l| l.code());
    // The English page says its own greeting (data-greeting); the others take the settings'
    // greeting in their language.
    let greeting = if lang == "en" {
        r#" data-greeting="Hi! I'm Example Co's assistant. Ask about returns, shipping or your order (try order 5511).""#
    } else {
        ""
    };
    page(
        DEMO_PAGE
            .replace("LANG", lang)
            .replace("GREETING", greeting),
    )
}

/// An HTML answer with the headers every casebridge page carries
/// ([`casebridge::http::page_headers`]).
pub fn page(html: String) -> Response {
    let mut r = ([("content-type", "text/html; charset=utf-8")], html).into_response();
    casebridge::http::page_headers(r.headers_mut());
    r
}

/// Serves the stack on `listener`, with each connection's peer address, which the functions
/// see as API Gateway's `sourceIp` (the widget counts new conversations and handoffs by it).
pub async fn serve(listener: tokio::net::TcpListener, app: Arc<App>) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

pub fn router(app: Arc<App>) -> Router {
    let local = Router::new()
        .route("/", get(demo_page))
        .route("/console", get(console::page))
        .route("/console/reply", post(console::reply))
        .route("/console/resolve", post(console::resolve))
        .route("/widget/socket", get(sockets::connect))
        .route("/widget/socket/@connections/{id}", post(sockets::post))
        .route(
            "/local/uploads/{*key}",
            put(upload)
                .get(download)
                .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)),
        );
    let local = mount(local, Function::SmsInbound, sms_inbound::ROUTES);
    let local = mount(local, Function::WidgetInbound, widget_inbound::ROUTES);
    let local = mount(local, Function::CreatioReply, creatio_reply::ROUTES);
    local.with_state(app)
}

/// A function's route table, mounted as API Gateway mounts template.yaml's events: each route
/// invokes the function with the request and its path parameters.
fn mount<E: Copy + Send + Sync + 'static>(
    mut router: Router<Arc<App>>,
    function: Function,
    table: &'static [Route<E>],
) -> Router<Arc<App>> {
    let mut paths: Vec<&'static str> = Vec::new();
    for r in table {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut methods = axum::routing::MethodRouter::new();
        for r in table.iter().filter(|r| r.path == path) {
            let Ok(filter) = axum::routing::MethodFilter::try_from(r.method.clone()) else {
                continue;
            };
            methods = methods.on(
                filter,
                move |State(app): State<Arc<App>>,
                      params: Option<Path<HashMap<String, String>>>,
                      req: Request| async move {
                    let params = params.map(|Path(p)| p).unwrap_or_default();
                    invoke(&app, function, params, req).await
                },
            );
        }
        router = router.route(path, methods);
    }
    router
}

/// `PUT /local/uploads/{key}?ticket=…`: the local stand-in for a presigned S3 upload.
async fn upload(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    headers: http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(files) = &app.uploads else {
        return error(404, "attachments are not enabled");
    };
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ticket = q.get("ticket").map(String::as_str).unwrap_or("");
    match files.put(&key, ticket, content_type, body.to_vec()) {
        Ok(()) => http::StatusCode::OK.into_response(),
        Err(refusal) => error(refusal.status, refusal.reason),
    }
}

/// `GET /local/uploads/{key}?expires=…&sig=…`: where an attachment link redirects locally; like
/// a presigned `GET`, only with the signature and before it expires.
async fn download(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let Some(files) = &app.uploads else {
        return error(404, "attachments are not enabled");
    };
    let field = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    match files.get(&key, field("expires"), field("sig")) {
        Ok(f) => {
            let mut r = (
                [
                    ("content-type", f.content_type),
                    ("content-disposition", f.disposition),
                ],
                f.bytes,
            )
                .into_response();
            casebridge::http::page_headers(r.headers_mut());
            r
        }
        Err(refusal) => error(refusal.status, refusal.reason),
    }
}

/// Turns an HTTP request into the `lambda_http::Request` API Gateway would hand the function,
/// calls the function's handler, and turns its answer back.
async fn invoke(
    app: &App,
    function: Function,
    path_params: HashMap<String, String>,
    req: Request,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error(413, "request body too large"),
    };
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    // What API Gateway's HTTP API puts in the event: the peer as `sourceIp` (a client cannot
    // set it with a header).
    let mut context =
        lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext::default();
    context.http.method = parts.method.clone();
    context.http.path = Some(parts.uri.path().to_owned());
    context.http.source_ip = peer;
    let event = http::Request::from_parts(parts, lambda_http::Body::from(bytes.to_vec()))
        .with_query_string_parameters(query)
        .with_path_parameters(path_params)
        .with_request_context(lambda_http::request::RequestContext::ApiGatewayV2(context));
    let store = app.store.as_ref();
    let result = match function {
        Function::SmsInbound => match &app.sms {
            Ok(deps) => sms_inbound::handler(store, deps, event).await,
            Err(why) => return error(503, &format!("SMS is not configured: {why}")),
        },
        Function::WidgetInbound => match &app.widget {
            Ok(deps) => widget_inbound::handler(store, deps, event).await,
            Err(why) => return error(503, &format!("the widget is not configured: {why}")),
        },
        Function::CreatioReply => match &app.reply {
            Ok(deps) => {
                let answer = creatio_reply::handler(store, deps, event).await;
                app.wake.notify_one();
                answer
            }
            Err(why) => {
                return error(
                    503,
                    &format!("the Creatio webhook is not configured: {why}"),
                );
            }
        },
    };
    match result {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            let body = match body {
                lambda_http::Body::Empty => AxumBody::empty(),
                lambda_http::Body::Text(t) => AxumBody::from(t),
                lambda_http::Body::Binary(b) => AxumBody::from(b),
                _ => AxumBody::empty(),
            };
            Response::from_parts(parts, body)
        }
        Err(e) => {
            // What Lambda would do with a handler error: a 502 from API Gateway.
            tracing::error!(error = %e, "handler failed");
            error(502, "internal error")
        }
    }
}

pub(crate) fn error(status: u16, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

/// The development Twilio credentials of the local stack (its stand-in accepts them, and
/// `send-sms` signs with them).
pub const LOCAL_TWILIO_SID: &str = "AC00000000000000000000000000000000";
pub const LOCAL_TWILIO_TOKEN: &str = "local-development-twilio-token";
pub const LOCAL_TWILIO_FROM: &str = "+15550006666";
