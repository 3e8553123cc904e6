//! A Creatio sandbox: an HTTP server on loopback that behaves as the documented Creatio APIs do
//! (../shared/reference/creatio-api.md), for casebridge's tests and its local stack. It is not part
//! of any production code path.
//!
//! What it implements, and rejects, like Creatio:
//! - `POST /ServiceModel/AuthService.svc/Login`: 200 `Code 0` with `.ASPXAUTH`, `BPMCSRF`,
//!   `BPMLOADER`, `UserName` cookies, or 200 `Code 1` for bad credentials. Every later request
//!   needs the session cookie (else 401) and the `BPMCSRF` header matching its cookie (else 403).
//! - `POST /connect/token` (client credentials, form fields or HTTP Basic) → bearer token with
//!   `expires_in`; `invalid_client` 400 otherwise.
//! - OData 4 at `/0/odata` (or `/odata` when `netcore`; the other root is a 404 HTML page):
//!   GET/POST/PATCH on Case, Activity, Contact and the seeded lookup tables; `$filter` (eq/ne,
//!   and/or, navigation paths), `$select`, `$top`; client-supplied `Id`s; duplicate `Id` refused;
//!   unknown entities 404, unknown columns and malformed bodies 400, all with the OData error
//!   envelope; `$batch` (JSON format, at most 100 sub-requests, stops at the first failure unless
//!   `Prefer: continue-on-error`).
//! - Session expiry after N requests or T seconds, shown as a 401, a redirect to the login page,
//!   or an HTML login page with 200, as Creatio does in its various versions.
//! - Fault injection: a fraction of OData requests (and batch sub-requests) answered 500/503, and
//!   added latency.
//! - A log of every request, so tests can count round trips and read what was written.
//!
//! [`twilio`] holds the matching stand-in for Twilio's Messages API.

mod filter;
pub mod twilio;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// How an expired session shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryStyle {
    Unauthorized,
    RedirectToLogin,
    HtmlLoginPage,
}

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
    /// How a duplicate `Id` is refused (Creatio surfaces the database's duplicate-key error).
    pub duplicate_status: u16,
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

struct Session {
    csrf: String,
    started: Instant,
    requests: u64,
}

struct Token {
    expires: Instant,
    started: Instant,
    requests: u64,
}

struct Inner {
    config: SandboxConfig,
    /// entity → id → record
    tables: BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>>,
    sessions: HashMap<String, Session>,
    tokens: HashMap<String, Token>,
    log: Vec<LoggedRequest>,
    case_counter: u64,
    /// [`Sandbox::hold_next_case`]: told the id of the next case created, and the answer of the
    /// request that created it waits for the release.
    hold: Option<(
        tokio::sync::oneshot::Sender<Uuid>,
        tokio::sync::oneshot::Receiver<()>,
    )>,
    held: Option<Uuid>,
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
    pub url: String,
    pub addr: SocketAddr,
}

/// Column lists per entity (OData names). Lookup columns are written and read as `<Name>Id`.
fn schema(entity: &str) -> Option<&'static [&'static str]> {
    Some(match entity {
        "Case" => &[
            "Id",
            "Subject",
            "Symptoms",
            "ContactId",
            "AccountId",
            "OwnerId",
            "GroupId",
            "StatusId",
            "PriorityId",
            "OriginId",
            "CategoryId",
            "Number",
            "RegisteredOn",
            "Notes",
            "Solution",
            "ClosureDate",
            "CreatedOn",
            "ModifiedOn",
            "CreatedById",
            "ModifiedById",
        ],
        "Activity" => &[
            "Id",
            "Title",
            "TypeId",
            "ActivityCategoryId",
            "StatusId",
            "StartDate",
            "DueDate",
            "DetailedResult",
            "Notes",
            "Body",
            "OwnerId",
            "AuthorId",
            "ContactId",
            "CaseId",
            "Sender",
            "Recepient",
            "MessageTypeId",
            "IsHtmlBody",
            "IsAutoSubmitted",
            "HeaderProperties",
            "SendDate",
            "CreatedOn",
            "ModifiedOn",
            "CreatedById",
            "ModifiedById",
        ],
        "Contact" => &[
            "Id",
            "Name",
            "MobilePhone",
            "Phone",
            "Email",
            "AccountId",
            "CreatedOn",
            "ModifiedOn",
            "CreatedById",
            "ModifiedById",
        ],
        "CaseStatus" | "CaseOrigin" | "CasePriority" | "ActivityType" | "ActivityStatus"
        | "ActivityCategory" | "CaseCategory" | "EmailType" => &["Id", "Name", "Description"],
        _ => return None,
    })
}

