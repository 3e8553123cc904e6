//! `GET /console`: the local stand-in for a rep's Creatio screen. It lists the cases in Creatio
//! (the embedded sandbox, or the instance `CREATIO_URL` names) with their activities, and offers
//! a form to reply as an agent. A reply creates an Activity on the case and then calls
//! `/creatio/reply` exactly as the business process would: POST, JSON body, bearer token.
//!
//! Everything shown is HTML-escaped.
//!
//! **Who may use it.** The console acts on Creatio and, when they are configured, on a real
//! Twilio account, so a page on another site must not drive it. Every request needs the
//! process's console token ([`App::console_token`], random at start-up and printed in the
//! console's link): in the query of `GET /console`, in the forms the page renders. The `Host`
//! must be a loopback name or `PUBLIC_BASE_URL`'s host (another name pointing at 127.0.0.1, DNS
//! rebinding, is refused), and a `POST` must come from the console's own origin (`Origin`
//! equal to `Host`, or, where a browser sends `Origin: null`, `Sec-Fetch-Site: same-origin`,
//! which no script can set): a cross-site form post is answered 403 before anything is done.
//! The page cannot be framed ([`casebridge::http::page_headers`]) and sends its address only to
//! itself (`Referrer-Policy: same-origin`, so that a browser's form post carries the real
//! `Origin`; with `no-referrer` Chromium sends `Origin: null`), so the token does not leave it.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use casebridge::creatio::Filter;
use http::HeaderMap;
use quick_xml::escape::escape;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// A refused console request.
fn refused(status: u16, why: &str) -> Response {
    let mut r = console_page(format!("<p>{}</p>", escape(why)));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
    r
}

/// A console page: the stack's page headers, with the referrer sent to the console itself only.
fn console_page(html: String) -> Response {
    let mut r = crate::page(html);
    r.headers_mut().insert(
        "referrer-policy",
        http::HeaderValue::from_static("same-origin"),
    );
    r
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Is `host` (a `Host` header, `name[:port]`) one the console answers on?
fn host_allowed(app: &App, host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if port.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => host,
    };
    if matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
        return true;
    }
    app.config.public_base_url.as_ref().is_some_and(|b| {
        b.as_str()
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
            .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
    })
}

