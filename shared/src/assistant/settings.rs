//! The assistant's TOML document (`CASEBRIDGE_CONFIG`): FAQ, handoff rules, AI fields, channel
//! limits and business hours. `default.toml` next to this file is embedded in the binary and used
//! when the variable is not set, so the local stack runs with no set-up at all.
//!
//! Texts per language: `[texts.es]` (and `de`, `fr`, `pt`, `en`) may set `greeting`,
//! `fallback`, `handoff_notice`, `after_hours_notice`, `help_text` and more `handoff_phrases`
//! and `closed_notice`; a text a language leaves out is the `[assistant]` one, which is in
//! `assistant.language` (default `en`). Every language's handoff phrases are understood whatever
//! the conversation's language, since "agente" or "a person" can come in any sentence.
//!
//! The file is read once at cold start; every mistake in it (a dropdown without values, a time
//! zone that does not exist, a column name that could not be an OData property) fails there,
//! named, instead of on the first customer message. `toml` is the de-facto TOML crate; only its
//! parser and serde features are compiled in.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::config::ConfigError;
use crate::domain::Language;

const EMBEDDED: &str = include_str!("default.toml");
const VARIABLE: &str = "CASEBRIDGE_CONFIG";

#[derive(Debug, Clone)]
pub struct Settings {
    pub assistant: AssistantSettings,
    pub sms: SmsSettings,
    pub widget: WidgetSettings,
    pub business_hours: Option<BusinessHours>,
    pub faq: Vec<FaqEntry>,
    pub fields: Vec<FieldSpec>,
    /// The language of the `[assistant]` texts (`assistant.language`, default English).
    pub language: Language,
    /// The texts each language overrides (`[texts.<code>]`).
    pub texts: HashMap<Language, LocalTexts>,
    /// `[actions]`, checked (`crate::actions::config`); their secrets are read when the
    /// assistant is built.
    pub actions: crate::actions::config::RawActions,
}

/// What one language says instead of the `[assistant]` (and `[channels.sms]`) texts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTexts {
    pub greeting: Option<String>,
    pub fallback: Option<String>,
    pub handoff_notice: Option<String>,
    pub after_hours_notice: Option<String>,
    pub closed_notice: Option<String>,
    pub help_text: Option<String>,
    #[serde(default)]
    pub handoff_phrases: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssistantSettings {
    pub company: String,
    #[serde(default)]
    pub tone: String,
    #[serde(default)]
    pub knowledge: String,
    pub greeting: String,
    pub fallback: String,
    #[serde(default = "default_max_fallbacks")]
    pub max_fallbacks: u32,
    pub handoff_phrases: Vec<String>,
    pub handoff_notice: String,
    /// Must contain `{when}`.
    pub after_hours_notice: String,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Sent to the customer when the rep resolves or closes the case (none when absent).
    #[serde(default)]
    pub closed_notice: Option<String>,
    /// The language the texts above are written in (`en` unless set).
    #[serde(default)]
    pub language: Option<String>,
}

fn default_max_fallbacks() -> u32 {
    2
}

fn default_timeout() -> u64 {
    15
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    #[serde(default = "default_sms_max")]
    pub max_chars: usize,
    pub help_text: String,
}