const ACTIVITY_TYPE_EMAIL: &str = "e2831dec-cfc0-df11-b00f-001d60e938c6";
const ACTIVITY_TYPE_TASK: &str = "fbe0acdc-cfc0-df11-b00f-001d60e938c6";
const ACTIVITY_CATEGORY_EMAIL: &str = "8038a396-7825-e011-8165-00155d043204";
const ACTIVITY_CATEGORY_TODO: &str = "f51c4643-58e6-df11-971b-001d60e938c6";
const EMAIL_TYPE_OUTGOING: &str = "7f6d3f94-f36b-1410-068c-20cf30b39373";
const EMAIL_TYPE_INCOMING: &str = "7f9d1f86-f36b-1410-068c-20cf30b39373";

/// Columns of type `Edm.DateTimeOffset`.
fn is_date_column(column: &str) -> bool {
    matches!(
        column,
        "CreatedOn"
            | "ModifiedOn"
            | "StartDate"
            | "DueDate"
            | "RegisteredOn"
            | "ClosureDate"
            | "SendDate"
    )
}

/// Now as Creatio renders a date: UTC, at most six fractional digits (trailing zeros dropped).
fn now_text() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Microsecond)
        .unwrap_or(now)
        .to_string()
}

/// Base lookup rows of a Creatio 8.x install (reference/creatio-api.md).
const SEED: &[(&str, &str, &str)] = &[
    ("CaseStatus", "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38", "New"),
    (
        "CaseStatus",
        "7e9f1204-f46b-1410-fb9a-0050ba5d6c38",
        "In progress",
    ),
    (
        "CaseStatus",
        "3859c6e7-cbcb-486b-ba53-77808fe6e593",
        "Waiting for response",
    ),
    (
        "CaseStatus",
        "ae7f411e-f46b-1410-009b-0050ba5d6c38",
        "Resolved",
    ),
    (
        "CaseStatus",
        "3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
        "Closed",
    ),
    (
        "CaseStatus",
        "6e5f4218-f46b-1410-fe9a-0050ba5d6c38",
        "Canceled",
    ),
    (
        "CaseStatus",
        "f063ebbe-fdc6-4982-8431-d8cfa52fedcf",
        "Reopened",
    ),
    ("CaseOrigin", "5e5e202a-f46b-1410-3692-0050ba5d6c38", "Call"),
    ("CaseOrigin", "019259af-ec9c-4c87-9565-3c00700c7875", "Chat"),
    (
        "CaseOrigin",
        "7f9e1f1e-f46b-1410-3492-0050ba5d6c38",
        "Email",
    ),
    (
        "CaseOrigin",
        "debf4124-f46b-1410-3592-0050ba5d6c38",
        "Portal",
    ),
    ("CaseOrigin", "d38a1692-5a83-4253-a592-7d19fe00593c", "Site"),
    (
        "CasePriority",
        "afb33208-f46b-1410-ec8c-0050ba5d6c38",
        "Critical",
    ),
    (
        "CasePriority",
        "8b700f24-f46b-1410-ee8c-0050ba5d6c38",
        "High",
    ),
    (
        "CasePriority",
        "d9bd322c-f46b-1410-ee8c-0050ba5d6c38",
        "Medium",
    ),
    (
        "CasePriority",
        "cbb93036-f46b-1410-ef8c-0050ba5d6c38",
        "Low",
    ),
    (
        "ActivityType",
        "fbe0acdc-cfc0-df11-b00f-001d60e938c6",
        "Task",
    ),
    (
        "ActivityType",
        "e2831dec-cfc0-df11-b00f-001d60e938c6",
        "Email",
    ),
    (
        "ActivityType",
        "e1831dec-cfc0-df11-b00f-001d60e938c6",
        "Call",
    ),
    (
        "ActivityStatus",
        "384d4b84-58e6-df11-971b-001d60e938c6",
        "Not started",
    ),
    (
        "ActivityStatus",
        "394d4b84-58e6-df11-971b-001d60e938c6",
        "In progress",
    ),
    (
        "ActivityStatus",
        "4bdbb88f-58e6-df11-971b-001d60e938c6",
        "Completed",
    ),
    (
        "ActivityStatus",
        "201cfba8-58e6-df11-971b-001d60e938c6",
        "Canceled",
    ),
    (
        "ActivityCategory",
        "f51c4643-58e6-df11-971b-001d60e938c6",
        "To do",
    ),
    (
        "ActivityCategory",
        "8038a396-7825-e011-8165-00155d043204",
        "Email",
    ),
    (
        "ActivityCategory",
        "e52bd583-7825-e011-8165-00155d043204",
        "Call",
    ),
    ("EmailType", EMAIL_TYPE_OUTGOING, "Outgoing"),
    ("EmailType", EMAIL_TYPE_INCOMING, "Incoming"),
];

