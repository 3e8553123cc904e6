//! `GET /console`: the local stand-in for a rep's Creatio screen. It lists the cases in Creatio
//! (the embedded sandbox, or the instance `CREATIO_URL` names) with their activities, and offers
//! a form to reply as an agent. A reply creates an Activity on the case and then calls
//! `/creatio/reply` exactly as the business process would: POST, JSON body, bearer token.
//!
//! Everything shown is HTML-escaped.

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use casebridge::creatio::Filter;
use quick_xml::escape::escape;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::App;

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_owned()
}

pub async fn page(State(app): State<Arc<App>>) -> Response {
    let Ok(deps) = &app.handoff else {
        return Html("<p>Creatio is not configured.</p>".to_owned()).into_response();
    };
    let c = &deps.creatio;
    let cases = match c
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
            return Html(format!("<p>Creatio: {}</p>", escape(e.to_string()))).into_response();
        }
    };
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>casebridge console</title>\
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
        acts.sort_by_key(|a| {
            let s = text(a, "StartDate");
            if s.is_empty() {
                text(a, "CreatedOn")
            } else {
                s
            }
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
            "</ol><form method=\"post\" action=\"/console/reply\"><input type=\"hidden\" name=\"case_id\" value=\"{}\">\
             <label>Reply as an agent<textarea name=\"text\" required></textarea></label>\
             <button>Send reply</button></form>\
             <form method=\"post\" action=\"/console/resolve\"><input type=\"hidden\" name=\"case_id\" value=\"{}\">\
             <button>Resolve the case</button></form></div>",
            escape(&id),
            escape(&id)
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
    Html(html).into_response()
}

fn uuid_of(s: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(s).ok()
}

#[derive(Deserialize)]
pub struct ReplyForm {
    case_id: String,
    #[serde(default)]
    text: String,
}

/// Calls the webhook as Creatio's "Call web service" element would.
async fn call_webhook(app: &App, body: Value) -> Result<(), String> {
    let base = app
        .config
        .public_base_url
        .as_ref()
        .ok_or("PUBLIC_BASE_URL is not set")?;
    let token = app.config.webhook_token().map_err(|e| e.to_string())?;
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

pub async fn reply(State(app): State<Arc<App>>, Form(f): Form<ReplyForm>) -> Response {
    let (Ok(deps), Some(case)) = (&app.handoff, uuid_of(&f.case_id)) else {
        return Redirect::to("/console").into_response();
    };
    if f.text.trim().is_empty() {
        return Redirect::to("/console").into_response();
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
                "TypeId": casebridge::config::base_ids::ACTIVITY_TYPE_EMAIL,
                "MessageTypeId": casebridge::config::base_ids::EMAIL_TYPE_OUTGOING,
                "CaseId": case.to_string(),
            }),
        )
        .await;
    if let Err(e) = created {
        return Html(format!("<p>Creatio: {}</p>", escape(e.to_string()))).into_response();
    }
    let body = json!({"event_type": "new_activity", "caseId": case.to_string(), "activityId": activity.to_string()});
    match call_webhook(&app, body).await {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(e) => Html(format!("<p>{}</p>", escape(e))).into_response(),
    }
}

pub async fn resolve(State(app): State<Arc<App>>, Form(f): Form<ReplyForm>) -> Response {
    let (Ok(deps), Some(case)) = (&app.handoff, uuid_of(&f.case_id)) else {
        return Redirect::to("/console").into_response();
    };
    let status = casebridge::config::base_ids::CASE_STATUS_RESOLVED;
    if let Err(e) = deps
        .creatio
        .patch("Case", case, json!({"StatusId": status}))
        .await
    {
        return Html(format!("<p>Creatio: {}</p>", escape(e.to_string()))).into_response();
    }
    match call_webhook(
        &app,
        json!({"event_type": "case_updated", "caseId": case.to_string()}),
    )
    .await
    {
        Ok(()) => Redirect::to("/console").into_response(),
        Err(e) => Html(format!("<p>{}</p>", escape(e))).into_response(),
    }
}
