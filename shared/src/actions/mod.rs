//! Actions: the assistant looks things up in the team's own systems ("where is my order 5511?")
//! and answers with what came back, as text everywhere and as a card in the widget.
//!
//! ```text
//! settings [actions] ──config──▶ Action ──triggers / model──▶ Args ──call──▶ Found ──▶ text + Card
//!                                          bound params from who the customer is
//! ```
//! - [`config`]: `[actions]` in the settings file, every mistake refused at start-up with the
//!   action and the field named (unknown host, plain http outside loopback, a placeholder that
//!   names nothing, a secret that is not set).
//! - **Who the customer is decides, never what they (or a model) typed.** A parameter `bound`
//!   to `phone` or `email` is filled from the session's verified identity (the number an SMS came
//!   from, the e-mail of the widget's identity token) and from nothing else: a trigger may not
//!   capture it, the model is never offered it, and an argument of that name is dropped. An
//!   action that needs an identity the conversation lacks is not called: an anonymous widget
//!   visitor is asked to sign in.
//! - **Only what is kept leaves the call.** The answer is read up to `max_response_bytes`,
//!   parsed as JSON, and only the `keep` pointers' values (as short text) reach the customer,
//!   the model, the transcript and Creatio. A failed, slow, refused, oversized or malformed
//!   answer is never shown: the caller gives the fallback text, and the turn is unanswered.
//! - **Audited.** One log line a call: the action, the HTTP status, the duration, the session
//!   and the outcome; never the header secrets, the URL's values or the customer's text.

pub mod config;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::domain::{Card, CardLink, CardRow, Customer, SessionId};

/// One declared action, checked.
#[derive(Debug)]
pub struct Action {
    /// Scheme, host and port as checked at start-up; every call's URL must have them.
    pub origin: String,
    pub name: String,
    pub description: String,
    pub method: reqwest::Method,
    /// With `{param}` placeholders, filled percent-encoded.
    pub url: String,
    /// Values with `{env:NAME}` secrets read in, marked sensitive (never printed).
    pub headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    pub timeout: Duration,
    pub max_response: usize,
    pub params: Vec<Param>,
    pub keep: Vec<Keep>,
    pub triggers: Vec<Trigger>,
    pub answer: Option<String>,
    pub title: String,
}

#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub description: String,
    pub kind: ParamKind,
    pub bound: Option<Binding>,
}

#[derive(Debug)]
pub enum ParamKind {
    /// Anchored: the whole value must match.
    String {
        pattern: Option<regex_lite::Regex>,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Enum(Vec<String>),
}

/// What a bound parameter is filled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The E.164 number an SMS came from.
    Phone,
    /// The verified e-mail of the widget's identity token.
    Email,
}

#[derive(Debug)]
pub struct Keep {
    pub name: String,
    pub pointer: String,
    pub label: String,
    pub link: bool,
}

/// A trigger pattern (case-insensitive), its named captures parameters.
#[derive(Debug)]
pub struct Trigger(pub regex_lite::Regex);

/// The value a kept field may have at most, in characters (a card row, not a document).
const MAX_VALUE_CHARS: usize = 200;

/// The actions of a deployment and the HTTP client that calls them.
pub struct Actions {
    pub list: Vec<Action>,
    pub sign_in_text: String,
    pub max_calls_per_turn: u32,
    http: reqwest::Client,
}

/// Why an action gave no answer. The customer never sees any of it.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("an argument is not acceptable: {0}")]
    BadArgument(String),
    #[error("the conversation has no verified {0}")]
    NeedsIdentity(&'static str),
    #[error("unreachable or too slow")]
    Transport,
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer over {0} bytes")]
    TooLarge(usize),
    #[error("answer is not JSON")]
    Malformed,
}

impl ActionError {
    /// For the audit line.
    fn kind(&self) -> &'static str {
        match self {
            ActionError::BadArgument(_) => "bad_argument",
            ActionError::NeedsIdentity(_) => "needs_identity",
            ActionError::Transport => "transport",
            ActionError::Status(_) => "status",
            ActionError::TooLarge(_) => "too_large",
            ActionError::Malformed => "malformed",
        }
    }
}

/// What a call kept: its parameters and fields by name, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub action: String,
    /// Parameters and kept fields by name (for the templates).
    pub values: BTreeMap<String, String>,
    /// The kept fields only (what the model gets back).
    pub kept: BTreeMap<String, String>,
    /// Kept rows with the name they were kept under.
    pub rows: Vec<(String, CardRow)>,
    pub links: Vec<(String, CardLink)>,
    pub title: String,
    /// The answer template filled, when the action has one.
    pub answer: Option<String>,
}

impl Found {
    /// The card the widget shows; `lead` is the text above its rows (the answer, or what the
    /// model said).
    pub fn card(&self, lead: Option<&str>) -> Card {
        Card {
            action: self.action.clone(),
            title: self.title.clone(),
            lead: lead.map(str::to_owned),
            rows: self.rows.iter().map(|(_, r)| r.clone()).collect(),
            links: self.links.iter().map(|(_, l)| l.clone()).collect(),
        }
    }