impl Sandbox {
    /// Starts the sandbox on a free loopback port.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Sandbox> {
        Self::start_on(config, 0).await
    }

    pub async fn start_on(config: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let mut tables: BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>> = BTreeMap::new();
        for entity in ["Case", "Activity", "Contact", "CaseCategory"] {
            tables.insert(entity.into(), BTreeMap::new());
        }
        for (entity, id, name) in SEED {
            let id = Uuid::parse_str(id).expect("seed GUIDs are valid");
            let mut row = Map::new();
            row.insert("Id".into(), json!(id));
            row.insert("Name".into(), json!(name));
            row.insert("Description".into(), json!(""));
            tables.entry((*entity).into()).or_default().insert(id, row);
        }
        let inner = Arc::new(Mutex::new(Inner {
            config,
            tables,
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            log: Vec::new(),
            case_counter: 0,
            hold: None,
            held: None,
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Sandbox {
            inner,
            url: format!("http://{addr}"),
            addr,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// Requests so far that were not sign-ins (login, token).
    pub fn api_requests(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| !r.path.contains("AuthService") && !r.path.ends_with("/connect/token"))
            .count()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// All records of an entity, in id order.
    pub fn records(&self, entity: &str) -> Vec<Map<String, Value>> {
        self.lock()
            .tables
            .get(entity)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn record(&self, entity: &str, id: Uuid) -> Option<Map<String, Value>> {
        self.lock().tables.get(entity)?.get(&id).cloned()
    }

    /// Writes a record directly, as a Creatio user would (e.g. a rep's reply, a known contact).
    pub fn insert(&self, entity: &str, mut record: Map<String, Value>) -> Uuid {
        let id = record
            .get("Id")
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(Uuid::new_v4);
        record.insert("Id".into(), json!(id));
        self.lock()
            .tables
            .entry(entity.into())
            .or_default()
            .insert(id, record);
        id
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

    /// An activity on `case` as Creatio stores it when a person adds one (every column, the
    /// given ones set, `CreatedOn` now), without calling any webhook. Returns its id.
    pub fn add_activity(&self, case: Uuid, fields: Value) -> Uuid {
        let id = Uuid::new_v4();
        let mut row = Map::new();
        for c in schema("Activity").unwrap_or(&[]) {
            row.insert((*c).into(), Value::Null);
        }
        if let Value::Object(f) = fields {
            row.extend(f);
        }
        let now = now_text();
        row.insert("Id".into(), json!(id));
        row.insert("CaseId".into(), json!(case));
        row.insert("CreatedOn".into(), json!(now));
        row.insert("ModifiedOn".into(), json!(now));
        self.lock()
            .tables
            .entry("Activity".into())
            .or_default()
            .insert(id, row);
        id
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
                "TypeId": ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": EMAIL_TYPE_OUTGOING,
                "ActivityCategoryId": ACTIVITY_CATEGORY_EMAIL,
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
                "TypeId": ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": EMAIL_TYPE_INCOMING,
                "ActivityCategoryId": ACTIVITY_CATEGORY_EMAIL,
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
                "TypeId": ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": EMAIL_TYPE_OUTGOING,
                "ActivityCategoryId": ACTIVITY_CATEGORY_EMAIL,
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
                "TypeId": ACTIVITY_TYPE_TASK,
                "ActivityCategoryId": ACTIVITY_CATEGORY_TODO,
                "IsHtmlBody": false,
            }),
        )
    }

    /// Changes the injected faults while running.
    pub fn set_faults(&self, rate: f64, status: u16, latency: Option<Duration>) {
        let mut inner = self.lock();
        inner.config.fault_rate = rate;
        inner.config.fault_status = status;
        inner.config.latency = latency;
    }

    pub fn set_expiry(&self, after_requests: Option<u64>, style: ExpiryStyle) {
        let mut inner = self.lock();
        inner.config.expire_after_requests = after_requests;
        inner.config.expiry_style = style;
    }

    /// Ends every session and token now.
    pub fn expire_all(&self) {
        let mut inner = self.lock();
        inner.sessions.clear();
        inner.tokens.clear();
    }

    /// Gives every forms session a new CSRF token server-side, so the one clients hold is stale.
    pub fn rotate_csrf(&self) {
        for s in self.lock().sessions.values_mut() {
            s.csrf = Uuid::new_v4().simple().to_string();
        }
    }
}

type Shared = Arc<Mutex<Inner>>;

fn lock(s: &Shared) -> MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn odata_error(status: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json; odata.metadata=minimal")],
        json!({"error": {"code": "", "message": message}}).to_string(),
    )
        .into_response()
}

fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "application/json; odata.metadata=minimal")],
        body.to_string(),
    )
        .into_response()
}

