//! One error type for everything Creatio can answer, classified from the body, not only the
//! status, with Creatio's own message kept.
//!
//! A real Creatio answers a data error with HTTP 500: a lookup naming a row that does not exist
//! (SQL Server "The INSERT statement conflicted with the FOREIGN KEY constraint", PostgreSQL
//! 23503), a text too long for its column ("String or binary data would be truncated", 22001
//! "value too long for type"), a required column left empty ("Column … must be filled in", 23502,
//! "Cannot insert the value NULL"), a duplicate key (23505, "Violation of PRIMARY KEY"). Retrying
//! those only repeats the refusal, so they are [`CreatioError::Data`]: permanent. Every other 5xx,
//! 429 and no answer at all stay transient. The useful words are usually inside
//! (`error.innererror.internalexception.message`, or ASP.NET's `ExceptionMessage` /
//! `MessageDetail`) under a generic "An error has occurred.".

/// What kind of data Creatio refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataErrorKind {
    /// A lookup value names a row that does not exist.
    ForeignKey,
    /// A text is longer than its column.
    TooLong,
    /// A required column is empty.
    Required,
    /// The record's key is taken.
    Duplicate,
}

impl DataErrorKind {
    pub fn describe(&self) -> &'static str {
        match self {
            DataErrorKind::ForeignKey => "a lookup value that does not exist",
            DataErrorKind::TooLong => "a value too long for its column",
            DataErrorKind::Required => "a required column left empty",
            DataErrorKind::Duplicate => "a duplicate key",
        }
    }

    /// Recognises the database's words (SQL Server and PostgreSQL) and Creatio's own.
    pub fn of_message(message: &str) -> Option<Self> {
        let m = message.to_ascii_lowercase();
        let any = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
        if any(&["foreign key constraint", "23503", "is not present in table"]) {
            Some(DataErrorKind::ForeignKey)
        } else if any(&["would be truncated", "value too long for type", "22001"]) {
            Some(DataErrorKind::TooLong)
        } else if any(&[
            "must be filled in",
            "23502",
            "violates not-null constraint",
            "cannot insert the value null",
        ]) {
            Some(DataErrorKind::Required)
        } else if any(&[
            "23505",
            "duplicate key",
            "violation of primary key",
            "violation of unique key",
        ]) {
            Some(DataErrorKind::Duplicate)
        } else {
            None
        }
    }
}

/// What went wrong talking to Creatio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreatioError {
    /// Credentials refused (forms login `Code` ≠ 0, OAuth `invalid_client`, no identity server).
    /// Not retried: a person must fix the configuration.
    #[error("Creatio refused the credentials: {0}")]
    Auth(String),
    /// Creatio refused the data (HTTP 500 on the instances seen): permanent.
    #[error("Creatio refused the data ({}): {message}", kind.describe())]
    Data {
        status: u16,
        kind: DataErrorKind,
        message: String,
    },
    /// The sign-in works but this entity is refused: a right the integration user lacks (403
    /// after a fresh sign-in), or an entity set this instance does not have (404 "No type was
    /// found", or 401 right after a fresh sign-in). Permanent.
    #[error("{}", describe_no_access(entity, *status, message))]
    NoAccess {
        entity: String,
        status: u16,
        message: String,
    },
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

fn describe_no_access(entity: &str, status: u16, message: &str) -> String {
    match status {
        403 => format!(
            "the integration user may not use {entity} (HTTP 403: {message}): grant it the rights on {entity} in System Designer → Object permissions (read, and add and edit where casebridge writes)"
        ),
        _ => format!(
            "Creatio does not serve {entity} to this user (HTTP {status} though the sign-in works: {message}): the object does not exist on this instance, or the integration user has no rights on it (System Designer → Object permissions)"
        ),
    }
}

impl CreatioError {
    /// Creatio's non-2xx answer to a request on `entity`, classified from its status and body.
    pub fn from_answer(status: u16, body: &str, entity: &str) -> Self {
        let message = error_message(status, body);
        if status == 403 || (status == 404 && message.contains("No type was found")) {
            return CreatioError::NoAccess {
                entity: entity.to_owned(),
                status,
                message,
            };
        }
        if status >= 400
            && status != 429
            && let Some(kind) = DataErrorKind::of_message(&message)
        {
            return CreatioError::Data {
                status,
                kind,
                message,
            };
        }
        CreatioError::Api { status, message }
    }