    /// The same content as plain text: what SMS, the transcript and Creatio get. Rows and links
    /// the answer template already names are not repeated.
    pub fn text(&self, template: Option<&str>) -> String {
        let used = template.map(config::placeholders).unwrap_or_default();
        let mut lines = vec![self.answer.clone().unwrap_or_else(|| self.title.clone())];
        for (name, r) in &self.rows {
            if !used.contains(&name.as_str()) {
                lines.push(format!("{}: {}", r.label, r.value));
            }
        }
        for (name, l) in &self.links {
            if !used.contains(&name.as_str()) {
                lines.push(format!("{}: {}", l.label, l.url));
            }
        }
        lines.join("\n")
    }

    /// [`Found::text`] within `max` characters (an SMS): the answer, then whole rows and whole
    /// links while they fit; nothing is cut but an answer longer than `max` on its own.
    pub fn text_within(&self, template: Option<&str>, max: usize) -> String {
        let full = self.text(template);
        if full.chars().count() <= max {
            return full;
        }
        let mut lines = full.lines();
        let mut out: String = lines.next().unwrap_or("").chars().take(max).collect();
        for line in lines {
            if out.chars().count() + 1 + line.chars().count() <= max {
                out.push('\n');
                out.push_str(line);
            }
        }
        out
    }

    /// What the model gets back: the kept fields only (never the bound parameters).
    pub fn for_model(&self) -> serde_json::Value {
        serde_json::json!({"action": self.action, "result": self.kept})
    }
}