fn html(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "text/html; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = lock(&state).config.latency;
    if let Some(d) = latency {
        tokio::time::sleep(d).await;
    }
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let mut sub_requests = 0;
    let resp = route(
        &state,
        &method,
        &path,
        &query,
        &headers,
        &body,
        &mut sub_requests,
    );
    let held = {
        let mut inner = lock(&state);
        match inner.held.take() {
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

fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    sub_requests: &mut usize,
) -> Response {
    let mut inner = lock(state);
    if path == "/ServiceModel/AuthService.svc/Login" && method == Method::POST {
        return inner.login(body);
    }
    if path == "/connect/token" && method == Method::POST {
        return inner.token(headers, body);
    }
    let root = if inner.config.netcore {
        "/odata"
    } else {
        "/0/odata"
    };
    let Some(rest) = path.strip_prefix(root) else {
        return html(
            404,
            "<html><body><h1>404 - File or directory not found.</h1></body></html>",
        );
    };
    if let Some(resp) = inner.authenticate(headers) {
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
        return inner.batch(body, continue_on_error, sub_requests);
    }
    let q = parse_query(query);
    inner.odata(method.as_str(), rest, &q, body)
}

fn parse_query(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl Inner {
    fn fault(&self) -> bool {
        self.config.fault_rate > 0.0 && fastrand::f64() < self.config.fault_rate
    }

    fn login(&mut self, body: &[u8]) -> Response {
        #[derive(serde::Deserialize)]
        struct Login {
            #[serde(rename = "UserName")]
            user: String,
            #[serde(rename = "UserPassword")]
            password: String,
        }
        let Ok(login) = serde_json::from_slice::<Login>(body) else {
            return json_response(
                200,
                json!({"Code": 1, "Message": "Invalid request", "Exception": null, "PasswordChangeUrl": null, "RedirectUrl": null}),
            );
        };
        if !self
            .config
            .users
            .iter()
            .any(|(u, p)| *u == login.user && *p == login.password)
        {
            return json_response(
                200,
                json!({"Code": 1, "Message": "Either user name or password is specified incorrectly or user does not exist", "Exception": null, "PasswordChangeUrl": null, "RedirectUrl": null}),
            );
        }
        let auth = Uuid::new_v4().simple().to_string();
        let csrf = Uuid::new_v4().simple().to_string();
        self.sessions.insert(
            auth.clone(),
            Session {
                csrf: csrf.clone(),
                started: Instant::now(),
                requests: 0,
            },
        );
        let mut resp = json_response(
            200,
            json!({"Code": 0, "Message": "", "Exception": null, "PasswordChangeUrl": null, "RedirectUrl": null}),
        );
        let h = resp.headers_mut();
        for c in [
            format!(".ASPXAUTH={auth}; path=/; HttpOnly"),
            format!("BPMCSRF={csrf}; path=/"),
            "BPMLOADER=loader; path=/; HttpOnly".to_owned(),
            format!("UserName={}; path=/", login.user),
        ] {
            if let Ok(v) = c.parse() {
                h.append("set-cookie", v);
            }
        }
        resp
    }

    fn token(&mut self, headers: &HeaderMap, body: &[u8]) -> Response {
        let form = parse_query(std::str::from_utf8(body).unwrap_or(""));
        let (mut id, mut secret) = (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        );
        if let Some(basic) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            && let Some(decoded) = base64_decode(basic)
            && let Some((i, s)) = decoded.split_once(':')
        {
            id = Some(i.to_owned());
            secret = Some(s.to_owned());
        }
        if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
            return json_response(400, json!({"error": "unsupported_grant_type"}));
        }
        let ok = match (id, secret) {
            (Some(i), Some(s)) => self
                .config
                .oauth_clients
                .iter()
                .any(|(ci, cs)| *ci == i && *cs == s),
            _ => false,
        };
        if !ok {
            return json_response(400, json!({"error": "invalid_client"}));
        }
        let token = Uuid::new_v4().simple().to_string();
        self.tokens.insert(
            token.clone(),
            Token {
                expires: Instant::now() + self.config.token_lifetime,
                started: Instant::now(),
                requests: 0,
            },
        );
        json_response(
            200,
            json!({"access_token": token, "token_type": "Bearer", "expires_in": self.config.token_lifetime.as_secs(), "scope": "ApplicationAccess_casebridge"}),
        )
    }

    /// None when the request may proceed; otherwise the answer Creatio would give.
    fn authenticate(&mut self, headers: &HeaderMap) -> Option<Response> {
        let expired = |c: &SandboxConfig, started: Instant, requests: u64| {
            c.expire_after_requests.is_some_and(|n| requests >= n)
                || c.expire_after.is_some_and(|d| started.elapsed() >= d)
        };
        if let Some(bearer) = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            let config = self.config.clone();
            return match self.tokens.get_mut(bearer) {
                Some(t)
                    if Instant::now() < t.expires && !expired(&config, t.started, t.requests) =>
                {
                    t.requests += 1;
                    None
                }
                Some(_) => {
                    self.tokens.remove(bearer);
                    Some(odata_error(401, "Unauthorized"))
                }
                None => Some(odata_error(401, "Unauthorized")),
            };
        }
        let Some(auth) = cookie(headers, ".ASPXAUTH") else {
            return Some(self.expired_answer());
        };
        let config = self.config.clone();
        let Some(session) = self.sessions.get_mut(&auth) else {
            return Some(self.expired_answer());
        };
        if expired(&config, session.started, session.requests) {
            self.sessions.remove(&auth);
            return Some(self.expired_answer());
        }
        let header = headers.get("bpmcsrf").and_then(|v| v.to_str().ok());
        if header != Some(session.csrf.as_str()) {
            return Some(odata_error(
                403,
                "Forbidden: the BPMCSRF token is missing or invalid",
            ));
        }
        session.requests += 1;
        None
    }

    fn expired_answer(&self) -> Response {
        let login = if self.config.netcore {
            "/Login/Login.html"
        } else {
            "/Login/NuiLogin.aspx"
        };
        match self.config.expiry_style {
            ExpiryStyle::Unauthorized => odata_error(401, "Unauthorized"),
            ExpiryStyle::RedirectToLogin => (
                StatusCode::FOUND,
                [("location", format!("{login}?ReturnUrl=%2f0%2fodata"))],
                "",
            )
                .into_response(),
            ExpiryStyle::HtmlLoginPage => html(
                200,
                "<!DOCTYPE html><html><head><title>Creatio</title></head><body><form id=\"login\"></form></body></html>",
            ),
        }
    }

    /// One OData operation on `rest` (`Entity` or `Entity(guid)`), relative to the root.
    fn odata(
        &mut self,
        method: &str,
        rest: &str,
        q: &HashMap<String, String>,
        body: &[u8],
    ) -> Response {
        let (entity, key) = match rest.split_once('(') {
            Some((e, k)) => match k
                .strip_suffix(')')
                .and_then(|k| Uuid::try_parse(k.trim_matches('\'')).ok())
            {
                Some(id) => (e, Some(id)),
                None => {
                    return odata_error(
                        400,
                        &format!("Bad Request - Error in query syntax: {rest}"),
                    );
                }
            },
            None => (rest, None),
        };
        let Some(columns) = schema(entity) else {
            return odata_error(
                404,
                &format!("Resource not found for the segment '{entity}'."),
            );
        };
        for k in q.keys() {
            if k.starts_with('$')
                && !matches!(
                    k.as_str(),
                    "$filter" | "$select" | "$top" | "$orderby" | "$skip" | "$count"
                )
            {
                return odata_error(400, &format!("The query parameter '{k}' is not supported."));
            }
        }
        let select: Option<Vec<String>> = q
            .get("$select")
            .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect());
        if let Some(sel) = &select
            && let Some(bad) = sel.iter().find(|c| !columns.contains(&c.as_str()))
        {
            return odata_error(
                400,
                &format!(
                    "Could not find a property named '{bad}' on type 'Terrasoft.Configuration.{entity}'."
                ),
            );
        }
        let project = |row: &Map<String, Value>| -> Value {
            let mut out = Map::new();
            out.insert("@odata.etag".into(), json!("W/\"1\""));
            for c in columns {
                if select.as_ref().is_none_or(|s| s.iter().any(|x| x == c)) {
                    out.insert((*c).into(), row.get(*c).cloned().unwrap_or(Value::Null));
                }
            }
            Value::Object(out)
        };
        match (method, key) {
            ("GET", Some(id)) => match self.tables.get(entity).and_then(|t| t.get(&id)) {
                Some(row) => {
                    let mut v = project(row);
                    v["@odata.context"] = json!(format!("$metadata#{entity}/$entity"));
                    json_response(200, v)
                }
                None => odata_error(
                    404,
                    &format!("Resource not found for the segment '{entity}'."),
                ),
            },
            ("GET", None) => {
                let filter = match q.get("$filter").map(|f| filter::parse(f)).transpose() {
                    Ok(f) => f,
                    Err(e) => return odata_error(400, &e),
                };
                if let Some(f) = &filter {
                    if let Err(e) = f.check_types(&is_date_column) {
                        return odata_error(400, &e);
                    }
                    let mut used = Vec::new();
                    f.columns(&mut used);
                    if let Some(bad) = used.iter().find(|c| !columns.contains(&c.as_str())) {
                        return odata_error(
                            400,
                            &format!(
                                "Could not find a property named '{bad}' on type 'Terrasoft.Configuration.{entity}'."
                            ),
                        );
                    }
                }
                let top = match q.get("$top").map(|t| t.parse::<usize>()) {
                    None => 20_000,
                    Some(Ok(t)) => t.min(20_000),
                    Some(Err(_)) => return odata_error(400, "Invalid value for $top"),
                };
                // `$orderby=Column [asc|desc]`, one column: dates by time, the rest as text.
                let order = match q.get("$orderby").map(|o| {
                    let mut parts = o.split_whitespace();
                    let column = parts.next().unwrap_or("").to_owned();
                    let desc = match parts.next() {
                        None | Some("asc") => Ok(false),
                        Some("desc") => Ok(true),
                        Some(other) => Err(other.to_owned()),
                    };
                    (column, desc)
                }) {
                    None => None,
                    Some((c, Ok(desc))) if columns.contains(&c.as_str()) => Some((c, desc)),
                    Some((c, _)) => {
                        return odata_error(
                            400,
                            &format!(
                                "Could not find a property named '{c}' on type 'Terrasoft.Configuration.{entity}'."
                            ),
                        );
                    }
                };
                let mut matching: Vec<&Map<String, Value>> = self
                    .tables
                    .get(entity)
                    .map(|t| {
                        t.values()
                            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some((column, desc)) = &order {
                    let key = |r: &Map<String, Value>| -> (Option<jiff::Timestamp>, String) {
                        let v = r.get(column).and_then(Value::as_str).unwrap_or("");
                        (v.parse().ok(), v.to_owned())
                    };
                    matching.sort_by_key(|r| key(r));
                    if *desc {
                        matching.reverse();
                    }
                }
                let rows: Vec<Value> = matching.into_iter().take(top).map(&project).collect();
                json_response(
                    200,
                    json!({"@odata.context": format!("$metadata#{entity}"), "value": rows}),
                )
            }
            ("POST", None) => {
                let fields = match self.validate_body(entity, columns, body) {
                    Ok(f) => f,
                    Err(r) => return *r,
                };
                let id = match fields.get("Id") {
                    None | Some(Value::Null) => Uuid::new_v4(),
                    Some(v) => match v.as_str().and_then(|s| Uuid::try_parse(s).ok()) {
                        Some(id) => id,
                        None => {
                            return odata_error(
                                400,
                                "Cannot convert the literal to the expected type 'Edm.Guid'.",
                            );
                        }
                    },
                };
                if self.tables.get(entity).is_some_and(|t| t.contains_key(&id)) {
                    return odata_error(
                        self.config.duplicate_status,
                        &format!(
                            "23505: duplicate key value violates unique constraint \"PK{entity}Id\""
                        ),
                    );
                }
                let now = now_text();
                let mut row = Map::new();
                for c in columns {
                    row.insert((*c).into(), Value::Null);
                }
                for (k, v) in fields {
                    row.insert(k, v);
                }
                row.insert("Id".into(), json!(id));
                row.insert("CreatedOn".into(), json!(now));
                row.insert("ModifiedOn".into(), json!(now));
                if entity == "Case" {
                    self.case_counter += 1;
                    if self.hold.is_some() && self.held.is_none() {
                        self.held = Some(id);
                    }
                    row.insert(
                        "Number".into(),
                        json!(format!("SR{:08}", self.case_counter)),
                    );
                    if row.get("RegisteredOn").is_none_or(Value::is_null) {
                        row.insert("RegisteredOn".into(), json!(now));
                    }
                }
                self.tables
                    .entry(entity.into())
                    .or_default()
                    .insert(id, row.clone());
                let mut v = project(&row);
                v["@odata.context"] = json!(format!("$metadata#{entity}/$entity"));
                let mut resp = json_response(201, v);
                if let Ok(loc) = format!("{entity}({id})").parse() {
                    resp.headers_mut().insert("location", loc);
                }
                resp
            }
            ("PATCH", Some(id)) => {
                let fields = match self.validate_body(entity, columns, body) {
                    Ok(f) => f,
                    Err(r) => return *r,
                };
                let Some(row) = self.tables.get_mut(entity).and_then(|t| t.get_mut(&id)) else {
                    return odata_error(
                        404,
                        &format!("Resource not found for the segment '{entity}'."),
                    );
                };
                for (k, v) in fields {
                    if k != "Id" {
                        row.insert(k, v);
                    }
                }
                row.insert("ModifiedOn".into(), json!(now_text()));
                StatusCode::NO_CONTENT.into_response()
            }
            ("DELETE", Some(id)) => match self.tables.get_mut(entity).and_then(|t| t.remove(&id)) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => odata_error(
                    404,
                    &format!("Resource not found for the segment '{entity}'."),
                ),
            },
            _ => odata_error(405, "The HTTP method is not allowed for this resource."),
        }
    }

    /// Parses a write body: a JSON object whose keys are columns of the entity; lookup columns
    /// (`…Id`) must hold a GUID or null.
    fn validate_body(
        &self,
        entity: &str,
        columns: &[&str],
        body: &[u8],
    ) -> Result<Map<String, Value>, Box<Response>> {
        let v: Value = serde_json::from_slice(body).map_err(|e| {
            Box::new(odata_error(
                400,
                &format!("The request body is not valid JSON: {e}"),
            ))
        })?;
        let Value::Object(fields) = v else {
            return Err(Box::new(odata_error(
                400,
                "The request body must be a JSON object.",
            )));
        };
        for (k, v) in &fields {
            if k.starts_with("@odata") {
                continue;
            }
            if !columns.contains(&k.as_str()) {
                return Err(Box::new(odata_error(
                    400,
                    &format!(
                        "The property '{k}' does not exist on type 'Terrasoft.Configuration.{entity}'. Make sure to only use property names that are defined by the type."
                    ),
                )));
            }
            if k.ends_with("Id")
                && !v.is_null()
                && v.as_str().is_none_or(|s| Uuid::try_parse(s).is_err())
            {
                return Err(Box::new(odata_error(
                    400,
                    &format!(
                        "Cannot convert the literal '{v}' to the expected type 'Edm.Guid' for property '{k}'."
                    ),
                )));
            }
        }
        Ok(fields
            .into_iter()
            .filter(|(k, _)| !k.starts_with("@odata"))
            .collect())
    }

    fn batch(&mut self, body: &[u8], continue_on_error: bool, count: &mut usize) -> Response {
        #[derive(serde::Deserialize)]
        struct Req {
            method: String,
            url: String,
            id: String,
            #[serde(default)]
            body: Option<Value>,
        }
        #[derive(serde::Deserialize)]
        struct Batch {
            requests: Vec<Req>,
        }
        let batch: Batch = match serde_json::from_slice(body) {
            Ok(b) => b,
            Err(e) => {
                return odata_error(400, &format!("The batch request body is not valid: {e}"));
            }
        };
        *count = batch.requests.len();
        if batch.requests.len() > 100 {
            return odata_error(
                400,
                "The number of requests in the batch exceeds the limit of 100.",
            );
        }
        let root = if self.config.netcore {
            "/odata/"
        } else {
            "/0/odata/"
        };
        let mut responses = Vec::new();
        for r in batch.requests {
            let url = r
                .url
                .split_once(root)
                .map(|(_, rest)| rest)
                .unwrap_or(&r.url)
                .trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let sub_body = r.body.map(|b| b.to_string()).unwrap_or_default();
            let resp = if self.fault() {
                odata_error(
                    self.config.fault_status,
                    "Service temporarily unavailable (injected)",
                )
            } else {
                self.odata(
                    &r.method.to_ascii_uppercase(),
                    path,
                    &parse_query(query),
                    sub_body.as_bytes(),
                )
            };
            let status = resp.status().as_u16();
            let body = sub_response_body(resp);
            responses.push(json!({"id": r.id, "status": status, "headers": {"Content-Type": "application/json; odata.metadata=minimal"}, "body": body}));
            if status >= 400 && !continue_on_error {
                break;
            }
        }
        json_response(200, json!({"responses": responses}))
    }
}

/// The JSON body of a response built by `odata` (synchronously: those bodies are full strings).
fn sub_response_body(resp: Response) -> Value {
    use http_body_util_like::collect;
    collect(resp.into_body())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

mod http_body_util_like {
    //! Reads a fully-buffered axum body without an async runtime hop.
    use axum::body::Body;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    pub fn collect(body: Body) -> Option<Vec<u8>> {
        let fut = axum::body::to_bytes(body, usize::MAX);
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(b)) => Some(b.to_vec()),
            _ => None,
        }
    }
}

fn base64_decode(s: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}
