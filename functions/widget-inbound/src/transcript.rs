//! `GET /transcripts/{session}?sig=…`: the read-only transcript page the first case activity
//! links to. The signature (see `casebridge::widget::links`) must match the session; anything else is a
//! 404, so the page neither confirms nor denies that a session exists. Every value is
//! HTML-escaped (`quick-xml`'s escaper), so no message can inject markup into the rep's browser.

use casebridge::assistant::FieldContent;
use casebridge::domain::SessionId;
use casebridge::store::Store;
use casebridge::widget::links::verify_transcript_signature;
use jiff::Timestamp;
use lambda_http::{Body, Request, Response};
use quick_xml::escape::escape;
use secrecy::ExposeSecret;

use crate::{Deps, WidgetError};

pub(crate) fn sig_of(event: &Request) -> Option<String> {
    let q = event.uri().query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "sig")
        .map(|(_, v)| v.into_owned())
}

pub async fn page(
    store: &dyn Store,
    deps: &Deps,
    event: &Request,
    raw_id: &str,
    _now: Timestamp,
) -> Result<Response<Body>, WidgetError> {
    if event.method() != http::Method::GET {
        return Err(WidgetError::MethodNotAllowed);
    }
    let id = SessionId::parse(raw_id).map_err(|_| WidgetError::NotFound)?;
    let sig = sig_of(event).ok_or(WidgetError::NotFound)?;
    if !verify_transcript_signature(deps.widget.secret.expose_secret().as_bytes(), id, &sig) {
        return Err(WidgetError::NotFound);
    }
    let (session, transcript) = store.transcript(id).await?.ok_or(WidgetError::NotFound)?;
    let brief = deps.concierge.brief(&session, &transcript).await;
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Conversation transcript</title><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
         .m{border-left:3px solid #ccc;padding:.25rem .75rem;margin:.75rem 0;white-space:pre-wrap}\
         .customer{border-color:#2563eb}.assistant{border-color:#6b7280}.agent{border-color:#059669}\
         .system{border-color:#d97706;font-style:italic}.who{font-weight:600}.at{color:#6b7280;font-size:.85em}\
         pre{white-space:pre-wrap;background:#f5f5f5;padding:.75rem}</style></head><body>",
    );
    html.push_str("<h1>Conversation transcript</h1><dl>");
    let mut row = |k: &str, v: &str| {
        html.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)));
    };
    row("Session", &session.id.to_string());
    row("Channel", session.key.channel.as_str());
    row("State", session.state.as_str());
    row(
        "Handoff reason",
        session.handoff_reason.as_deref().unwrap_or("none"),
    );
    if let Some(link) = &session.creatio {
        row(
            "Creatio case",
            link.case_number
                .as_deref()
                .unwrap_or(&link.case_id.to_string()),
        );
    }
    for f in &brief.fields {
        let v = match &f.value {
            FieldContent::Text(t) => t.clone(),
            FieldContent::Lookup { name, .. } => name.clone(),
        };
        row(&format!("AI field {}", f.column), &v);
    }
    html.push_str("</dl><h2>Summary</h2><pre>");
    html.push_str(&escape(&brief.summary));
    html.push_str("</pre><h2>Messages</h2>");
    for m in &transcript {
        html.push_str(&format!(
            "<div class=\"m {role}\"><span class=\"who\">{role}</span> <span class=\"at\">{at}</span><div>{text}</div>",
            role = m.role.as_str(),
            at = escape(m.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()),
            text = escape(m.text.as_str()),
        ));
        if let Some(card) = &m.card {
            html.push_str(&format!(
                "<div class=\"at\">Answered by the action {}</div>",
                escape(&card.action)
            ));
        }
        for a in &m.attachments {
            // Only web links become links (an MMS media URL, our signed attachment link).
            if a.url.starts_with("https://") || a.url.starts_with("http://") {
                html.push_str(&format!(
                    "<div>Attachment: <a href=\"{url}\" rel=\"noopener noreferrer\">{url}</a>{ct}</div>",
                    url = escape(&a.url),
                    ct = a.content_type.as_deref().map(|t| format!(" ({})", escape(t))).unwrap_or_default(),
                ));
            } else {
                html.push_str(&format!("<div>Attachment: {}</div>", escape(&a.url)));
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</body></html>");
    let mut r = Response::new(Body::from(html));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        http::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("cache-control", http::HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        http::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert("x-robots-tag", http::HeaderValue::from_static("noindex"));
    Ok(r)
}
