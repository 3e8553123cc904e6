//! The `[actions]` section of the settings file, parsed and checked once at start-up.
//!
//! ```toml
//! [actions]
//! allowed_hosts = ["orders.example.com"]
//!
//! [[actions.list]]
//! name = "order_status"
//! description = "The status of one of the customer's orders"
//! method = "GET"
//! url = "https://orders.example.com/v1/orders/{order}?phone={phone}"
//! headers = { Authorization = "Bearer {env:SHOP_API_TOKEN}" }
//! triggers = ["order\\s*#?\\s*(?P<order>\\d{4,10})"]
//! answer = "Order {order}: {status}."
//! title = "Order {order}"
//! params = [
//!   { name = "order", type = "string", pattern = "^[0-9]{4,10}$", description = "the order number" },
//!   { name = "phone", bound = "phone" },
//! ]
//! keep = [
//!   { name = "status", pointer = "/status", label = "Status" },
//!   { name = "tracking", pointer = "/tracking_url", label = "Track the parcel", link = true },
//! ]
//! ```
//!
//! Every mistake is refused here with the action and the field named: an unknown host (not in
//! `allowed_hosts`), plain `http` to anything but loopback, a `{placeholder}` in the URL or the
//! answer that names no parameter or kept field, a trigger capture that names no parameter, a
//! trigger that sets a bound parameter, a secret (`{env:NAME}`) whose variable is not set.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use super::{Action, Binding, Keep, Param, ParamKind, Trigger};
use crate::config::ConfigError;

/// Longest a call may take, whatever an action says: well inside a function's 15 s, with the
/// assistant's own work beside it.
const MAX_TIMEOUT: Duration = Duration::from_secs(10);
/// Names the `openai` assistant's own tools have.
const RESERVED: &[&str] = &["handoff_to_human", "unable_to_answer"];
/// Largest answer read, whatever an action says (1 MiB).
const MAX_RESPONSE: usize = 1 << 20;

/// `[actions]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// What an anonymous widget visitor is told when an action needs to know who they are.
    pub sign_in_text: Option<String>,
    /// Calls the `openai` assistant may make in one turn.
    pub max_calls_per_turn: Option<u32>,
    #[serde(default)]
    pub list: Vec<RawAction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub name: String,
    pub description: String,
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub timeout_seconds: Option<u64>,
    pub max_response_bytes: Option<usize>,
    #[serde(default)]
    pub params: Vec<RawParam>,
    #[serde(default)]
    pub keep: Vec<RawKeep>,
    #[serde(default)]
    pub triggers: Vec<String>,
    pub answer: Option<String>,
    pub title: Option<String>,
    /// An action with no bound parameter answers anyone, signed in or not (a store's opening
    /// hours, say): it must say so.
    #[serde(default)]
    pub public: bool,
}

fn get() -> String {
    "GET".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    pub name: String,
    #[serde(rename = "type", default = "string")]
    pub kind: String,
    pub description: Option<String>,
    pub pattern: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    #[serde(default)]
    pub values: Vec<String>,
    /// `phone` or `email`: who the customer is, never what anyone typed.
    pub bound: Option<String>,
}

fn string() -> String {
    "string".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeep {
    pub name: String,
    /// A JSON pointer (RFC 6901) into the answer: `/status`, `/items/0/name`.
    pub pointer: String,
    pub label: String,
    /// A URL shown as a link (at most three), not as a row.
    #[serde(default)]
    pub link: bool,
}

pub const DEFAULT_SIGN_IN: &str =
    "I can look that up once you are signed in on our site. Please sign in and ask again.";
pub const DEFAULT_MAX_CALLS: u32 = 3;

fn invalid(action: &str, field: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name: "CASEBRIDGE_CONFIG",
        reason: format!("actions: action {action:?}: {field}: {reason}"),
    }
}

/// The `{name}` placeholders of a template, in order.
pub(super) fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    out
}

/// Checks everything the file alone can say (no secrets read): used when the settings are
/// parsed, so that a bad action stops every function's start-up.
pub fn check(raw: &RawActions) -> Result<(), ConfigError> {
    build(raw, &|_| Some("checked".into())).map(|_| ())
}

