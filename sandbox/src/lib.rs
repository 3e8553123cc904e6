//! A Creatio sandbox: HTTP servers on loopback that behave as a real Creatio 8.x does, for
//! casebridge's tests and its local stack. It is not part of any production code path. It must
//! refuse what Creatio refuses: a test that passes only because the stand-in is lenient proves
//! nothing.
//!
//! What it implements, and rejects, like Creatio (docs/creatio.md in the project lists the
//! sources):
//! - **Forms login** `POST /ServiceModel/AuthService.svc/Login`: 200 `Code 0` with `.ASPXAUTH`,
//!   `BPMCSRF`, `BPMLOADER`, `UserName` cookies; 200 `Code 1` for bad credentials, and without the
//!   `ForceUseSession: true` header. Every later request needs the session cookie (else 401) and
//!   the `BPMCSRF` header matching it (else 403). See `auth`.
//! - **OAuth 2.0** on a separate identity server ([`Sandbox::identity_url`], the `-is` host of
//!   Creatio cloud): `POST /connect/token` (client credentials, form fields or HTTP Basic); the
//!   instance itself has no token endpoint. `GET /0/.well-known/openid-configuration` names the
//!   token endpoint (Creatio 8.3+; off with `discovery: false`).
//! - **OData 4** at `/0/odata` (or `/odata` when `netcore`; the other root is a 404 HTML page):
//!   GET/POST/PATCH/DELETE on Case, Activity, Contact, ContactCommunication, Account and the
//!   seeded lookups; `$filter` (see `filter`), `$select`, `$orderby`, `$top`, `$skip`, and at most 20,000 rows an answer (more is a 500); client-supplied
//!   `Id`s. Refusals (see `data`, `schema`, `errors`): unknown columns and malformed bodies 400;
//!   a lookup naming no row, a text longer than its column, a required column left empty and a
//!   duplicate `Id` are HTTP 500 with the database's words (SQL Server or PostgreSQL, `dialect`)
//!   inside `innererror`; an unknown entity set 404 (ASP.NET's "No type was found") or 401
//!   (`unknown_entity`); a right the user lacks 403 (`denied`). Empty values read back as the
//!   zero GUID, `""`, `0001-01-01T00:00:00Z` and `false`. Saving a contact's phones and e-mail
//!   keeps `ContactCommunication` with its `SearchNumber`.
//! - **`$batch`** (JSON format, at most 100 sub-requests, stops at the first failure unless
//!   `Prefer: continue-on-error`); see `batch`.
//! - **Session expiry** after N requests or T seconds, shown as a 401, a redirect to the login
//!   page, or an HTML login page with 200, as Creatio does in its various versions.
//! - **Fault injection**: a fraction of OData requests (and batch sub-requests) answered 500/503,
//!   and added latency.
//! - A **log** of every request, so tests can count round trips and read what was written.
//!
//! [`twilio`] holds the matching stand-in for Twilio's Messages API.

mod auth;
mod batch;
mod data;
mod errors;
mod filter;
pub mod schema;
pub mod shop;
pub mod twilio;

pub use data::ROW_LIMIT;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use auth::ExpiryStyle;
pub use data::{Denied, UnknownEntity};
pub use errors::Dialect;
pub use schema::CustomColumn;

