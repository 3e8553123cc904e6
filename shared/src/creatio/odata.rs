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
            Filter::eq_str("MobilePhone", "+1")
                .or(Filter::eq_str("Phone", "+1"))
                .as_str(),
            "(MobilePhone eq '+1') or (Phone eq '+1')"
        );
    }
}