    /// Worth retrying: 429, a 5xx that is not a data error, and no answer at all. Data errors,
    /// 400/403/404 and bad credentials are not.
    pub fn is_transient(&self) -> bool {
        match self {
            CreatioError::Transport(_) => true,
            CreatioError::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            CreatioError::Api { status, .. }
            | CreatioError::Data { status, .. }
            | CreatioError::NoAccess { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn data_kind(&self) -> Option<DataErrorKind> {
        match self {
            CreatioError::Data { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// Reads Creatio's message out of an error body, the most specific first: the database's words
/// inside the OData envelope (`error.innererror.internalexception.message`, then
/// `error.innererror.message`), ASP.NET's `ExceptionMessage` and `MessageDetail`, then the
/// top-level `error.message` (sometimes an object `{"value":…}`) or `Message`, and failing all,
/// a trimmed start of the raw text. At most [`MAX_ERROR_CHARS`] characters: it ends up in logs
/// and in the session's `sync_error`.
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

fn text_of(v: Option<&serde_json::Value>) -> Option<String> {
    let v = v?;
    v.as_str()
        .or_else(|| v.get("value").and_then(|x| x.as_str()))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("\r\n", " ").replace('\n', " "))
}

fn full_error_message(status: u16, body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let inner = v.get("error").and_then(|e| e.get("innererror"));
        let candidates = [
            inner
                .and_then(|i| i.get("internalexception"))
                .and_then(|x| x.get("message")),
            inner.and_then(|i| i.get("message")),
            v.get("ExceptionMessage"),
            v.get("MessageDetail"),
            v.get("error").and_then(|e| e.get("message")),
            v.get("Message"),
            v.get("message"),
            v.get("error_description"),
            v.get("error"),
        ];
        if let Some(m) = candidates.into_iter().find_map(text_of) {
            return m;
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
    fn every_error_shape_yields_creatios_most_specific_message() {
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
                r#"{"Message":"An error has occurred.","ExceptionMessage":"Column \"Subject\" must be filled in","ExceptionType":"System.Exception","StackTrace":"..."}"#
            ),
            "Column \"Subject\" must be filled in"
        );
        assert_eq!(
            error_message(
                500,
                r#"{"Message":"An error has occurred.","ExceptionType":"System.Exception"}"#
            ),
            "An error has occurred."
        );
        assert_eq!(
            error_message(
                404,
                r#"{"Message":"No HTTP resource was found that matches the request URI 'x'.","MessageDetail":"No type was found that matches the controller named 'UsrThing'."}"#
            ),
            "No type was found that matches the controller named 'UsrThing'."
        );
        assert_eq!(
            error_message(
                500,
                r#"{"error":{"code":"","message":"An error has occurred.","innererror":{"message":"outer","type":"T","internalexception":{"message":"23503: insert or update on table \"Case\" violates foreign key constraint\n\nDETAIL: Key (GroupId)=(x) is not present in table \"SysAdminUnit\".","type":"Npgsql.PostgresException"}}}}"#
            ),
            "23503: insert or update on table \"Case\" violates foreign key constraint  DETAIL: Key (GroupId)=(x) is not present in table \"SysAdminUnit\"."
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
    fn data_errors_are_permanent_whatever_their_status_and_the_rest_is_classified_by_status() {
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
        let cases = [
            (
                "The INSERT statement conflicted with the FOREIGN KEY constraint \"FK1\". The conflict occurred in database \"c\", table \"dbo.SysAdminUnit\", column 'Id'.",
                DataErrorKind::ForeignKey,
            ),
            (
                "23503: insert or update on table \"Case\" violates foreign key constraint \"FK1\"",
                DataErrorKind::ForeignKey,
            ),
            (
                "String or binary data would be truncated in table 'c.dbo.Case', column 'UsrTopic'.",
                DataErrorKind::TooLong,
            ),
            (
                "22001: value too long for type character varying(50)",
                DataErrorKind::TooLong,
            ),
            (
                "Column \"Name\" of object \"Contact\" must be filled in",
                DataErrorKind::Required,
            ),
            (
                "23505: duplicate key value violates unique constraint \"PKCaseId\"",
                DataErrorKind::Duplicate,
            ),
            (
                "Violation of PRIMARY KEY constraint 'PKCaseId'. Cannot insert duplicate key",
                DataErrorKind::Duplicate,
            ),
        ];
        for (message, kind) in cases {
            let body = serde_json::json!({"error": {"code": "", "message": "An error has occurred.", "innererror": {"message": message}}});
            let e = CreatioError::from_answer(500, &body.to_string(), "Case");
            assert_eq!(e.data_kind(), Some(kind), "{message}");
            assert!(!e.is_transient(), "{message}");
        }
        // A plain server failure stays transient.
        let e =
            CreatioError::from_answer(500, r#"{"error":{"message":"Timeout expired"}}"#, "Case");
        assert!(e.is_transient());
    }

    #[test]
    fn a_refused_entity_is_named_with_the_right_to_grant() {
        let e = CreatioError::from_answer(
            403,
            r#"{"error":{"message":"The user does not have the rights to perform this operation on object \"Case\""}}"#,
            "Case",
        );
        assert!(!e.is_transient());
        let text = e.to_string();
        assert!(
            text.contains("may not use Case") && text.contains("Object permissions"),
            "{text}"
        );
        let e = CreatioError::from_answer(
            404,
            r#"{"Message":"No HTTP resource was found","MessageDetail":"No type was found that matches the controller named 'UsrThing'."}"#,
            "UsrThing",
        );
        assert!(matches!(e, CreatioError::NoAccess { status: 404, .. }));
        assert!(e.to_string().contains("does not exist on this instance"));
    }
}
