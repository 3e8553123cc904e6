//! OData building blocks: filter literals, entity paths, `$batch` request and response shapes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A `$filter` expression built only from escaped literals, so that a customer's phone, email or
/// name can neither break the filter nor change its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    /// `Column eq 'value'`, with `'` doubled as OData requires.
    pub fn eq_str(column: &str, value: &str) -> Self {
        Filter(format!("{column} eq {}", string_literal(value)))
    }

    /// `Column eq <guid>` (GUID literals are unquoted). For a lookup, pass the navigation path
    /// (`Case/Id`): some Creatio versions reject `CaseId eq …`.
    pub fn eq_guid(path: &str, value: Uuid) -> Self {
        Filter(format!("{path} eq {}", value.hyphenated()))
    }

    /// `startswith(Column,'value')`, the value escaped as any literal.
    pub fn starts_with(column: &str, value: &str) -> Self {
        Filter(format!("startswith({column},{})", string_literal(value)))
    }

    /// `Column gt <date>` (`CreatedOn gt 2026-12-04T10:00:00.123456Z`).
    pub fn after(column: &str, at: jiff::Timestamp) -> Self {
        Filter(format!("{column} gt {}", date_literal(at)))
    }

    /// Any of `filters`, or None for none.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Self> {
        filters.into_iter().reduce(Filter::or)
    }

    pub fn or(self, other: Filter) -> Self {
        Filter(format!("({}) or ({})", self.0, other.0))
    }

    pub fn and(self, other: Filter) -> Self {
        Filter(format!("({}) and ({})", self.0, other.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An OData string literal: single quotes around, embedded `'` doubled.
pub fn string_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A lookup column of an OData row (`StatusId`, `CaseId`…) as an id, or None when it is empty.
/// Creatio reads an empty lookup back as the zero GUID, not as `null`; both (and a missing or
/// malformed value) are None here, so no caller mistakes "empty" for a record.
pub fn lookup_value(row: &Value, column: &str) -> Option<Uuid> {
    row.get(column)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::try_parse(s.trim().trim_matches(['{', '}'])).ok())
        .filter(|id| !id.is_nil())
}

/// A text column, with Creatio's empty text (`""`) and `null` both None.
pub fn text_value<'a>(row: &'a Value, column: &str) -> Option<&'a str> {
    row.get(column)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A date column, with Creatio's empty date (`0001-01-01T00:00:00Z`) and `null` both None.
pub fn date_value(row: &Value, column: &str) -> Option<jiff::Timestamp> {
    text_value(row, column)
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .filter(|t| t.as_second() > EMPTY_DATE_BEFORE)
}

/// Seconds of `0002-01-01T00:00:00Z`: Creatio's empty date is `0001-01-01T00:00:00Z`.
const EMPTY_DATE_BEFORE: i64 = -62_104_060_800;

/// An OData 4 `DateTimeOffset` literal: unquoted, UTC with `Z` (Creatio refuses a quoted date,
/// and takes one without a zone as invalid or as the empty date).
pub fn date_literal(at: jiff::Timestamp) -> String {
    at.to_string()
}

/// `Entity(guid)`.
pub fn entity_path(entity: &str, id: Uuid) -> String {
    format!("{entity}({})", id.hyphenated())
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchBody<'a> {
    pub requests: Vec<BatchSubRequest<'a>>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct BatchSubRequest<'a> {
    pub method: &'a str,
    pub url: String,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<&'a Value>,
    pub headers: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchResponseBody {
    #[serde(default)]
    pub responses: Vec<BatchSubResponse>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BatchSubResponse {
    pub id: String,
    pub status: u16,
    #[serde(default)]
    pub body: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_read_as_none_as_creatio_renders_them() {
        let row = serde_json::json!({
            "StatusId": "00000000-0000-0000-0000-000000000000",
            "OwnerId": null,
            "CaseId": "3E7F420C-F46B-1410-FC9A-0050BA5D6C38",
            "Notes": "",
            "Title": "Hi",
            "ClosureDate": "0001-01-01T00:00:00Z",
            "CreatedOn": "2019-07-15T23:02:53.323936Z",
        });
        assert_eq!(lookup_value(&row, "StatusId"), None);
        assert_eq!(lookup_value(&row, "OwnerId"), None);
        assert_eq!(lookup_value(&row, "Missing"), None);
        assert_eq!(
            lookup_value(&row, "CaseId").unwrap().to_string(),
            "3e7f420c-f46b-1410-fc9a-0050ba5d6c38"
        );
        assert_eq!(text_value(&row, "Notes"), None);
        assert_eq!(text_value(&row, "Title"), Some("Hi"));
        assert_eq!(date_value(&row, "ClosureDate"), None);
        assert_eq!(
            date_value(&row, "CreatedOn").unwrap().to_string(),
            "2019-07-15T23:02:53.323936Z"
        );
    }

    #[test]
    fn quotes_are_doubled_and_operators_stay_inside_the_literal() {
        assert_eq!(
            Filter::eq_str("Name", "O'Brien").as_str(),
            "Name eq 'O''Brien'"
        );
        let hostile = "x' or Name ne 'y";
        assert_eq!(
            Filter::eq_str("Email", hostile).as_str(),
            "Email eq 'x'' or Name ne ''y'"
        );
        let id = Uuid::nil();
        assert_eq!(
            Filter::eq_guid("Case/Id", id).as_str(),
            "Case/Id eq 00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            Filter::starts_with("SearchNumber", "7654321555").as_str(),
            "startswith(SearchNumber,'7654321555')"
        );
        let at: jiff::Timestamp = "2026-12-04T10:00:00.323936Z".parse().unwrap();
        assert_eq!(
            Filter::after("CreatedOn", at).as_str(),
            "CreatedOn gt 2026-12-04T10:00:00.323936Z"
        );
        assert_eq!(
            Filter::eq_str("MobilePhone", "+1")
                .or(Filter::eq_str("Phone", "+1"))
                .as_str(),
            "(MobilePhone eq '+1') or (Phone eq '+1')"
        );
    }
}
