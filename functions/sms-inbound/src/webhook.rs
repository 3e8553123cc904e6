//! Reading a Twilio webhook: the signature check and the form.
//!
//! The signature is checked against `PUBLIC_BASE_URL` + the route path (+ the query string), not
//! against the URL API Gateway reconstructs, because that is the URL Twilio was given and signed.
//! Only after the check is the form trusted; unknown fields are ignored but, like every field,
//! part of the signature.

use casebridge::config::BaseUrl;
use casebridge::conversation::sms::InboundSms;
use casebridge::domain::{Attachment, PhoneNumber, ProviderMessageId};
use casebridge::sms::signature;
use lambda_http::{Body, Request};
use secrecy::ExposeSecret;

use crate::{Deps, SmsError};

/// Twilio sends at most 10 media items per message.
const MAX_MEDIA: usize = 10;

/// A verified form: its fields as Twilio sent them.
#[derive(Debug, Clone)]
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn require(&self, name: &str) -> Result<&str, SmsError> {
        self.get(name)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| SmsError::BadRequest(format!("form field {name} is missing")))
    }
}

/// Checks `X-Twilio-Signature` and parses the form. API Gateway may deliver the body base64
/// encoded; lambda_http has decoded it into `Body::Binary` by the time it gets here.
/// Largest webhook body read.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn authenticate(event: &Request, deps: &Deps, path: &str) -> Result<Form, SmsError> {
    let bytes: &[u8] = match event.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    // Twilio's forms are a few KB (a body is at most 1,600 characters); anything far larger is
    // not Twilio, and is refused before it is parsed or hashed.
    if bytes.len() > MAX_FORM_BYTES {
        return Err(SmsError::TooLarge(MAX_FORM_BYTES));
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    let sig = event
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or(SmsError::MissingSignature)?;
    let mut url = match &deps.public_base_url {
        Some(base) => base.join(path),
        None => {
            let host = event
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .ok_or(SmsError::BadSignature)?;
            BaseUrl::from_host(host)
                .map_err(|_| SmsError::BadSignature)?
                .join(path)
        }
    };
    if let Some(q) = event.uri().query().filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    if !deps
        .signing_tokens
        .iter()
        .any(|token| signature::verify(token.expose_secret(), &url, &params, sig))
    {
        return Err(SmsError::BadSignature);
    }
    Ok(Form(params))
}

/// The inbound message fields casebridge uses, from a verified form.
pub fn parse_inbound(form: &Form) -> Result<InboundSms, SmsError> {
    let sid_raw = form
        .get("MessageSid")
        .or_else(|| form.get("SmsSid"))
        .ok_or_else(|| SmsError::BadRequest("form field MessageSid is missing".into()))?;
    let sid = ProviderMessageId::parse(sid_raw)
        .map_err(|e| SmsError::BadRequest(format!("MessageSid: {e}")))?;
    // Twilio sends numbers in E.164 (`+14017…`, its webhook reference): read as such, without
    // the numbering-plan metadata (see `PhoneNumber::from_e164`).
    let phone = |field: &str| -> Result<PhoneNumber, SmsError> {
        PhoneNumber::from_e164(form.require(field)?)
            .map_err(|e| SmsError::BadRequest(format!("{field}: {e}")))
    };
    let from = phone("From")?;
    let to = phone("To")?;
    let num_media = match form.get("NumMedia") {
        None | Some("") => 0,
        Some(n) => n
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_MEDIA)
            .ok_or_else(|| SmsError::BadRequest("NumMedia must be 0 to 10".into()))?,
    };
    let media = (0..num_media)
        .filter_map(|i| {
            let url = form.get(&format!("MediaUrl{i}"))?;
            Some(Attachment {
                url: url.to_owned(),
                content_type: form.get(&format!("MediaContentType{i}")).map(str::to_owned),
            })
        })
        .collect();
    Ok(InboundSms {
        sid,
        from,
        to,
        body: form.get("Body").unwrap_or("").to_owned(),
        media,
    })
}