/// The actions, with their header secrets read through `secret` (the process environment in a
/// function).
pub fn build(
    raw: &RawActions,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Action>, ConfigError> {
    let hosts: HashSet<String> = raw
        .allowed_hosts
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if let Some(n) = raw.max_calls_per_turn
        && !(1..=5).contains(&n)
    {
        return Err(ConfigError::Invalid {
            name: "CASEBRIDGE_CONFIG",
            reason: "actions: max_calls_per_turn must be between 1 and 5".into(),
        });
    }
    let mut names = HashSet::new();
    let mut actions = Vec::new();
    for a in &raw.list {
        let name = a.name.as_str();
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !name_ok {
            return Err(invalid(
                name,
                "name",
                "use 1 to 64 lower-case letters, digits and _",
            ));
        }
        if !names.insert(name) {
            return Err(invalid(name, "name", "another action has this name"));
        }
        if RESERVED.contains(&name) {
            return Err(invalid(
                name,
                "name",
                "the assistant's own tools have this name",
            ));
        }
        if a.description.trim().is_empty() {
            return Err(invalid(name, "description", "must not be empty"));
        }
        let method = match a.method.to_ascii_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            other => return Err(invalid(name, "method", format!("{other} (GET or POST)"))),
        };
        // The URL with placeholders filled by a harmless value must be a URL on an allowed host.
        let sample = placeholders(&a.url)
            .iter()
            .fold(a.url.clone(), |u, p| u.replace(&format!("{{{p}}}"), "x"));
        let url = reqwest::Url::parse(&sample).map_err(|e| invalid(name, "url", e))?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let loopback = host == "localhost"
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(invalid(
                    name,
                    "url",
                    "plain http is allowed only to loopback; use https",
                ));
            }
            other => return Err(invalid(name, "url", format!("scheme {other}"))),
        }
        if !hosts.contains(&host) {
            return Err(invalid(
                name,
                "url",
                format!("host {host} is not in actions.allowed_hosts"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                name,
                "url",
                "no credentials in the URL; use headers with {env:NAME}",
            ));
        }
        // The host and port as the template writes them, read by the URL parser: a placeholder
        // there (filled with another sample) would change them.
        let other = placeholders(&a.url)
            .iter()
            .fold(a.url.clone(), |u, p| u.replace(&format!("{{{p}}}"), "y"));
        let other = reqwest::Url::parse(&other).map_err(|e| invalid(name, "url", e))?;
        if other.host_str() != url.host_str() || other.port() != url.port() {
            return Err(invalid(
                name,
                "url",
                "a placeholder may not be in the host or port",
            ));
        }

        let mut params: Vec<Param> = Vec::new();
        for p in &a.params {
            if params.iter().any(|q| q.name.eq_ignore_ascii_case(&p.name)) {
                return Err(invalid(
                    name,
                    &format!("params.{}", p.name),
                    "declared twice",
                ));
            }
            params.push(param(name, p)?);
        }
        let declared: HashSet<&str> = params.iter().map(|p: &Param| p.name.as_str()).collect();
        let in_url = placeholders(&a.url);
        for p in &in_url {
            if !declared.contains(p) {
                return Err(invalid(
                    name,
                    "url",
                    format!("{{{p}}} names no declared parameter"),
                ));
            }
        }
        // A GET sends only what its URL names: a parameter it leaves out (a bound phone,
        // say) would look like a check and be none.
        if method == reqwest::Method::GET
            && let Some(p) = params.iter().find(|p| !in_url.contains(&p.name.as_str()))
        {
            return Err(invalid(
                name,
                &format!("params.{}", p.name),
                "a GET action's URL must use every parameter",
            ));
        }
        if !a.public && params.iter().all(|p| p.bound.is_none()) {
            return Err(invalid(
                name,
                "params",
                "no parameter is bound to who the customer is (phone or email); an action for \
                 anyone says public = true",
            ));
        }
        let mut keep = Vec::new();
        let mut kept_names = HashSet::new();
        for k in &a.keep {
            if !k.pointer.is_empty() && !k.pointer.starts_with('/') {
                return Err(invalid(
                    name,
                    "keep",
                    format!("{:?} is not a JSON pointer (start it with /)", k.pointer),
                ));
            }
            if !kept_names.insert(k.name.as_str()) || declared.contains(k.name.as_str()) {
                return Err(invalid(
                    name,
                    "keep",
                    format!("{} is named twice (or is also a parameter)", k.name),
                ));
            }
            keep.push(Keep {
                name: k.name.clone(),
                pointer: k.pointer.clone(),
                label: k.label.clone(),
                link: k.link,
            });
        }
        if keep.iter().filter(|k| k.link).count() > crate::domain::Card::MAX_LINKS
            || keep.iter().filter(|k| !k.link).count() > crate::domain::Card::MAX_ROWS
        {
            return Err(invalid(
                name,
                "keep",
                "at most 8 rows and 3 links (a card's room)",
            ));
        }
        for (field, template) in [("answer", &a.answer), ("title", &a.title)] {
            for p in template.as_deref().map(placeholders).unwrap_or_default() {
                if !declared.contains(p) && !kept_names.contains(p) {
                    return Err(invalid(
                        name,
                        field,
                        format!("{{{p}}} names no parameter or kept field"),
                    ));
                }
            }
        }
        let mut triggers = Vec::new();
        for t in &a.triggers {
            let pattern = format!("(?i){t}");
            let regex = regex_lite::Regex::new(&pattern)
                .map_err(|e| invalid(name, "triggers", format!("{t:?}: {e}")))?;
            for capture in regex.capture_names().flatten() {
                match params.iter().find(|p| p.name == capture) {
                    None => {
                        return Err(invalid(
                            name,
                            "triggers",
                            format!("capture {capture} names no declared parameter"),
                        ));
                    }
                    Some(p) if p.bound.is_some() => {
                        return Err(invalid(
                            name,
                            "triggers",
                            format!("capture {capture} would set a bound parameter"),
                        ));
                    }
                    Some(_) => {}
                }
            }
            triggers.push(Trigger(regex));
        }
        if !triggers.is_empty() && a.answer.is_none() {
            return Err(invalid(
                name,
                "answer",
                "an action with triggers needs an answer template",
            ));
        }
        let mut headers = Vec::new();
        for (header, value) in &a.headers {
            let header_name = reqwest::header::HeaderName::from_bytes(header.as_bytes())
                .map_err(|e| invalid(name, "headers", format!("{header}: {e}")))?;
            headers.push((header_name, header_value(name, header, value, secret)?));
        }
        let timeout = Duration::from_secs(a.timeout_seconds.unwrap_or(5));
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err(invalid(name, "timeout_seconds", "between 1 and 10"));
        }
        let max_response = a.max_response_bytes.unwrap_or(64 * 1024);
        if max_response == 0 || max_response > MAX_RESPONSE {
            return Err(invalid(name, "max_response_bytes", "between 1 and 1048576"));
        }
        actions.push(Action {
            origin: url.origin().ascii_serialization(),
            name: name.to_owned(),
            description: a.description.trim().to_owned(),
            method,
            url: a.url.clone(),
            headers,
            timeout,
            max_response,
            params,
            keep,
            triggers,
            answer: a.answer.clone(),
            title: a.title.clone().unwrap_or_else(|| a.description.clone()),
        });
    }
    Ok(actions)
}

