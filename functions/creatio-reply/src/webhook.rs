//! Authenticating the business-process call and reading its body.
//!
//! The token comes as `Authorization: Bearer <token>` or as the last path segment of
//! `/creatio/reply/{token}` (for processes that cannot set headers). It is compared in constant
//! time (`subtle`, the constant-time crate RustCrypto builds on).
//!
//! The body: `{"event_type":"new_activity","caseId":"…","activityId":"…"}` (`caseId` optional:
//! the delivery reads the case from the activity) or `{"event_type":"case_updated","caseId":"…"}`. Keys are matched case-insensitively and with or
//! without underscores (`caseId`, `CaseId`, `case_id`), because Creatio's "Call web service"
//! element builds the body from whatever parameter names the process designer typed; GUIDs may
//! come with braces and in upper case. Other keys are ignored.

use casebridge::domain::{ActivityId, CaseId};
use lambda_http::{Body, Request, RequestExt};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::ReplyError;

/// Largest body accepted; the real ones are under 200 bytes.
const MAX_BODY: usize = 16 * 1024;

/// The presented token against each accepted one (two during a rotation), every one compared
/// in constant time.
pub fn authenticate(event: &Request, tokens: &[SecretString]) -> Result<(), ReplyError> {
    let presented = event
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .map(str::to_owned)
        .or_else(|| {
            event
                .path_parameters_ref()
                .and_then(|p| p.first("token"))
                .map(str::to_owned)
        })
        .or_else(|| {
            // Without API Gateway's path parameters (a direct invoke), the last path segment.
            let path = event.uri().path();
            path.strip_prefix("/creatio/reply/")
                .or_else(|| path.rsplit_once("/creatio/reply/").map(|(_, t)| t))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        })
        .ok_or(ReplyError::Unauthorized)?;
    let ok = tokens.iter().fold(subtle::Choice::from(0), |any, token| {
        any | presented.as_bytes().ct_eq(token.expose_secret().as_bytes())
    });
    if bool::from(ok) {
        Ok(())
    } else {
        Err(ReplyError::Unauthorized)
    }
}

/// What the process reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// An activity was added; the case when the process names it.
    NewActivity {
        activity_id: ActivityId,
        case_id: Option<CaseId>,
    },
    /// A case changed (its status may close the conversation).
    CaseUpdated { case_id: CaseId },
}

fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Call {
    pub fn parse(body: &Body) -> Result<Self, ReplyError> {
        let bytes: &[u8] = match body {
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => b"",
        };
        if bytes.is_empty() {
            return Err(ReplyError::BadRequest(
                "the body is empty; expected JSON with event_type and caseId".into(),
            ));
        }
        if bytes.len() > MAX_BODY {
            return Err(ReplyError::BadRequest(format!(
                "the body is over {MAX_BODY} bytes"
            )));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ReplyError::BadRequest(format!("the body is not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(ReplyError::BadRequest(
                "the body must be a JSON object".into(),
            ));
        };
        let get = |want: &str| {
            map.iter()
                .find(|(k, _)| normalise(k) == want)
                .map(|(_, v)| v)
        };
        let string = |want: &str, name: &str| -> Result<Option<String>, ReplyError> {
            match get(want) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
                Some(_) => Err(ReplyError::BadRequest(format!("{name} must be a string"))),
            }
        };
        let case_id =
            match string("caseid", "caseId")? {
                None => None,
                Some(raw) => Some(CaseId::parse(&raw).map_err(|_| {
                    ReplyError::BadRequest(format!("caseId is not a GUID: {raw:?}"))
                })?),
            };
        match string("eventtype", "event_type")?.as_deref() {
            Some("new_activity") => {
                let raw = string("activityid", "activityId")?.ok_or_else(|| {
                    ReplyError::BadRequest(
                        "activityId is missing (required for new_activity)".into(),
                    )
                })?;
                let activity_id = ActivityId::parse(&raw).map_err(|_| {
                    ReplyError::BadRequest(format!("activityId is not a GUID: {raw:?}"))
                })?;
                Ok(Call::NewActivity {
                    activity_id,
                    case_id,
                })
            }
            Some("case_updated") => Ok(Call::CaseUpdated {
                case_id: case_id.ok_or_else(|| {
                    ReplyError::BadRequest("caseId is missing (required for case_updated)".into())
                })?,
            }),
            Some(other) => Err(ReplyError::BadRequest(format!(
                "event_type {other:?} is not new_activity or case_updated"
            ))),
            None => Err(ReplyError::BadRequest("event_type is missing".into())),
        }
    }
}
