//! The sandbox's records and the OData operations on them: GET one or many (`$filter`,
//! `$select`, `$orderby`, `$top`), POST with a client-supplied `Id`, PATCH, DELETE, each
//! refusing what Creatio refuses (see `schema` and `errors`) and reading empty values back as
//! Creatio does. Saving a contact's phones and e-mail keeps its `ContactCommunication` rows, with
//! their `SearchNumber`, as Creatio's `CommunicationSynchronizer` does.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::errors::{DataError, Dialect, json_response, no_such_entity_set, odata_error};
use crate::filter;
use crate::schema::{self, Column, CustomColumn, Kind};

pub const ZERO_GUID: &str = "00000000-0000-0000-0000-000000000000";
pub const EMPTY_DATE: &str = "0001-01-01T00:00:00Z";

/// Now as Creatio renders a date: UTC, at most six fractional digits (trailing zeros dropped).
pub fn now_text() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Microsecond)
        .unwrap_or(now)
        .to_string()
}

/// How an entity set that does not exist is answered (Creatio has been seen to do both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownEntity {
    /// ASP.NET's 404 "No type was found that matches the controller named …".
    NotFound,
    /// 401, as if the session had lapsed.
    Unauthorized,
}

/// Creatio's most rows in one query's answer (seen on live instances; more is a 500).
pub const ROW_LIMIT: usize = 20_000;

/// A right the integration user lacks: `op` is `GET`, `POST`, `PATCH` or `DELETE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub entity: String,
    pub op: String,
}

pub struct Tables {
    /// entity → id → record, stored with `null` for empty values (rendered on the way out).
    pub rows: BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>>,
    pub custom: Vec<CustomColumn>,
    pub dialect: Dialect,
    pub duplicate_status: u16,
    pub unknown_entity: UnknownEntity,
    pub denied: Vec<Denied>,
    case_counter: u64,
    /// Set when a case was created by the current request (for `Sandbox::hold_next_case`).
    pub case_created: Option<Uuid>,
}

impl Tables {
    pub fn new(
        custom: Vec<CustomColumn>,
        dialect: Dialect,
        duplicate_status: u16,
        unknown_entity: UnknownEntity,
        denied: Vec<Denied>,
    ) -> Self {
        let mut rows: BTreeMap<String, BTreeMap<Uuid, Map<String, Value>>> = BTreeMap::new();
        for entity in [
            "Case",
            "Activity",
            "Contact",
            "ContactCommunication",
            "Account",
        ]
        .iter()
        .chain(schema::LOOKUPS)
        {
            rows.insert((*entity).into(), BTreeMap::new());
        }
        let mut t = Self {
            rows,
            custom,
            dialect,
            duplicate_status,
            unknown_entity,
            denied,
            case_counter: 0,
            case_created: None,
        };
        for (entity, id, name) in schema::SEED {
            let id = Uuid::parse_str(id).expect("seed GUIDs are valid");
            let mut row = t.empty_row(entity);
            row.insert("Id".into(), json!(id));
            row.insert("Name".into(), json!(name));
            t.rows.entry((*entity).into()).or_default().insert(id, row);
        }
        for (id, name, code) in schema::SYS_LANGUAGES {
            let id = Uuid::parse_str(id).expect("seed GUIDs are valid");
            let mut row = t.empty_row("SysLanguage");
            row.insert("Id".into(), json!(id));
            row.insert("Name".into(), json!(name));
            row.insert("Code".into(), json!(code));
            t.rows
                .entry("SysLanguage".into())
                .or_default()
                .insert(id, row);
        }
        t
    }

    /// The columns of `entity`, custom ones included; None when the entity set does not exist.
    pub fn columns(&self, entity: &str) -> Option<Vec<Column>> {
        let mut cols = schema::base_columns(entity)?;
        cols.extend(
            self.custom
                .iter()
                .filter(|c| c.entity == entity)
                .map(|c| c.column.clone()),
        );
        Some(cols)
    }

