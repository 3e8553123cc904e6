//! The Creatio client: everything casebridge does in Creatio goes through [`CreatioClient`].
//!
//! - **Auth**: OAuth 2.0 client credentials or forms login (see `auth.rs`), chosen by config.
//!   A lapsed sign-in (401, a redirect to a login page, an HTML login page, or under forms auth a
//!   403 for a stale `BPMCSRF`) means: sign in again and retry once.
//! - **OData 4** at `/0/odata` (.NET Framework) or `/odata` (.NET Core): create with a client
//!   supplied `Id`, patch, get, query with escaped filters, `$batch` in chunks of 100.
//! - **Idempotent create**: a create that fails is checked with a GET; if the record is there
//!   (our earlier attempt landed, or a duplicate-key answer), it counts as done. Ids are
//!   deterministic (see `domain::ids`), so every step of a sync is safe to repeat.
//! - **Errors and retries**: one [`CreatioError`]; 429/5xx/no answer are retried with bounded
//!   exponential backoff and full jitter (crate `backon`: small, no dependencies beyond what we
//!   link, and it does exactly this), 400/403/404 and refused credentials never.
//! - **Logs** carry entity names, ids, statuses and Creatio's error message: never credentials,
//!   cookies, tokens or record bodies (which hold customer text).

mod auth;
pub mod base_ids;
mod batch;
pub mod check;
pub mod config;
pub mod contact;
pub mod error;
pub mod odata;
pub mod sync;

use std::collections::HashMap;

use backon::Retryable;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::Value;
use uuid::Uuid;

pub use batch::{BatchOp, BatchResult};
pub use error::CreatioError;
pub use odata::Filter;

use auth::{Authenticator, Credentials, Mode, TokenEndpoint, transport};
use config::{CreatioAuth, CreatioConfig, IdentityServer};
use error::error_message;
use odata::{BatchBody, BatchResponseBody, BatchSubRequest, entity_path};

/// Creatio's limit on sub-requests in one `$batch`.
pub const MAX_BATCH: usize = 100;
/// Rows a page of [`CreatioClient::query_all`] asks for, well under Creatio's 20,000.
pub const PAGE: usize = 1_000;

pub use crate::http::RetryPolicy;

/// What a create came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Written now; Creatio's answer (the record with all columns) where it sent one.
    New(Value),
    /// It was already there (an earlier attempt landed).
    AlreadyThere,
}

/// One read of a [`CreatioClient::queries`] batch.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    pub entity: &'a str,
    pub filter: Option<Filter>,
    pub select: &'a [&'a str],
    /// `$orderby`, e.g. `CreatedOn`.
    pub orderby: Option<&'a str>,
    pub top: Option<usize>,
}

