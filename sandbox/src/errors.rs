//! How the sandbox answers, in Creatio's shapes: the OData error envelope, ASP.NET's, an HTML
//! page, and the data errors a real Creatio answers with HTTP 500, in the wording of its
//! database (SQL Server or PostgreSQL), with the database's message inside `innererror` and a
//! generic top-level message, as live instances show.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Which database's words a data error uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    SqlServer,
    Postgres,
}

pub fn odata_error(status: u16, message: &str) -> Response {
    json_response(status, json!({"error": {"code": "", "message": message}}))
}

pub fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "application/json; odata.metadata=minimal")],
        body.to_string(),
    )
        .into_response()
}

pub fn html(status: u16, body: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "text/html; charset=utf-8")],
        body.to_owned(),
    )
        .into_response()
}

/// ASP.NET Web API's answer for an entity set with no controller.
pub fn no_such_entity_set(url: &str, entity: &str) -> Response {
    json_response(
        404,
        json!({
            "Message": format!("No HTTP resource was found that matches the request URI '{url}'."),
            "MessageDetail": format!("No type was found that matches the controller named '{entity}'."),
        }),
    )
}

/// A data error: what the database refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// A lookup names a row that does not exist.
    ForeignKey {
        entity: String,
        column: String,
        target: String,
        value: String,
    },
    /// A text is longer than its column.
    TooLong {
        entity: String,
        column: String,
        max: usize,
    },
    /// A required column is empty.
    Required { entity: String, column: String },
    /// The `Id` is taken.
    Duplicate { entity: String, id: String },
}

impl DataError {
    /// The database's own message, in `dialect`.
    pub fn message(&self, dialect: Dialect) -> String {
        match (self, dialect) {
            (
                DataError::ForeignKey {
                    entity,
                    column,
                    target,
                    ..
                },
                Dialect::SqlServer,
            ) => format!(
                "The INSERT statement conflicted with the FOREIGN KEY constraint \"FK{entity}{column}\". The conflict occurred in database \"creatio\", table \"dbo.{target}\", column 'Id'.\r\nThe statement has been terminated."
            ),
            (
                DataError::ForeignKey {
                    entity,
                    column,
                    target,
                    value,
                },
                Dialect::Postgres,
            ) => format!(
                "23503: insert or update on table \"{entity}\" violates foreign key constraint \"FK{entity}{column}\"\n\nDETAIL: Key ({column})=({value}) is not present in table \"{target}\"."
            ),
            (DataError::TooLong { entity, column, .. }, Dialect::SqlServer) => format!(
                "String or binary data would be truncated in table 'creatio.dbo.{entity}', column '{column}'. Truncated value: ''."
            ),
            (DataError::TooLong { max, .. }, Dialect::Postgres) => {
                format!("22001: value too long for type character varying({max})")
            }
            (DataError::Required { entity, column }, _) => {
                format!("Column \"{column}\" of object \"{entity}\" must be filled in")
            }
            (DataError::Duplicate { entity, id }, Dialect::SqlServer) => format!(
                "Violation of PRIMARY KEY constraint 'PK{entity}Id'. Cannot insert duplicate key in object 'dbo.{entity}'. The duplicate key value is ({id}).\r\nThe statement has been terminated."
            ),
            (DataError::Duplicate { entity, .. }, Dialect::Postgres) => {
                format!("23505: duplicate key value violates unique constraint \"PK{entity}Id\"")
            }
        }
    }

    /// The answer: `status` (500, as Creatio answers data errors), a generic top-level
    /// message, the database's message inside.
    pub fn response(&self, dialect: Dialect, status: u16) -> Response {
        let message = self.message(dialect);
        let db_type = match dialect {
            Dialect::SqlServer => "System.Data.SqlClient.SqlException",
            Dialect::Postgres => "Npgsql.PostgresException",
        };
        json_response(
            status,
            json!({"error": {
                "code": "",
                "message": "An error has occurred.",
                "innererror": {
                    "message": message,
                    "type": "Terrasoft.Common.DbOperationException",
                    "stacktrace": "",
                    "internalexception": {
                        "message": message,
                        "type": db_type,
                        "stacktrace": "",
                    },
                },
            }}),
        )
    }
}