fn default_sms_max() -> usize {
    640
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetSettings {
    #[serde(default = "default_widget_max")]
    pub max_chars: usize,
}

fn default_widget_max() -> usize {
    4000
}

impl Default for WidgetSettings {
    fn default() -> Self {
        Self {
            max_chars: default_widget_max(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqEntry {
    pub patterns: Vec<String>,
    pub answer: String,
}

/// One AI-filled case column.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The Creatio column, e.g. `PriorityId` or `UsrCategory`.
    pub column: String,
    pub title: String,
    /// Tells the model what goes in the field.
    #[serde(default)]
    pub description: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Dropdowns: the lookup entity that resolves a value's name to its GUID (`CasePriority`).
    #[serde(default)]
    pub lookup: Option<String>,
    /// Dropdowns: the allowed values, in order of precedence.
    #[serde(default)]
    pub values: Vec<DropdownValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Dropdown,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropdownValue {
    /// The lookup row's `Name` in Creatio.
    pub name: String,
    /// Words or phrases in the customer's messages that select this value (rules assistant).
    #[serde(default)]
    pub keywords: Vec<String>,
}

impl FieldSpec {
    /// The allowed value with this name (case-insensitive), spelled as configured.
    pub fn allowed(&self, name: &str) -> Option<&DropdownValue> {
        let name = name.trim();
        self.values
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
    }
}

/// Opening hours in one time zone; the same hours on each listed day.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    pub time_zone: TimeZone,
    pub zone_name: String,
    pub days: Vec<Weekday>,
    pub open: Time,
    pub close: Time,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDocument {
    assistant: AssistantSettings,
    #[serde(default)]
    channels: RawChannels,
    business_hours: Option<RawHours>,
    #[serde(default)]
    faq: Vec<FaqEntry>,
    #[serde(default)]
    fields: Vec<FieldSpec>,
    #[serde(default)]
    texts: BTreeMap<String, LocalTexts>,
    #[serde(default)]
    actions: crate::actions::config::RawActions,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawChannels {
    sms: Option<SmsSettings>,
    #[serde(default)]
    widget: WidgetSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    time_zone: String,
    days: Vec<String>,
    open: String,
    close: String,
}

impl Settings {
    /// The file at `path`, or the embedded default when there is none.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        match path {
            None => Self::parse(EMBEDDED),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| invalid(format!("cannot read {}: {e}", p.display())))?;
                Self::parse(&text).map_err(|e| match e {
                    ConfigError::Invalid { name, reason } => ConfigError::Invalid {
                        name,
                        reason: format!("{}: {reason}", p.display()),
                    },
                    other => other,
                })
            }
        }
    }

    /// The embedded default document's text (the local stack adds its demo actions to it).
    pub fn embedded_text() -> &'static str {
        EMBEDDED
    }

    /// The embedded default document.
    pub fn embedded() -> Settings {
        // Checked by a unit test; a broken default is a build defect, not a runtime condition.
        Self::parse(EMBEDDED).unwrap_or_else(|e| panic!("embedded default.toml is invalid: {e}"))
    }

    pub fn parse(text: &str) -> Result<Settings, ConfigError> {
        let raw: RawDocument = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let a = &raw.assistant;
        if a.max_fallbacks == 0 {
            return Err(invalid("assistant.max_fallbacks must be at least 1".into()));
        }
        if !(1..=120).contains(&a.timeout_seconds) {
            return Err(invalid(
                "assistant.timeout_seconds must be between 1 and 120".into(),
            ));
        }
        if a.handoff_phrases.iter().all(|p| p.trim().is_empty()) {
            return Err(invalid(
                "assistant.handoff_phrases must list at least one phrase".into(),
            ));
        }
        if !a.after_hours_notice.contains("{when}") {
            return Err(invalid(
                "assistant.after_hours_notice must contain {when}".into(),
            ));
        }
        for (what, text) in [
            ("greeting", &a.greeting),
            ("fallback", &a.fallback),
            ("handoff_notice", &a.handoff_notice),
        ] {
            if text.trim().is_empty() {
                return Err(invalid(format!("assistant.{what} must not be empty")));
            }
        }
        let sms = raw.channels.sms.unwrap_or_else(|| SmsSettings {
            max_chars: default_sms_max(),
            help_text: format!(
                "{}: reply with your question, or 'agent' for a person. Reply STOP to opt out.",
                a.company
            ),
        });
        // 1,600 is Twilio's limit for one message body.
        if !(40..=1600).contains(&sms.max_chars) {
            return Err(invalid(
                "channels.sms.max_chars must be between 40 and 1600".into(),
            ));
        }
        if raw.channels.widget.max_chars < 40 {
            return Err(invalid(
                "channels.widget.max_chars must be at least 40".into(),
            ));
        }
        for (i, f) in raw.faq.iter().enumerate() {
            if f.patterns.is_empty() || f.answer.trim().is_empty() {
                return Err(invalid(format!(
                    "faq entry {} needs at least one pattern and an answer",
                    i + 1
                )));
            }
        }
        let mut columns = std::collections::HashSet::new();
        for f in &raw.fields {
            check_fields(f)?;
            if !columns.insert(f.column.to_ascii_lowercase()) {
                return Err(invalid(format!(
                    "fields: column {} is listed twice",
                    f.column
                )));
            }
        }
        let business_hours = raw.business_hours.map(parse_hours).transpose()?;
        let language = match &raw.assistant.language {
            None => Language::En,
            Some(code) => Language::parse(code).ok_or_else(|| {
                invalid(format!(
                    "assistant.language {code:?} is not one of en, es, de, fr, pt"
                ))
            })?,
        };
        let mut texts = HashMap::new();
        let mut assistant = raw.assistant;
        for (code, local) in raw.texts {
            let lang = Language::parse(&code)
                .ok_or_else(|| invalid(format!("texts.{code}: not one of en, es, de, fr, pt")))?;
            if local
                .after_hours_notice
                .as_ref()
                .is_some_and(|n| !n.contains("{when}"))
            {
                return Err(invalid(format!(
                    "texts.{code}.after_hours_notice must contain {{when}}"
                )));
            }
            for (what, text) in [
                ("greeting", &local.greeting),
                ("fallback", &local.fallback),
                ("handoff_notice", &local.handoff_notice),
                ("help_text", &local.help_text),
            ] {
                if text.as_ref().is_some_and(|t| t.trim().is_empty()) {
                    return Err(invalid(format!("texts.{code}.{what} must not be empty")));
                }
            }
            assistant
                .handoff_phrases
                .extend(local.handoff_phrases.iter().cloned());
            texts.insert(lang, local);
        }
        crate::actions::config::check(&raw.actions)?;
        Ok(Settings {
            assistant,
            sms,
            widget: raw.channels.widget,
            business_hours,
            faq: raw.faq,
            fields: raw.fields,
            language,
            texts,
            actions: raw.actions,
        })
    }

    /// These settings as `language` speaks them: its texts over the `[assistant]` ones. The
    /// default language, one without texts, or none known: the settings as they are.
    pub fn in_language(&self, language: Language) -> Settings {
        let mut s = self.clone();
        let Some(local) = self.texts.get(&language) else {
            return s;
        };
        let set = |to: &mut String, from: &Option<String>| {
            if let Some(t) = from {
                to.clone_from(t);
            }
        };
        set(&mut s.assistant.greeting, &local.greeting);
        set(&mut s.assistant.fallback, &local.fallback);
        set(&mut s.assistant.handoff_notice, &local.handoff_notice);
        set(
            &mut s.assistant.after_hours_notice,
            &local.after_hours_notice,
        );
        set(&mut s.sms.help_text, &local.help_text);
        if local.closed_notice.is_some() {
            s.assistant.closed_notice.clone_from(&local.closed_notice);
        }
        s.language = language;
        s
    }
}

fn invalid(reason: String) -> ConfigError {
    ConfigError::Invalid {
        name: VARIABLE,
        reason,
    }
}

/// Column and entity names end up in OData URLs and JSON bodies: identifiers only.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

fn check_fields(f: &FieldSpec) -> Result<(), ConfigError> {
    if !is_identifier(&f.column) {
        return Err(invalid(format!(
            "fields: column {:?} is not a Creatio column name",
            f.column
        )));
    }
    match f.kind {
        FieldType::Text => {
            if f.lookup.is_some() || !f.values.is_empty() {
                return Err(invalid(format!(
                    "fields: {} is a text field; lookup and values are for dropdowns",
                    f.column
                )));
            }
        }
        FieldType::Dropdown => {
            match &f.lookup {
                Some(l) if is_identifier(l) => {}
                _ => {
                    return Err(invalid(format!(
                        "fields: dropdown {} needs lookup = the Creatio lookup entity, e.g. \"CasePriority\"",
                        f.column
                    )));
                }
            }
            if f.values.is_empty() || f.values.iter().any(|v| v.name.trim().is_empty()) {
                return Err(invalid(format!(
                    "fields: dropdown {} needs a non-empty list of values",
                    f.column
                )));
            }
        }
    }
    Ok(())
}

fn parse_hours(raw: RawHours) -> Result<BusinessHours, ConfigError> {
    let time_zone = TimeZone::get(&raw.time_zone).map_err(|_| {
        invalid(format!(
            "business_hours.time_zone {:?} is not an IANA time zone such as America/New_York",
            raw.time_zone
        ))
    })?;
    let days = raw
        .days
        .iter()
        .map(|d| {
            parse_weekday(d).ok_or_else(|| {
                invalid(format!(
                    "business_hours.days: {d:?} is not a weekday (mon … sun)"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if days.is_empty() {
        return Err(invalid(
            "business_hours.days must list at least one day".into(),
        ));
    }
    let time = |name: &str, v: &str| {
        v.parse::<Time>().map_err(|_| {
            invalid(format!(
                "business_hours.{name} {v:?} is not a time like 09:00"
            ))
        })
    };
    let open = time("open", &raw.open)?;
    let close = time("close", &raw.close)?;
    if open >= close {
        return Err(invalid("business_hours.open must be before close".into()));
    }
    Ok(BusinessHours {
        time_zone,
        zone_name: raw.time_zone,
        days,
        open,
        close,
    })
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    let day = match s.get(..3)? {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return None,
    };
    Some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid() {
        let s = Settings::embedded();
        assert!(!s.faq.is_empty());
        assert_eq!(s.fields[0].column, "PriorityId");
        assert_eq!(s.fields[0].lookup.as_deref(), Some("CasePriority"));
        assert!(s.business_hours.is_some());
    }

    fn with(replace: &str, by: &str) -> String {
        let base = include_str!("default.toml");
        assert!(base.contains(replace), "test edits a line that exists");
        base.replacen(replace, by, 1)
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                with("max_fallbacks = 2", "max_fallbacks = 0"),
                "max_fallbacks",
            ),
            (
                with(
                    "time_zone = \"America/New_York\"",
                    "time_zone = \"Mars/Olympus\"",
                ),
                "Mars/Olympus",
            ),
            (with("open = \"09:00\"", "open = \"18:00\""), "before close"),
            (
                with("lookup = \"CasePriority\"", "lookup = \"Case Priority'\""),
                "lookup",
            ),
            (
                with("column = \"PriorityId\"", "column = \"Priority Id\""),
                "Priority Id",
            ),
            (with("reply {when}.", "reply later."), "{when}"),
            (with("company =", "compnay ="), "compnay"),
            (with("days = [\"mon\"", "days = [\"moon\""), "moon"),
        ];
        for (doc, needle) in cases {
            let Err(err) = Settings::parse(&doc) else {
                panic!("a document with {needle:?} wrong was accepted");
            };
            let err = err.to_string();
            assert!(err.starts_with("CASEBRIDGE_CONFIG"), "{err}");
            assert!(err.contains(needle), "{needle:?} not in {err}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Settings::load(Some(Path::new("/nonexistent/casebridge.toml")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CASEBRIDGE_CONFIG") && err.contains("/nonexistent/casebridge.toml"));
    }
}

/// What the customer is told when their case closes (`closed_notice` in the settings), per
/// language (`[texts.<lang>].closed_notice`, falling back to the default one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClosedNotices {
    pub default: Option<String>,
    pub by_language: HashMap<Language, String>,
}

impl ClosedNotices {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            default: settings.assistant.closed_notice.clone(),
            by_language: settings
                .texts
                .iter()
                .filter_map(|(l, t)| Some((*l, t.closed_notice.clone()?)))
                .collect(),
        }
    }

    /// The notice in `language`, else the default one.
    pub fn in_language(&self, language: Option<Language>) -> Option<&str> {
        language
            .and_then(|l| self.by_language.get(&l))
            .or(self.default.as_ref())
            .map(String::as_str)
    }

    /// Is `text` one of the notices, in any language? (A closing notice not yet sent is found
    /// again by it.)
    pub fn is_notice(&self, text: &str) -> bool {
        self.default
            .iter()
            .chain(self.by_language.values())
            .any(|n| n.trim() == text)
    }
}