use errors::{html, json_response, odata_error};

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub netcore: bool,
    pub users: Vec<(String, String)>,
    pub oauth_clients: Vec<(String, String)>,
    pub token_lifetime: Duration,
    pub expire_after_requests: Option<u64>,
    pub expire_after: Option<Duration>,
    pub expiry_style: ExpiryStyle,
    /// Fraction (0..=1) of OData requests and batch sub-requests answered with `fault_status`.
    pub fault_rate: f64,
    pub fault_status: u16,
    pub latency: Option<Duration>,
    /// The status of a duplicate-`Id` refusal (Creatio surfaces the database's duplicate-key
    /// error; 500 on the instances seen).
    pub duplicate_status: u16,
    /// Whose words the data errors use.
    pub dialect: Dialect,
    /// Columns the installation added (`Usr…`).
    pub custom_columns: Vec<CustomColumn>,
    pub unknown_entity: UnknownEntity,
    /// Rights the integration user lacks.
    pub denied: Vec<Denied>,
    /// Whether `/0/.well-known/openid-configuration` is published (Creatio 8.3+).
    pub discovery: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            netcore: false,
            users: vec![("Supervisor".into(), "Supervisor".into())],
            oauth_clients: vec![("casebridge".into(), "casebridge-secret".into())],
            token_lifetime: Duration::from_secs(3600),
            expire_after_requests: None,
            expire_after: None,
            expiry_style: ExpiryStyle::Unauthorized,
            fault_rate: 0.0,
            fault_status: 503,
            latency: None,
            duplicate_status: 500,
            dialect: Dialect::SqlServer,
            custom_columns: Vec::new(),
            unknown_entity: UnknownEntity::NotFound,
            denied: Vec::new(),
            discovery: true,
        }
    }
}

/// One request as the sandbox saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// Sub-requests of a `$batch` (0 otherwise).
    pub sub_requests: usize,
}

/// The faults and latency a test turns on and off while running.
#[derive(Debug, Clone)]
pub(crate) struct Faults {
    pub fault_rate: f64,
    pub fault_status: u16,
    pub latency: Option<Duration>,
}

pub(crate) struct Inner {
    pub config: Faults,
    netcore: bool,
    discovery: bool,
    identity_url: String,
    auth: auth::Auth,
    tables: data::Tables,
    log: Vec<LoggedRequest>,
    /// Requests being answered now, the most at once, and how many were refused with 429.
    concurrency: Concurrency,
    /// [`Sandbox::fail_next_create`]: entities whose next create in a `$batch` answers this
    /// status.
    planned: Vec<(String, u16)>,
    /// [`Sandbox::hold_next_case`]: told the id of the next case created, and the answer of the
    /// request that created it waits for the release.
    hold: Option<(
        tokio::sync::oneshot::Sender<Uuid>,
        tokio::sync::oneshot::Receiver<()>,
    )>,
}

impl Inner {
    pub(crate) fn fault(&self) -> bool {
        self.config.fault_rate > 0.0 && fastrand::f64() < self.config.fault_rate
    }

    /// The status planned for this create, once ([`Sandbox::fail_next_create`]).
    pub(crate) fn planned_failure(&mut self, method: &str, entity: &str) -> Option<u16> {
        if !method.eq_ignore_ascii_case("POST") {
            return None;
        }
        let at = self.planned.iter().position(|(e, _)| e == entity)?;
        Some(self.planned.remove(at).1)
    }

    pub(crate) fn root(&self) -> &'static str {
        if self.netcore { "/odata" } else { "/0/odata" }
    }
}

/// The next case creation, caught between Creatio writing the case and answering the request
/// that created it: the moment a rep or an automation can already act on a case the client has
/// not heard of yet.
pub struct CaseHold {
    created: Option<tokio::sync::oneshot::Receiver<Uuid>>,
    release: tokio::sync::oneshot::Sender<()>,
}

impl CaseHold {
    /// Waits until the case exists (its answer is still held); its id.
    pub async fn created(&mut self) -> Option<Uuid> {
        self.created.take()?.await.ok()
    }

    /// Lets the held answer go.
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Mutex<Inner>>,
    /// The instance, e.g. `http://127.0.0.1:40123` (what `CREATIO_URL` names).
    pub url: String,
    pub addr: SocketAddr,
    /// The identity server, a host of its own (what `CREATIO_IDENTITY_URL` names).
    pub identity_url: String,
}

type Shared = Arc<Mutex<Inner>>;

/// How many OData requests the instance answers at once ([`Sandbox::limit_concurrency`]).
#[derive(Default)]
struct Concurrency {
    limit: Option<usize>,
    in_flight: usize,
    peak: usize,
    throttled: usize,
}