fn param(action: &str, p: &RawParam) -> Result<Param, ConfigError> {
    let field = format!("params.{}", p.name);
    let ok_name = !p.name.is_empty()
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_name {
        return Err(invalid(action, &field, "a name of letters, digits and _"));
    }
    let bound = match p.bound.as_deref() {
        None => None,
        Some("phone") => Some(Binding::Phone),
        Some("email") => Some(Binding::Email),
        Some(other) => {
            return Err(invalid(
                action,
                &field,
                format!("bound = {other:?} (phone or email)"),
            ));
        }
    };
    let kind = match p.kind.as_str() {
        "string" => ParamKind::String {
            pattern: p
                .pattern
                .as_deref()
                .map(|pat| {
                    // Anchored, so that a pattern matches the whole value.
                    regex_lite::Regex::new(&format!("^(?:{pat})$"))
                        .map_err(|e| invalid(action, &field, format!("pattern: {e}")))
                })
                .transpose()?,
        },
        "integer" => ParamKind::Integer {
            min: p.min,
            max: p.max,
        },
        "enum" if !p.values.is_empty() => ParamKind::Enum(p.values.clone()),
        "enum" => return Err(invalid(action, &field, "an enum needs values")),
        other => {
            return Err(invalid(
                action,
                &field,
                format!("type {other:?} (string, integer or enum)"),
            ));
        }
    };
    if bound.is_none() && matches!(kind, ParamKind::String { pattern: None }) {
        return Err(invalid(
            action,
            &field,
            "a string the customer or the model sets needs a pattern",
        ));
    }
    Ok(Param {
        name: p.name.clone(),
        description: p.description.clone().unwrap_or_default(),
        kind,
        bound,
    })
}

/// A header value: text with `{env:NAME}` secrets read now.
fn header_value(
    action: &str,
    header: &str,
    value: &str,
    secret: &dyn Fn(&str) -> Option<String>,
) -> Result<reqwest::header::HeaderValue, ConfigError> {
    let field = format!("headers.{header}");
    let mut out = String::new();
    let mut rest = value;
    while let Some(open) = rest.find("{env:") {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(invalid(action, &field, "an unclosed {env:"));
        };
        let var = &rest[open + 5..open + close];
        let Some(v) = secret(var).filter(|v| !v.is_empty()) else {
            return Err(invalid(
                action,
                &field,
                format!("the environment variable {var} is not set"),
            ));
        };
        out.push_str(&v);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    let mut value = reqwest::header::HeaderValue::from_str(&out)
        .map_err(|_| invalid(action, &field, "not a valid header value"))?;
    // Marked sensitive: never printed by reqwest or hyper (a secret's value or not, a header
    // value is no log's business).
    value.set_sensitive(true);
    Ok(value)
}