/// `template` with each `{name}` replaced by its value in `values` (none: empty), in one pass,
/// so that a value holding `{…}` is never replaced again.
pub fn fill(template: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = &rest[open + 1..open + close];
        out.push_str(values.get(name).map(String::as_str).unwrap_or(""));
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

impl Actions {
    pub fn new(list: Vec<Action>, raw: &config::RawActions, http: reqwest::Client) -> Actions {
        Actions {
            list,
            sign_in_text: raw
                .sign_in_text
                .clone()
                .unwrap_or_else(|| config::DEFAULT_SIGN_IN.into()),
            max_calls_per_turn: raw.max_calls_per_turn.unwrap_or(config::DEFAULT_MAX_CALLS),
            http,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Action> {
        self.list.iter().find(|a| a.name == name)
    }

    /// The action one of whose triggers matches `text`, with what it captured: the first that
    /// `customer` can use, else the first that matched (its call then asks for an identity).
    /// Two actions may share triggers, one bound to the phone and one to the e-mail.
    pub fn triggered(
        &self,
        text: &str,
        customer: &Customer,
    ) -> Option<(&Action, BTreeMap<String, String>)> {
        let mut matched = self.list.iter().filter_map(|a| {
            a.triggers.iter().find_map(|t| {
                let caps = t.0.captures(text)?;
                let args =
                    t.0.capture_names()
                        .flatten()
                        .filter_map(|n| Some((n.to_owned(), caps.name(n)?.as_str().to_owned())))
                        .collect();
                Some((a, args))
            })
        });
        let first = matched.next()?;
        if usable(first.0, customer) {
            return Some(first);
        }
        Some(matched.find(|(a, _)| usable(a, customer)).unwrap_or(first))
    }

    /// The actions `customer` may use (those whose bound parameters it can fill).
    pub fn offered<'a>(&'a self, customer: &'a Customer) -> impl Iterator<Item = &'a Action> {
        self.list.iter().filter(move |a| usable(a, customer))
    }

    /// Calls `action` for `customer` with `args` (the unbound parameters; anything else in it,
    /// a bound parameter's name included, is ignored). Logs one audit line.
    pub async fn call(
        &self,
        action: &Action,
        args: &BTreeMap<String, String>,
        customer: &Customer,
        session: SessionId,
    ) -> Result<Found, ActionError> {
        let started = Instant::now();
        let mut status = 0u16;
        let result = self.call_inner(action, args, customer, &mut status).await;
        let ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(_) => tracing::info!(
                action = %action.name, session_id = %session, ms, status, outcome = "answered",
                "action called"
            ),
            Err(e) => tracing::warn!(
                action = %action.name, session_id = %session, ms, status, outcome = e.kind(),
                "action gave no answer"
            ),
        }
        result
    }

    /// One call; `status` is set to the HTTP status once one arrives (for the audit line).
    async fn call_inner(
        &self,
        action: &Action,
        args: &BTreeMap<String, String>,
        customer: &Customer,
        status_seen: &mut u16,
    ) -> Result<Found, ActionError> {
        let mut values = BTreeMap::new();
        for p in &action.params {
            let value = match p.bound {
                Some(_) => bound_value(p, customer)?,
                None => {
                    let raw = args
                        .get(&p.name)
                        .ok_or_else(|| ActionError::BadArgument(format!("{} missing", p.name)))?;
                    checked(p, raw.trim())?
                }
            };
            values.insert(p.name.clone(), value);
        }
        let encoded: BTreeMap<String, String> =
            values.iter().map(|(k, v)| (k.clone(), encode(v))).collect();
        let url = fill(&action.url, &encoded);
        // Whatever the values, the call goes where the settings said: same scheme, host, port.
        let parsed = reqwest::Url::parse(&url)
            .map_err(|_| ActionError::BadArgument("the URL does not parse".into()))?;
        if parsed.origin().ascii_serialization() != action.origin {
            return Err(ActionError::BadArgument("the URL left its host".into()));
        }
        let mut request = self
            .http
            .request(action.method.clone(), parsed)
            .timeout(action.timeout)
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &action.headers {
            request = request.header(name.clone(), value.clone());
        }
        if action.method == reqwest::Method::POST {
            request = request.json(&values);
        }
        let mut response = request.send().await.map_err(|_| ActionError::Transport)?;
        let status = response.status();
        *status_seen = status.as_u16();
        if !status.is_success() {
            return Err(ActionError::Status(status.as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n as usize > action.max_response)
        {
            return Err(ActionError::TooLarge(action.max_response));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| ActionError::Transport)? {
            body.extend_from_slice(&chunk);
            if body.len() > action.max_response {
                return Err(ActionError::TooLarge(action.max_response));
            }
        }
        let json: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| ActionError::Malformed)?;
        let mut rows = Vec::new();
        let mut links = Vec::new();
        let mut kept = BTreeMap::new();
        for k in &action.keep {
            let Some(raw) = json.pointer(&k.pointer) else {
                continue;
            };
            if k.link {
                // A link whole or not at all: https, a host, not cut.
                let Some(url) = raw
                    .as_str()
                    .filter(|u| u.len() <= 2000)
                    .and_then(|u| reqwest::Url::parse(u).ok())
                    .filter(|u| u.scheme() == "https" && u.host_str().is_some())
                else {
                    continue;
                };
                let url = url.to_string();
                links.push((
                    k.name.clone(),
                    CardLink {
                        label: k.label.clone(),
                        url: url.clone(),
                    },
                ));
                kept.insert(k.name.clone(), url);
            } else {
                let Some(value) = short_text(raw) else {
                    continue;
                };
                rows.push((
                    k.name.clone(),
                    CardRow {
                        label: k.label.clone(),
                        value: value.clone(),
                    },
                ));
                kept.insert(k.name.clone(), value);
            }
        }
        if rows.is_empty() && links.is_empty() {
            // Nothing kept was there: not an answer about this customer's question.
            return Err(ActionError::Malformed);
        }
        values.extend(kept.clone());
        Ok(Found {
            action: action.name.clone(),
            title: fill(&action.title, &values),
            answer: action.answer.as_deref().map(|a| fill(a, &values)),
            values,
            kept,
            rows,
            links,
        })
    }
}

/// Can `customer` fill every bound parameter of `action`?
fn usable(action: &Action, customer: &Customer) -> bool {
    action
        .params
        .iter()
        .all(|p| bound_value(p, customer).is_ok())
}

/// A bound parameter's value from who the customer is.
fn bound_value(p: &Param, customer: &Customer) -> Result<String, ActionError> {
    match (p.bound, customer) {
        (None, _) => Ok(String::new()),
        (Some(Binding::Phone), Customer::Phone(n)) => Ok(n.as_e164().to_owned()),
        (Some(Binding::Email), Customer::Email(e)) => Ok(e.as_str().to_owned()),
        (Some(Binding::Phone), _) => Err(ActionError::NeedsIdentity("phone number")),
        (Some(Binding::Email), _) => Err(ActionError::NeedsIdentity("e-mail")),
    }
}

/// `raw` as parameter `p` accepts it.
fn checked(p: &Param, raw: &str) -> Result<String, ActionError> {
    let bad = || ActionError::BadArgument(format!("{} is not acceptable", p.name));
    // A value of dots only would be a path segment that climbs (`..`) in a URL.
    if raw.is_empty() || raw.chars().count() > 200 || raw.chars().all(|c| c == '.') {
        return Err(bad());
    }
    match &p.kind {
        ParamKind::String { pattern } => match pattern {
            Some(re) if re.is_match(raw) => Ok(raw.to_owned()),
            _ => Err(bad()),
        },
        ParamKind::Integer { min, max } => {
            let n: i64 = raw.parse().map_err(|_| bad())?;
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(bad());
            }
            Ok(n.to_string())
        }
        ParamKind::Enum(values) => values
            .iter()
            .find(|v| v.eq_ignore_ascii_case(raw))
            .cloned()
            .ok_or_else(bad),
    }
}

/// A kept JSON value as one short line of text (objects and arrays are not shown).
fn short_text(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        _ => return None,
    };
    let text: String = crate::domain::without_hidden_chars(&text)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_VALUE_CHARS)
        .collect();
    let text = text.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

/// Percent-encodes a value for a URL's path or query (everything but unreserved characters).
fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