/// One request being answered; counted out when its answer is made.
struct InFlight(Shared);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut inner = lock(&self.0);
        inner.concurrency.in_flight = inner.concurrency.in_flight.saturating_sub(1);
    }
}

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sandbox {
    /// Starts the sandbox on free loopback ports.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        Self::start_on(config, 0).await
    }

    pub async fn start_on(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let identity = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let identity_url = format!("http://{}", identity.local_addr()?);
        let mut auth = auth::Auth::new(
            config.users.clone(),
            config.oauth_clients.clone(),
            config.token_lifetime,
            config.netcore,
        );
        auth.expire_after_requests = config.expire_after_requests;
        auth.expire_after = config.expire_after;
        auth.expiry_style = config.expiry_style;
        let inner = Arc::new(Mutex::new(Inner {
            config: Faults {
                fault_rate: config.fault_rate,
                fault_status: config.fault_status,
                latency: config.latency,
            },
            netcore: config.netcore,
            discovery: config.discovery,
            identity_url: identity_url.clone(),
            auth,
            tables: data::Tables::new(
                config.custom_columns.clone(),
                config.dialect,
                config.duplicate_status,
                config.unknown_entity,
                config.denied.clone(),
            ),
            log: Vec::new(),
            concurrency: Concurrency::default(),
            planned: Vec::new(),
            hold: None,
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state((inner.clone(), Host::Instance));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let id_app = axum::Router::new()
            .fallback(handle)
            .with_state((inner.clone(), Host::Identity));
        tokio::spawn(async move {
            let _ = axum::serve(identity, id_app).await;
        });
        Ok(Sandbox {
            inner,
            url: format!("http://{addr}"),
            addr,
            identity_url,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Every request so far (the identity server's too).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// Requests so far that were not sign-ins (login, token, discovery).
    pub fn api_requests(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| {
                !r.path.contains("AuthService")
                    && !r.path.ends_with("/connect/token")
                    && !r.path.ends_with("/openid-configuration")
            })
            .count()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// All records of an entity, in id order, as stored (`null` for an empty value).
    pub fn records(&self, entity: &str) -> Vec<Map<String, Value>> {
        self.lock()
            .tables
            .rows
            .get(entity)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn record(&self, entity: &str, id: Uuid) -> Option<Map<String, Value>> {
        self.lock().tables.rows.get(entity)?.get(&id).cloned()
    }

    /// Writes a record directly, as a Creatio user would (a known contact, a rep's activity);
    /// columns not given are empty, and a contact's phones and e-mail reach
    /// `ContactCommunication` as Creatio's own save puts them there.
    pub fn insert(&self, entity: &str, record: Map<String, Value>) -> Uuid {
        self.lock().tables.insert_direct(entity, record)
    }

    /// A record deleted directly, as a Creatio user would; whether it was there.
    pub fn remove(&self, entity: &str, id: Uuid) -> bool {
        self.lock()
            .tables
            .rows
            .get_mut(entity)
            .is_some_and(|t| t.remove(&id).is_some())
    }

    /// Holds the answer of the request that creates the next case (see [`CaseHold`]).
    pub fn hold_next_case(&self) -> CaseHold {
        let (created_tx, created) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel();
        self.lock().hold = Some((created_tx, release_rx));
        CaseHold {
            created: Some(created),
            release,
        }
    }

    /// Answers at most `n` requests at once and 429 (`Retry-After: 1`) above that; None lifts
    /// the limit. The peak and the refusals are counted from now.
    pub fn limit_concurrency(&self, n: Option<usize>) {
        let mut inner = self.lock();
        inner.concurrency.limit = n;
        inner.concurrency.peak = inner.concurrency.in_flight;
        inner.concurrency.throttled = 0;
    }

    /// The most requests answered at once, and how many were refused as over the limit.
    pub fn concurrency(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.concurrency.peak, inner.concurrency.throttled)
    }

    /// Takes away a right of the integration user: `op` is `GET`, `POST`, `PATCH` or `DELETE`.
    pub fn deny(&self, entity: &str, op: &str) {
        self.lock().tables.denied.push(Denied {
            entity: entity.into(),
            op: op.into(),
        });
    }

    /// An activity on `case` as Creatio stores it when a person adds one (the given columns
    /// set, `CreatedOn` now), without calling any webhook. Returns its id.
    pub fn add_activity(&self, case: Uuid, fields: Value) -> Uuid {
        let mut row = match fields {
            Value::Object(f) => f,
            _ => Map::new(),
        };
        row.insert("CaseId".into(), json!(case));
        row.remove("Id");
        self.insert("Activity", row)
    }

    /// A rep's e-mail reply from the case page: type Email, direction Outgoing, an HTML body,
    /// sent from the support mailbox.
    pub fn rep_email(&self, case: Uuid, html: &str) -> Uuid {
        self.add_activity(
            case,
            json!({
                "Title": "RE: your case",
                "Body": html,
                "IsHtmlBody": true,
                "IsAutoSubmitted": false,
                "TypeId": schema::ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": schema::EMAIL_TYPE_OUTGOING,
                "ActivityCategoryId": schema::ACTIVITY_CATEGORY_EMAIL,
                "Sender": "Support <support@example.com>",
                "Recepient": "customer@example.com",
            }),
        )
    }

    /// The customer's own e-mail, received into the case: direction Incoming.
    pub fn customer_email(&self, case: Uuid, html: &str) -> Uuid {
        self.add_activity(
            case,
            json!({
                "Title": "Where is my order?",
                "Body": html,
                "IsHtmlBody": true,
                "TypeId": schema::ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": schema::EMAIL_TYPE_INCOMING,
                "ActivityCategoryId": schema::ACTIVITY_CATEGORY_EMAIL,
                "Sender": "customer@example.com",
            }),
        )
    }

    /// Creatio's own notification e-mail on a case (a case-registration notice): outgoing, but
    /// marked as automatic the way Creatio marks it.
    pub fn notification_email(&self, case: Uuid) -> Uuid {
        self.add_activity(
            case,
            json!({
                "Title": "Your case has been registered",
                "Body": "<p>We have received your request.</p>",
                "IsHtmlBody": true,
                "IsAutoSubmitted": true,
                "HeaderProperties": "[{\"Name\":\"Auto-Submitted\",\"Value\":\"auto-replied\"}]",
                "TypeId": schema::ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": schema::EMAIL_TYPE_OUTGOING,
                "ActivityCategoryId": schema::ACTIVITY_CATEGORY_EMAIL,
                "Sender": "Support <support@example.com>",
            }),
        )
    }

    /// A task a rep adds to the case (an internal to-do).
    pub fn rep_task(&self, case: Uuid, title: &str) -> Uuid {
        self.add_activity(
            case,
            json!({
                "Title": title,
                "TypeId": schema::ACTIVITY_TYPE_TASK,
                "ActivityCategoryId": schema::ACTIVITY_CATEGORY_TODO,
                "IsHtmlBody": false,
            }),
        )
    }

    /// Changes the injected faults while running.
    /// The next create of `entity` in a `$batch` answers `status` (a 503, say) and writes
    /// nothing; the sub-requests after it run as usual.
    pub fn fail_next_create(&self, entity: &str, status: u16) {
        self.lock().planned.push((entity.to_owned(), status));
    }

    pub fn set_faults(&self, rate: f64, status: u16, latency: Option<Duration>) {
        let mut inner = self.lock();
        inner.config.fault_rate = rate;
        inner.config.fault_status = status;
        inner.config.latency = latency;
    }

    pub fn set_expiry(&self, after_requests: Option<u64>, style: ExpiryStyle) {
        let mut inner = self.lock();
        inner.auth.expire_after_requests = after_requests;
        inner.auth.expiry_style = style;
    }

    /// Ends every session and token now.
    pub fn expire_all(&self) {
        self.lock().auth.expire_all();
    }

    /// Gives every forms session a new CSRF token server-side, so the one clients hold is stale.
    pub fn rotate_csrf(&self) {
        self.lock().auth.rotate_csrf();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Instance,
    Identity,
}

async fn handle(
    State((state, host)): State<(Shared, Host)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // It listens on loopback only, and answers loopback names only: a page that points another
    // name at 127.0.0.1 (DNS rebinding) cannot drive it from a browser (as the local console).
    let loopback = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        })
        .is_some_and(|name| matches!(name, "127.0.0.1" | "localhost" | "[::1]"));
    if !loopback {
        return errors::html(403, "<html><body>Forbidden: unknown host</body></html>");
    }
    // Above its concurrency limit the instance answers 429 with a Retry-After, as a throttling
    // proxy in front of a cloud instance does.
    let _in_flight = if host == Host::Instance {
        let mut inner = lock(&state);
        let c = &mut inner.concurrency;
        if c.limit.is_some_and(|n| c.in_flight >= n) {
            c.throttled += 1;
            let mut r = odata_error(429, "Too many requests");
            r.headers_mut()
                .insert("retry-after", http::HeaderValue::from_static("1"));
            return r;
        }
        c.in_flight += 1;
        c.peak = c.peak.max(c.in_flight);
        drop(inner);
        Some(InFlight(state.clone()))
    } else {
        None
    };
    let latency = lock(&state).config.latency;
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let base = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| format!("http://{h}"))
        .unwrap_or_default();
    let mut sub_requests = 0;
    let resp = {
        let mut inner = lock(&state);
        match host {
            Host::Instance => route(
                &mut inner,
                &method,
                &path,
                &query,
                &headers,
                &body,
                &base,
                &mut sub_requests,
            ),
            Host::Identity => identity(&mut inner, &method, &path, &headers, &body),
        }
    };
    let held = {
        let mut inner = lock(&state);
        match inner.tables.case_created.take() {
            Some(id) => inner.hold.take().map(|h| (id, h)),
            None => None,
        }
    };
    if let Some((id, (created, release))) = held {
        let _ = created.send(id);
        let _ = release.await;
    }
    lock(&state).log.push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        status: resp.status().as_u16(),
        sub_requests,
    });
    resp
}

/// The identity server: the token endpoint and its discovery document.
fn identity(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match (method.as_str(), path) {
        ("POST", "/connect/token") => inner.auth.token(headers, body),
        ("GET", "/.well-known/openid-configuration") => discovery_document(&inner.identity_url),
        _ => html(404, "<html><body><h1>Not Found</h1></body></html>"),
    }
}

fn discovery_document(identity: &str) -> Response {
    json_response(
        200,
        json!({
            "issuer": identity,
            "token_endpoint": format!("{identity}/connect/token"),
            "grant_types_supported": ["client_credentials"],
        }),
    )
}

#[allow(clippy::too_many_arguments)]
fn route(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    base: &str,
    sub_requests: &mut usize,
) -> Response {
    if path == "/ServiceModel/AuthService.svc/Login" && method == Method::POST {
        return inner.auth.login(headers, body);
    }
    if path == "/0/.well-known/openid-configuration" && method == Method::GET && inner.discovery {
        return discovery_document(&inner.identity_url);
    }
    let root = inner.root();
    let Some(rest) = path.strip_prefix(root) else {
        return html(
            404,
            "<html><body><h1>404 - File or directory not found.</h1></body></html>",
        );
    };
    if let Some(resp) = inner.auth.authenticate(headers) {
        return resp;
    }
    if inner.fault() {
        let status = inner.config.fault_status;
        return odata_error(status, "Service temporarily unavailable (injected)");
    }
    let rest = rest.trim_start_matches('/');
    if rest == "$batch" && method == Method::POST {
        let continue_on_error = headers
            .get("prefer")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("continue-on-error"));
        return inner.batch(body, continue_on_error, sub_requests, base);
    }
    let q = auth::parse_form(query);
    let url = format!("{base}{path}");
    inner.tables.odata(method.as_str(), rest, &q, body, &url)
}