    fn empty_row(&self, entity: &str) -> Map<String, Value> {
        self.columns(entity)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, Value::Null))
            .collect()
    }

    fn exists(&self, entity: &str, id: Uuid) -> bool {
        self.rows.get(entity).is_some_and(|t| t.contains_key(&id))
    }

    /// A record written directly, as a Creatio user would (columns not given are empty).
    pub fn insert_direct(&mut self, entity: &str, fields: Map<String, Value>) -> Uuid {
        let id = fields
            .get("Id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .unwrap_or_else(Uuid::new_v4);
        let mut row = self.empty_row(entity);
        let now = now_text();
        row.insert("CreatedOn".into(), json!(now));
        row.insert("ModifiedOn".into(), json!(now));
        row.extend(fields);
        row.insert("Id".into(), json!(id));
        self.rows
            .entry(entity.into())
            .or_default()
            .insert(id, row.clone());
        if entity == "Contact" {
            self.sync_communications(id, &row);
        }
        id
    }

    /// A record as an OData client reads it: every column, empty values as Creatio renders them.
    pub fn render(
        columns: &[Column],
        row: &Map<String, Value>,
        select: Option<&[String]>,
    ) -> Value {
        let mut out = Map::new();
        out.insert("@odata.etag".into(), json!("W/\"1\""));
        for c in columns {
            if select.is_some_and(|s| !s.contains(&c.name)) {
                continue;
            }
            let v = row.get(&c.name).cloned().unwrap_or(Value::Null);
            let v = match (&c.kind, v) {
                (Kind::Lookup(_), Value::Null) => json!(ZERO_GUID),
                (Kind::Text(_), Value::Null) => json!(""),
                (Kind::Date, Value::Null) => json!(EMPTY_DATE),
                (Kind::Bool, Value::Null) => json!(false),
                (_, v) => v,
            };
            out.insert(c.name.clone(), v);
        }
        Value::Object(out)
    }

    fn denied(&self, entity: &str, op: &str) -> bool {
        self.denied.iter().any(|d| d.entity == entity && d.op == op)
    }

    /// One OData operation on `rest` (`Entity` or `Entity(guid)`), relative to the root.
    pub fn odata(
        &mut self,
        method: &str,
        rest: &str,
        q: &HashMap<String, String>,
        body: &[u8],
        url: &str,
    ) -> Response {
        let (entity, key) = match rest.split_once('(') {
            Some((e, k)) => match k
                .strip_suffix(')')
                .and_then(|k| Uuid::try_parse(k.trim_matches('\'')).ok())
            {
                Some(id) => (e, Some(id)),
                None => {
                    return odata_error(
                        400,
                        &format!("Bad Request - Error in query syntax: {rest}"),
                    );
                }
            },
            None => (rest, None),
        };
        let Some(columns) = self.columns(entity) else {
            return match self.unknown_entity {
                UnknownEntity::NotFound => no_such_entity_set(url, entity),
                UnknownEntity::Unauthorized => odata_error(401, "Unauthorized"),
            };
        };
        if self.denied(entity, method) {
            return odata_error(
                403,
                &format!(
                    "The user does not have the rights to perform this operation on object \"{entity}\""
                ),
            );
        }
        for k in q.keys() {
            if k.starts_with('$')
                && !matches!(
                    k.as_str(),
                    "$filter" | "$select" | "$top" | "$orderby" | "$skip" | "$count"
                )
            {
                return odata_error(400, &format!("The query parameter '{k}' is not supported."));
            }
        }
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let unknown = |bad: &str| {
            odata_error(
                400,
                &format!(
                    "Could not find a property named '{bad}' on type 'Terrasoft.Configuration.{entity}'."
                ),
            )
        };
        let select: Option<Vec<String>> = q
            .get("$select")
            .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect());
        if let Some(sel) = &select
            && let Some(bad) = sel.iter().find(|c| !names.contains(&c.as_str()))
        {
            return unknown(bad);
        }
        let plain = |r: Response| r;
        match (method, key) {
            ("GET", Some(id)) => match self.rows.get(entity).and_then(|t| t.get(&id)) {
                Some(row) => {
                    let mut v = Self::render(&columns, row, select.as_deref());
                    v["@odata.context"] = json!(format!("$metadata#{entity}/$entity"));
                    plain(json_response(200, v))
                }
                None => plain(odata_error(
                    404,
                    &format!("Resource not found for the segment '{entity}'."),
                )),
            },
            ("GET", None) => {
                let filter = match q.get("$filter").map(|f| filter::parse(f)).transpose() {
                    Ok(f) => f,
                    Err(e) => return plain(odata_error(400, &e)),
                };
                if let Some(f) = &filter {
                    let is_date = |c: &str| {
                        columns
                            .iter()
                            .any(|col| col.name == c && col.kind == Kind::Date)
                    };
                    if let Err(e) = f.check_types(&is_date) {
                        return plain(odata_error(400, &e));
                    }
                    let mut used = Vec::new();
                    f.columns(&mut used);
                    if let Some(bad) = used.iter().find(|c| !names.contains(&c.as_str())) {
                        return unknown(bad);
                    }
                }
                let top = match q.get("$top").map(|t| t.parse::<usize>()) {
                    None => None,
                    Some(Ok(t)) => Some(t),
                    Some(Err(_)) => return plain(odata_error(400, "Invalid value for $top")),
                };
                let skip = match q.get("$skip").map(|t| t.parse::<usize>()) {
                    None => 0,
                    Some(Ok(s)) => s,
                    Some(Err(_)) => return plain(odata_error(400, "Invalid value for $skip")),
                };
                let order = match q.get("$orderby") {
                    None => None,
                    Some(o) => {
                        let mut parts = o.split_whitespace();
                        let column = parts.next().unwrap_or("").to_owned();
                        let desc = match parts.next() {
                            None | Some("asc") => false,
                            Some("desc") => true,
                            Some(_) => return plain(odata_error(400, "Invalid $orderby")),
                        };
                        if !names.contains(&column.as_str()) {
                            return unknown(&column);
                        }
                        Some((column, desc))
                    }
                };
                let mut matching: Vec<&Map<String, Value>> = self
                    .rows
                    .get(entity)
                    .map(|t| {
                        t.values()
                            .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some((column, desc)) = &order {
                    // Dates by time, the rest as text.
                    let key = |r: &Map<String, Value>| -> (Option<jiff::Timestamp>, String) {
                        let v = r.get(column).and_then(Value::as_str).unwrap_or("");
                        (v.parse().ok(), v.to_owned())
                    };
                    matching.sort_by_key(|r| key(r));
                    if *desc {
                        matching.reverse();
                    }
                }
                let answered = matching.len().saturating_sub(skip);
                if top.unwrap_or(answered).min(answered) > ROW_LIMIT {
                    return plain(odata_error(
                        500,
                        &format!(
                            "The number of records returned by the query exceeds the allowed limit of {}.",
                            ROW_LIMIT
                        ),
                    ));
                }
                let rows: Vec<Value> = matching
                    .into_iter()
                    .skip(skip)
                    .take(top.unwrap_or(usize::MAX))
                    .map(|r| Self::render(&columns, r, select.as_deref()))
                    .collect();
                plain(json_response(
                    200,
                    json!({"@odata.context": format!("$metadata#{entity}"), "value": rows}),
                ))
            }
            ("POST", None) => self.create(entity, &columns, body),
            ("PATCH", Some(id)) => self.patch(entity, &columns, id, body),
            ("DELETE", Some(id)) => match self.rows.get_mut(entity).and_then(|t| t.remove(&id)) {
                Some(_) => StatusCode::NO_CONTENT.into_response(),
                None => plain(odata_error(
                    404,
                    &format!("Resource not found for the segment '{entity}'."),
                )),
            },
            _ => plain(odata_error(
                405,
                "The HTTP method is not allowed for this resource.",
            )),
        }
    }

    fn data_error(&self, e: DataError) -> Response {
        e.response(self.dialect, 500)
    }

    fn create(&mut self, entity: &str, columns: &[Column], body: &[u8]) -> Response {
        let fields = match self.validate(entity, columns, body) {
            Ok(f) => f,
            Err(r) => return *r,
        };
        let id = match fields.get("Id") {
            None | Some(Value::Null) => Uuid::new_v4(),
            Some(v) => match v.as_str().and_then(|s| Uuid::try_parse(s).ok()) {
                Some(id) => id,
                None => {
                    return odata_error(
                        400,
                        "Cannot convert the literal to the expected type 'Edm.Guid'.",
                    );
                }
            },
        };
        if self.exists(entity, id) {
            return DataError::Duplicate {
                entity: entity.into(),
                id: id.to_string(),
            }
            .response(self.dialect, self.duplicate_status);
        }
        let now = now_text();
        let mut row = self.empty_row(entity);
        for (k, v) in fields {
            row.insert(k, v);
        }
        row.insert("Id".into(), json!(id));
        row.insert("CreatedOn".into(), json!(now));
        row.insert("ModifiedOn".into(), json!(now));
        // What Creatio fills in itself.
        match entity {
            "Case" => {
                self.case_counter += 1;
                row.insert(
                    "Number".into(),
                    json!(format!("SR{:08}", self.case_counter)),
                );
                if row.get("RegisteredOn").is_none_or(Value::is_null) {
                    row.insert("RegisteredOn".into(), json!(now));
                }
            }
            "Activity" => {
                for (column, default) in [
                    ("TypeId", schema::ACTIVITY_TYPE_TASK),
                    ("ActivityCategoryId", schema::ACTIVITY_CATEGORY_TODO),
                    ("StatusId", schema::ACTIVITY_STATUS_NOT_STARTED),
                ] {
                    if row.get(column).is_none_or(Value::is_null) {
                        row.insert(column.into(), json!(default));
                    }
                }
                for column in ["StartDate", "DueDate"] {
                    if row.get(column).is_none_or(Value::is_null) {
                        row.insert(column.into(), json!(now));
                    }
                }
            }
            // "Preferred language" defaults to the system's default message language (English
            // here), as Customer 360 sets it.
            "Contact" if row.get("LanguageId").is_none_or(Value::is_null) => {
                row.insert("LanguageId".into(), json!(schema::SYS_LANGUAGES[0].0));
            }
            "ContactCommunication" => {
                let email = row.get("CommunicationTypeId").and_then(Value::as_str)
                    == Some(schema::COMMUNICATION_EMAIL);
                let number = row.get("Number").and_then(Value::as_str).unwrap_or("");
                row.insert(
                    "SearchNumber".into(),
                    json!(schema::search_number(number, email)),
                );
            }
            _ => {}
        }
        if let Some(c) = columns
            .iter()
            .find(|c| c.required && row.get(&c.name).is_none_or(is_empty))
        {
            return self.data_error(DataError::Required {
                entity: entity.into(),
                column: c.name.clone(),
            });
        }
        self.rows
            .entry(entity.into())
            .or_default()
            .insert(id, row.clone());
        if entity == "Case" && self.case_created.is_none() {
            self.case_created = Some(id);
        }
        if entity == "Contact" {
            self.sync_communications(id, &row);
        }
        let mut v = Self::render(columns, &row, None);
        v["@odata.context"] = json!(format!("$metadata#{entity}/$entity"));
        let mut resp = json_response(201, v);
        if let Ok(loc) = format!("{entity}({id})").parse() {
            resp.headers_mut().insert("location", loc);
        }
        resp
    }

    fn patch(&mut self, entity: &str, columns: &[Column], id: Uuid, body: &[u8]) -> Response {
        let fields = match self.validate(entity, columns, body) {
            Ok(f) => f,
            Err(r) => return *r,
        };
        if let Some(c) = columns
            .iter()
            .find(|c| c.required && fields.get(&c.name).is_some_and(is_empty))
        {
            return self.data_error(DataError::Required {
                entity: entity.into(),
                column: c.name.clone(),
            });
        }
        let Some(row) = self.rows.get_mut(entity).and_then(|t| t.get_mut(&id)) else {
            return odata_error(
                404,
                &format!("Resource not found for the segment '{entity}'."),
            );
        };
        for (k, v) in fields {
            if k != "Id" {
                row.insert(k, v);
            }
        }
        row.insert("ModifiedOn".into(), json!(now_text()));
        let row = row.clone();
        if entity == "Contact" {
            self.sync_communications(id, &row);
        }
        StatusCode::NO_CONTENT.into_response()
    }

    /// A write body: a JSON object of the entity's columns, each of its type. A lookup names an
    /// existing row (the zero GUID is empty), a text fits its column.
    fn validate(
        &self,
        entity: &str,
        columns: &[Column],
        body: &[u8],
    ) -> Result<Map<String, Value>, Box<Response>> {
        let bad = |m: String| Box::new(odata_error(400, &m));
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| bad(format!("The request body is not valid JSON: {e}")))?;
        let Value::Object(fields) = v else {
            return Err(bad("The request body must be a JSON object.".into()));
        };
        let mut out = Map::new();
        for (k, v) in fields {
            if k.starts_with("@odata") {
                continue;
            }
            let Some(c) = columns.iter().find(|c| c.name == k) else {
                return Err(bad(format!(
                    "The property '{k}' does not exist on type 'Terrasoft.Configuration.{entity}'. Make sure to only use property names that are defined by the type."
                )));
            };
            let convert = || {
                bad(format!(
                    "Cannot convert the literal '{v}' to the expected type of property '{k}'."
                ))
            };
            let v = match (&c.kind, v.clone()) {
                (_, Value::Null) => Value::Null,
                (Kind::Key, Value::String(s)) if Uuid::try_parse(&s).is_ok() => Value::String(s),
                (Kind::Lookup(target), Value::String(s)) => {
                    let id = Uuid::try_parse(&s).map_err(|_| convert())?;
                    if id.is_nil() {
                        Value::Null
                    } else if !self.exists(target, id) {
                        return Err(Box::new(self.data_error(DataError::ForeignKey {
                            entity: entity.into(),
                            column: k.clone(),
                            target: target.clone(),
                            value: id.to_string(),
                        })));
                    } else {
                        Value::String(id.to_string())
                    }
                }
                (Kind::Text(max), Value::String(s)) => {
                    if *max > 0 && s.chars().count() > *max {
                        return Err(Box::new(self.data_error(DataError::TooLong {
                            entity: entity.into(),
                            column: k.clone(),
                            max: *max,
                        })));
                    }
                    Value::String(s)
                }
                (Kind::Date, Value::String(s)) => {
                    let at: jiff::Timestamp = s.parse().map_err(|_| convert())?;
                    Value::String(at.to_string())
                }
                (Kind::Bool, Value::Bool(b)) => Value::Bool(b),
                _ => return Err(convert()),
            };
            out.insert(k, v);
        }
        Ok(out)
    }

    /// Contact.MobilePhone / Phone / Email mirrored into `ContactCommunication`, as Creatio's
    /// `CommunicationSynchronizer` does on save.
    fn sync_communications(&mut self, contact: Uuid, row: &Map<String, Value>) {
        for (column, kind) in schema::COMMUNICATION_COLUMNS {
            let value = row
                .get(*column)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned);
            let comms = self.rows.entry("ContactCommunication".into()).or_default();
            let existing = comms
                .iter()
                .find(|(_, r)| {
                    r.get("ContactId").and_then(Value::as_str) == Some(&contact.to_string())
                        && r.get("CommunicationTypeId").and_then(Value::as_str) == Some(kind)
                })
                .map(|(id, _)| *id);
            match (value, existing) {
                (Some(number), existing) => {
                    let id = existing.unwrap_or_else(Uuid::new_v4);
                    let now = now_text();
                    let mut r = comms.get(&id).cloned().unwrap_or_else(|| {
                        let mut r = Map::new();
                        r.insert("CreatedOn".into(), json!(now));
                        r
                    });
                    r.insert("Id".into(), json!(id));
                    r.insert("ContactId".into(), json!(contact));
                    r.insert("CommunicationTypeId".into(), json!(kind));
                    r.insert(
                        "SearchNumber".into(),
                        json!(schema::search_number(
                            &number,
                            *kind == schema::COMMUNICATION_EMAIL
                        )),
                    );
                    r.insert("Number".into(), json!(number));
                    r.insert("ModifiedOn".into(), json!(now));
                    comms.insert(id, r);
                }
                (None, Some(id)) => {
                    comms.remove(&id);
                }
                (None, None) => {}
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}
