//! One error type for everything Creatio can answer, with Creatio's own message kept.

/// What went wrong talking to Creatio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreatioError {
    /// Credentials refused (forms login `Code` ≠ 0, OAuth `invalid_client`, 401 after a fresh
    /// login). Not retried: a person must fix the configuration.
    #[error("Creatio refused the credentials: {0}")]
    Auth(String),
    /// Creatio answered with an error status; `message` is Creatio's own text.
    #[error("Creatio answered {status}: {message}")]
    Api { status: u16, message: String },
    /// No answer: DNS, connect, TLS, reset or timeout.
    #[error("Creatio did not answer: {0}")]
    Transport(String),
    /// An answer casebridge cannot read (not JSON where JSON was due, missing fields).
    #[error("unexpected answer from Creatio: {0}")]
    Protocol(String),
    /// A lookup value (e.g. CasePriority `Urgent`) that has no row.
    #[error("{entity} has no row named {name:?}")]
    LookupNotFound { entity: String, name: String },
}

impl CreatioError {
    /// Worth retrying: 429, 5xx, and no answer at all. 400/403/404 and bad credentials are not.
    pub fn is_transient(&self) -> bool {
        match self {
            CreatioError::Transport(_) => true,
            CreatioError::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CreatioError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Reads Creatio's message out of an error body: the OData envelope
/// `{"error":{"code","message":…}}` (message sometimes an object `{"value":…}`), the ASP.NET shape
/// `{"Message","ExceptionType",…}`, or, failing both, a trimmed start of the raw text. At most
/// [`MAX_ERROR_CHARS`] characters: it ends up in logs and in the session's `sync_error`.
pub fn error_message(status: u16, body: &str) -> String {
    let m = full_error_message(status, body);
    if m.chars().count() > MAX_ERROR_CHARS {
        let mut cut: String = m.chars().take(MAX_ERROR_CHARS - 1).collect();
        cut.push('…');
        cut
    } else {
        m
    }
}

pub const MAX_ERROR_CHARS: usize = 500;

fn full_error_message(status: u16, body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let odata = v.get("error").and_then(|e| e.get("message")).and_then(|m| {
            m.as_str()
                .map(str::to_owned)
                .or_else(|| m.get("value").and_then(|x| x.as_str()).map(str::to_owned))
        });
        if let Some(m) = odata {
            return m;
        }
        for key in ["Message", "message", "error_description"] {
            if let Some(m) = v.get(key).and_then(|m| m.as_str()) {
                return m.to_owned();
            }
        }
        if let Some(m) = v.get("error").and_then(|e| e.as_str()) {
            return m.to_owned();
        }
    }
    let text: String = body.trim().chars().take(200).collect();
    if text.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_yield_creatios_message() {
        assert_eq!(
            error_message(
                400,
                r#"{"error":{"code":"","message":"The property 'UsrFoo' does not exist on type 'Case'."}}"#
            ),
            "The property 'UsrFoo' does not exist on type 'Case'."
        );
        assert_eq!(
            error_message(
                500,
                r#"{"Message":"An error has occurred.","ExceptionType":"System.Exception","StackTrace":"..."}"#
            ),
            "An error has occurred."
        );
        assert_eq!(
            error_message(400, r#"{"error":{"message":{"lang":"en","value":"Bad"}}}"#),
            "Bad"
        );
        assert_eq!(
            error_message(502, "<html>Bad gateway</html>"),
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_message(503, ""), "HTTP 503 with an empty body");
    }

    #[test]
    fn transient_and_permanent_are_told_apart() {
        let api = |status| CreatioError::Api {
            status,
            message: String::new(),
        };
        for s in [429, 500, 502, 503, 504] {
            assert!(api(s).is_transient(), "{s}");
        }
        for s in [400, 401, 403, 404, 409] {
            assert!(!api(s).is_transient(), "{s}");
        }
        assert!(CreatioError::Transport("reset".into()).is_transient());
        assert!(!CreatioError::Auth("no".into()).is_transient());
    }
}