/// The checks in the module docs: the token, the `Host`, and for a `POST` the `Origin`. The
/// refusal is the status and the reason ([`refused`] renders it).
fn check(
    app: &App,
    headers: &HeaderMap,
    token: &str,
    post: bool,
) -> Result<(), (u16, &'static str)> {
    use subtle::ConstantTimeEq;
    let host = header(headers, "host").unwrap_or("");
    if !host_allowed(app, host) {
        return Err((403, "the console answers on its own address only"));
    }
    if post {
        let origin = header(headers, "origin");
        let same_origin = match origin {
            Some(o) if o != "null" => o
                .split_once("://")
                .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host)),
            // An opaque or missing origin: the browser's own word on where the form was.
            _ => header(headers, "sec-fetch-site") == Some("same-origin"),
        };
        if !same_origin {
            return Err((403, "the console accepts forms from its own page only"));
        }
    }
    let good: bool = token.as_bytes().ct_eq(app.console_token.as_bytes()).into();
    if !good {
        return Err((
            401,
            "open the console with the link the local stack printed at start-up",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Err(r) = check(&app, &headers, &q.token, false) {
        return refused(r.0, r.1);
    }
    let Ok(deps) = &app.handoff else {
        return console_page("<p>Creatio is not configured.</p>".to_owned());
    };
    let c = &deps.creatio;
    let mut cases = match c
        .query(
            "Case",
            None,
            &["Id", "Number", "Subject", "Symptoms", "StatusId"],
            Some(50),
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            return console_page(format!("<p>Creatio: {}</p>", escape(e.to_string())));
        }
    };
    // Newest first: case numbers count up.
    cases.sort_by_key(|c| std::cmp::Reverse(text(c, "Number")));
    let token = escape(app.console_token.as_str()).into_owned();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>casebridge console</title>\
         <style>body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}\
         .case{border:1px solid #ddd;border-radius:8px;padding:1rem;margin:1rem 0}\
         pre{white-space:pre-wrap;background:#f6f6f6;padding:.5rem}li{margin:.25rem 0;white-space:pre-wrap}\
         textarea{width:100%;min-height:4rem}</style></head><body>\
         <h1>Cases in Creatio</h1><p>What a rep sees. Reply below: the reply is added to the case as\
          an activity, and the webhook is called as the business process would call it.</p>",
    );
    if cases.is_empty() {
        html.push_str("<p>No cases yet. Open the <a href=\"/\">demo page</a>, chat, and ask for a person.</p>");
    }
    for case in &cases {
        let id = text(case, "Id");
        html.push_str(&format!(
            "<div class=\"case\"><h2>{} {}</h2><pre>{}</pre><ol>",
            escape(text(case, "Number")),
            escape(text(case, "Subject")),
            escape(text(case, "Symptoms"))
        ));
        let acts = match uuid_of(&id) {
            Some(u) => c
                .query(
                    "Activity",
                    Some(&Filter::eq_guid("Case/Id", u)),
                    &["Title", "Notes", "Body", "StartDate", "CreatedOn"],
                    Some(500),
                )
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let mut acts = acts;
        // By time; a question and its answer stored in one write share it, and the question
        // comes first.
        acts.sort_by_key(|a| {
            let s = text(a, "StartDate");
            let at = if s.is_empty() {
                text(a, "CreatedOn")
            } else {
                s
            };
            (at, !text(a, "Title").starts_with("Customer:"))
        });
        for a in acts {
            let body = [text(&a, "Notes"), text(&a, "Body")]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_default();
            html.push_str(&format!(
                "<li><b>{}</b><br>{}</li>",
                escape(text(&a, "Title")),
                escape(body)
            ));
        }
        html.push_str(&format!(
            "</ol><form method=\"post\" action=\"/console/reply\"><input type=\"hidden\" name=\"case_id\" value=\"{id}\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <label>Reply as an agent<textarea name=\"text\" required></textarea></label>\
             <button>Send reply</button></form>\
             <form method=\"post\" action=\"/console/resolve\"><input type=\"hidden\" name=\"case_id\" value=\"{id}\">\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\
             <button>Resolve the case</button></form></div>",
            id = escape(&id),
        ));
    }
    if let Some(t) = &app.twilio {
        html.push_str("<h1>SMS sent to customers</h1><ol>");
        for m in t.sent() {
            html.push_str(&format!("<li>to {}: {}</li>", escape(m.to), escape(m.body)));
        }
        html.push_str("</ol>");
    }
    html.push_str("</body></html>");
    console_page(html)
}

/// Back to the console, with its token.
fn back(app: &App) -> Response {
    Redirect::to(&format!("/console?token={}", app.console_token)).into_response()
}

fn uuid_of(s: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(s).ok()
}

#[derive(Deserialize)]
pub struct ReplyForm {
    case_id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    token: String,
}

/// Calls the webhook as Creatio's "Call web service" element would.
async fn call_webhook(app: &App, body: Value) -> Result<(), String> {
    let base = app
        .config
        .public_base_url
        .as_ref()
        .ok_or("PUBLIC_BASE_URL is not set")?;
    let tokens = app.config.webhook_tokens().map_err(|e| e.to_string())?;
    let token = &tokens[0];
    let r = casebridge::http::client(std::time::Duration::from_secs(10))
        .map_err(|e| e.to_string())?
        .post(base.join("/creatio/reply"))
        .bearer_auth(token.expose_secret())
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("webhook answered {}", r.status()))
    }
}

pub async fn reply(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<ReplyForm>,
) -> Response {
    if let Err(r) = check(&app, &headers, &f.token, true) {
        return refused(r.0, r.1);
    }
    let (Ok(deps), Some(case)) = (&app.handoff, uuid_of(&f.case_id)) else {
        return back(&app);
    };
    if f.text.trim().is_empty() {
        return back(&app);
    }
    let activity = uuid::Uuid::new_v4();
    let created = deps
        .creatio
        .create(
            "Activity",
            activity,
            // As a rep's e-mail reply from the case: an outgoing HTML e-mail.
            json!({
                "Title": "RE: your case",
                "Body": f.text,
                "IsHtmlBody": true,
                "TypeId": casebridge::creatio::base_ids::ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": casebridge::creatio::base_ids::EMAIL_TYPE_OUTGOING,
                "CaseId": case.to_string(),
            }),
        )
        .await;
    if let Err(e) = created {
        return console_page(format!("<p>Creatio: {}</p>", escape(e.to_string())));
    }
    let body = json!({"event_type": "new_activity", "caseId": case.to_string(), "activityId": activity.to_string()});
    match call_webhook(&app, body).await {
        Ok(()) => back(&app),
        Err(e) => console_page(format!("<p>{}</p>", escape(e))),
    }
}

pub async fn resolve(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<ReplyForm>,
) -> Response {
    if let Err(r) = check(&app, &headers, &f.token, true) {
        return refused(r.0, r.1);
    }
    let (Ok(deps), Some(case)) = (&app.handoff, uuid_of(&f.case_id)) else {
        return back(&app);
    };
    let status = casebridge::creatio::base_ids::CASE_STATUS_RESOLVED;
    if let Err(e) = deps
        .creatio
        .patch("Case", case, json!({"StatusId": status}))
        .await
    {
        return console_page(format!("<p>Creatio: {}</p>", escape(e.to_string())));
    }
    match call_webhook(
        &app,
        json!({"event_type": "case_updated", "caseId": case.to_string()}),
    )
    .await
    {
        Ok(()) => back(&app),
        Err(e) => console_page(format!("<p>{}</p>", escape(e))),
    }
}