impl Query<'_> {
    /// The sub-request URL, relative to the OData root, with each option's value
    /// percent-encoded (spaces as `%20`).
    fn url(&self) -> String {
        let enc = |v: &str| {
            form_urlencoded::byte_serialize(v.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        let mut options = Vec::new();
        if let Some(f) = &self.filter {
            options.push(format!("$filter={}", enc(f.as_str())));
        }
        if !self.select.is_empty() {
            options.push(format!("$select={}", enc(&self.select.join(","))));
        }
        if let Some(o) = self.orderby {
            options.push(format!("$orderby={}", enc(o)));
        }
        if let Some(t) = self.top {
            options.push(format!("$top={t}"));
        }
        if options.is_empty() {
            self.entity.to_owned()
        } else {
            format!("{}?{}", self.entity, options.join("&"))
        }
    }
}

pub struct CreatioClient {
    http: reqwest::Client,
    odata_root: String,
    auth: Authenticator,
    retry: RetryPolicy,
    /// Writes per `$batch` request (`CREATIO_BATCH_SIZE`).
    batch_size: usize,
    /// (entity, name) → id, for the life of a warm container.
    lookups: std::sync::Mutex<HashMap<(String, String), Uuid>>,
    /// Requests in flight at most (`CREATIO_MAX_CONCURRENCY`).
    in_flight: tokio::sync::Semaphore,
}

/// The longest `Retry-After` honoured in one wait; a longer one is a failure to retry later.
const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(30);
/// 429s with `Retry-After` waited out within one call, before it fails as transient.
const MAX_THROTTLED_WAITS: u32 = 5;

/// What came back from one HTTP exchange that Creatio accepted (2xx).
struct Answer {
    body: String,
}

impl CreatioClient {
    /// Builds the client from configuration. `http` is the process's one reqwest client (see
    /// `crate::http`), whose timeout bounds every call.
    /// The same client with another retry policy (tests that must not wait out the default).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn new(config: &CreatioConfig, http: reqwest::Client, retry: RetryPolicy) -> Self {
        let base = config.url.as_str();
        let odata_root = if config.netcore {
            format!("{base}/odata")
        } else {
            format!("{base}/0/odata")
        };
        let mode = match &config.auth {
            CreatioAuth::OAuth {
                client_id,
                client_secret,
                identity,
            } => Mode::OAuth {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                token: match identity {
                    IdentityServer::Configured(url) => {
                        TokenEndpoint::Fixed(url.join("/connect/token"))
                    }
                    IdentityServer::Discover { cloud } => TokenEndpoint::Discover {
                        document: format!("{base}/0/.well-known/openid-configuration"),
                        cloud: cloud.as_ref().map(|c| c.join("/connect/token")),
                    },
                },
            },
            CreatioAuth::Forms { username, password } => Mode::Forms {
                username: username.clone(),
                password: password.clone(),
                login_url: format!("{base}/ServiceModel/AuthService.svc/Login"),
            },
        };
        Self {
            http,
            odata_root,
            auth: Authenticator::new(mode),
            retry,
            batch_size: config.batch_size.clamp(1, MAX_BATCH),
            lookups: std::sync::Mutex::new(HashMap::new()),
            in_flight: tokio::sync::Semaphore::new(config.max_concurrency.max(1)),
        }
    }

    pub fn odata_root(&self) -> &str {
        &self.odata_root
    }

    /// Creates `entity` with the client-supplied `id` (added to `body`). Idempotent.
    pub async fn create(
        &self,
        entity: &str,
        id: Uuid,
        body: Value,
    ) -> Result<Created, CreatioError> {
        let mut body = body;
        if let Value::Object(map) = &mut body {
            map.insert("Id".into(), Value::String(id.hyphenated().to_string()));
        }
        let url = format!("{}/{entity}", self.odata_root);
        self.retrying(|| async {
            match self
                .exchange(Method::POST, &url, &[], Some(&body), false)
                .await
            {
                Ok(a) => Ok(Created::New(
                    serde_json::from_str(&a.body).unwrap_or(Value::Null),
                )),
                // Credentials refused: nothing was written, and checking would only sign in again.
                Err(e @ CreatioError::Auth(_)) => Err(e),
                // The data itself refused (not a duplicate): nothing was written either.
                Err(e)
                    if e.data_kind().is_some()
                        && e.data_kind() != Some(error::DataErrorKind::Duplicate) =>
                {
                    Err(e)
                }
                Err(e) => {
                    // Did an earlier attempt land, or is this Creatio's duplicate-key answer?
                    if self.exists(entity, id).await? {
                        tracing::info!(entity, %id, "create found the record already there");
                        Ok(Created::AlreadyThere)
                    } else {
                        Err(e)
                    }
                }
            }
        })
        .await
    }

    /// Updates columns of one record.
    pub async fn patch(&self, entity: &str, id: Uuid, body: Value) -> Result<(), CreatioError> {
        let url = format!("{}/{}", self.odata_root, entity_path(entity, id));
        self.retrying(|| async {
            self.exchange(Method::PATCH, &url, &[], Some(&body), false)
                .await
                .map(|_| ())
        })
        .await
    }

    /// One record by id with the given columns; `None` when there is no such record.
    pub async fn get(
        &self,
        entity: &str,
        id: Uuid,
        select: &[&str],
    ) -> Result<Option<Value>, CreatioError> {
        let url = format!("{}/{}", self.odata_root, entity_path(entity, id));
        let select = select.join(",");
        let query: Vec<(&str, &str)> = if select.is_empty() {
            vec![]
        } else {
            vec![("$select", select.as_str())]
        };
        self.retrying(|| async {
            match self.exchange(Method::GET, &url, &query, None, false).await {
                Ok(a) => serde_json::from_str(&a.body)
                    .map(Some)
                    .map_err(|_| CreatioError::Protocol(format!("{entity} was not JSON"))),
                Err(CreatioError::Api { status: 404, .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn exists(&self, entity: &str, id: Uuid) -> Result<bool, CreatioError> {
        Ok(self.get(entity, id, &["Id"]).await?.is_some())
    }

    /// Records matching `filter` (all when None), with the given columns, at most `top`.
    pub async fn query(
        &self,
        entity: &str,
        filter: Option<&Filter>,
        select: &[&str],
        top: Option<usize>,
    ) -> Result<Vec<Value>, CreatioError> {
        self.query_page(entity, filter, select, top, None).await
    }

    /// Every record matching `filter`, however many: Creatio refuses a query whose answer
    /// would pass 20,000 rows (with a 500), so this reads pages of [`PAGE`] rows ordered by
    /// `Id` (`$orderby`, `$top`, `$skip`) until a page comes back short. A record added or
    /// removed between two pages can shift the next page by a row; the knowledge sync, the one
    /// caller, reads everything again at its next run, and its incremental read falls back to a
    /// full read when an id it lists is missing.
    pub async fn query_all(
        &self,
        entity: &str,
        filter: Option<&Filter>,
        select: &[&str],
    ) -> Result<Vec<Value>, CreatioError> {
        let mut rows = Vec::new();
        loop {
            let page = self
                .query_page(entity, filter, select, Some(PAGE), Some(rows.len()))
                .await?;
            let short = page.len() < PAGE;
            rows.extend(page);
            if short {
                return Ok(rows);
            }
        }
    }

    /// One page of a query; `skip` set also orders by `Id`, so that pages do not overlap.
    async fn query_page(
        &self,
        entity: &str,
        filter: Option<&Filter>,
        select: &[&str],
        top: Option<usize>,
        skip: Option<usize>,
    ) -> Result<Vec<Value>, CreatioError> {
        let url = format!("{}/{entity}", self.odata_root);
        let select = select.join(",");
        let top = top.map(|t| t.to_string());
        let skip = skip.map(|s| s.to_string());
        let mut query: Vec<(&str, &str)> = Vec::new();
        if let Some(f) = filter {
            query.push(("$filter", f.as_str()));
        }
        if !select.is_empty() {
            query.push(("$select", &select));
        }
        if let Some(t) = &top {
            query.push(("$top", t));
        }
        if let Some(s) = &skip {
            query.push(("$orderby", "Id"));
            query.push(("$skip", s));
        }
        self.retrying(|| async {
            let a = self
                .exchange(Method::GET, &url, &query, None, false)
                .await?;
            let v: Value = serde_json::from_str(&a.body)
                .map_err(|_| CreatioError::Protocol(format!("{entity} query was not JSON")))?;
            match v.get("value") {
                Some(Value::Array(rows)) => Ok(rows.clone()),
                _ => Err(CreatioError::Protocol(format!(
                    "{entity} query answer has no value array"
                ))),
            }
        })
        .await
    }

    /// Several reads in one `$batch` request (one round trip), a result per query in order. A
    /// batch that fails as a whole is retried like any call; `Err` when it still fails.
    pub async fn queries(
        &self,
        queries: &[Query<'_>],
    ) -> Result<Vec<Result<Vec<Value>, CreatioError>>, CreatioError> {
        let requests: Vec<BatchSubRequest> = queries
            .iter()
            .enumerate()
            .map(|(i, q)| BatchSubRequest {
                method: "GET",
                url: q.url(),
                id: i.to_string(),
                body: None,
                headers: serde_json::Map::new(),
            })
            .collect();
        let body = BatchBody { requests };
        let resp = self.retrying(|| self.post_batch(&body)).await?;
        let mut by_id: HashMap<String, (u16, Option<Value>)> = resp
            .responses
            .into_iter()
            .map(|r| (r.id, (r.status, r.body)))
            .collect();
        Ok(queries
            .iter()
            .enumerate()
            .map(|(i, q)| match by_id.remove(&i.to_string()) {
                Some((status, Some(body))) if (200..300).contains(&status) => {
                    match body.get("value") {
                        Some(Value::Array(rows)) => Ok(rows.clone()),
                        _ => Err(CreatioError::Protocol(format!(
                            "{} query answer has no value array",
                            q.entity
                        ))),
                    }
                }
                Some((status, body)) => Err(CreatioError::from_answer(
                    status,
                    &body.map(|b| b.to_string()).unwrap_or_default(),
                    q.entity,
                )),
                None => Err(CreatioError::Transport(
                    "the batch answer has no result for this query".into(),
                )),
            })
            .collect())
    }

    /// The id of the lookup row named `name` in `entity` (e.g. `CasePriority`, `High`), cached
    /// for the life of the container.
    pub async fn lookup_id(&self, entity: &str, name: &str) -> Result<Uuid, CreatioError> {
        let key = (entity.to_owned(), name.to_owned());
        if let Some(id) = self.cache().get(&key) {
            return Ok(*id);
        }
        let rows = self
            .query(
                entity,
                Some(&Filter::eq_str("Name", name)),
                &["Id"],
                Some(1),
            )
            .await?;
        let id = rows
            .first()
            .and_then(|r| r.get("Id"))
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::try_parse(s).ok())
            .ok_or_else(|| CreatioError::LookupNotFound {
                entity: entity.to_owned(),
                name: name.to_owned(),
            })?;
        self.cache().insert(key, id);
        Ok(id)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Uuid>> {
        self.lookups.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Retries `f` on transient errors with bounded, jittered exponential backoff.
    async fn retrying<T, F, Fut>(&self, f: F) -> Result<T, CreatioError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CreatioError>>,
    {
        f.retry(self.retry.backoff())
        .when(CreatioError::is_transient)
        .notify(|e, after| tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "Creatio call failed; retrying"))
        .await
    }

    /// One request with current credentials; on a lapsed sign-in, signs in again and repeats it
    /// once. Non-2xx answers become `CreatioError::Api` with Creatio's message.
    async fn exchange(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        batch: bool,
    ) -> Result<Answer, CreatioError> {
        let mut relogged = false;
        let mut throttled = 0;
        loop {
            let current = self.auth.current(&self.http).await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .header("Accept", "application/json")
                .header("ForceUseSession", "true");
            if !query.is_empty() {
                req = req.query(query);
            }
            req = match &current.creds {
                Credentials::Bearer(token) => req.bearer_auth(token.expose_secret()),
                Credentials::Cookies { cookie, csrf } => req
                    .header("Cookie", cookie.expose_secret())
                    .header("BPMCSRF", csrf.as_str()),
            };
            if let Some(b) = body {
                let content_type = if batch {
                    "application/json; odata=verbose; IEEE754Compatible=true"
                } else {
                    "application/json; charset=utf-8; IEEE754Compatible=true"
                };
                req = req.header("Content-Type", content_type).body(b.to_string());
                if batch {
                    req = req.header("Prefer", "continue-on-error");
                }
            }
            // At most CREATIO_MAX_CONCURRENCY requests in flight; the permit is held until the
            // answer is read, and never while waiting out a Retry-After.
            let permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| CreatioError::Transport("the client is shutting down".into()))?;
            let started = std::time::Instant::now();
            let resp = req.send().await.map_err(transport)?;
            crate::metrics::emit(crate::metrics::Metric::CreatioLatency {
                ms: started.elapsed().as_secs_f64() * 1000.0,
            });
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(std::time::Duration::from_secs);
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let is_html = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/html"));
            let text = resp.text().await.map_err(transport)?;
            drop(permit);
            // Throttled with a stated wait: wait it out (bounded), then ask again.
            if status == 429
                && let Some(wait) = retry_after.filter(|w| *w <= MAX_RETRY_AFTER)
                && throttled < MAX_THROTTLED_WAITS
            {
                throttled += 1;
                tracing::warn!(
                    retry_after_s = wait.as_secs(),
                    "Creatio throttled the request; waiting as it asks"
                );
                tokio::time::sleep(wait).await;
                continue;
            }

            let lapsed = status == 401
                || ((300..400).contains(&status) && location.contains("Login"))
                || (status == 200 && is_html)
                // Under forms auth a 403 is most often a stale BPMCSRF; a fresh login tells.
                || (status == 403 && self.auth.is_forms() && !relogged);
            if lapsed {
                if relogged {
                    // A fresh sign-in worked, and this is still refused: not the credentials but
                    // the entity (no rights on it, or an entity set the instance lacks, which
                    // some versions answer with 401).
                    return Err(CreatioError::NoAccess {
                        entity: self.entity_of(url),
                        status,
                        message: error_message(status, &text),
                    });
                }
                tracing::info!(status, "Creatio sign-in lapsed; signing in again");
                self.auth.invalidate(current.generation).await;
                relogged = true;
                continue;
            }
            if (200..300).contains(&status) {
                return Ok(Answer { body: text });
            }
            return Err(CreatioError::from_answer(
                status,
                &text,
                &self.entity_of(url),
            ));
        }
    }

    /// The entity set a URL of this client's OData root names (`Case` in `…/0/odata/Case(…)`).
    fn entity_of(&self, url: &str) -> String {
        url.strip_prefix(&self.odata_root)
            .unwrap_or(url)
            .trim_start_matches('/')
            .split(['(', '?', '/'])
            .next()
            .unwrap_or("")
            .to_owned()
    }
}
