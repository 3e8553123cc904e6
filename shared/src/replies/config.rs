//! The replies' section of the configuration: what counts as a rep's reply
//! (`CREATIO_REPLY_TYPES`, `CREATIO_REPLY_CATEGORIES`, `CREATIO_AUTO_EMAIL_SENDERS`,
//! `CREATIO_AUTO_EMAIL_SUBJECTS`), parsed beside the rules it fills ([`ReplyRules`]);
//! [`crate::config::Config`] composes it as `replies`.

use super::ReplyRules;
use crate::config::source::*;
use crate::creatio::base_ids;
use crate::domain::LookupId;

/// `CREATIO_REPLY_TYPES`: `email`, `task`, `call` or activity type GUIDs, comma-separated.
pub(crate) fn replies_config(src: &dyn Source) -> Result<ReplyRules, ConfigError> {
    let mut rules = ReplyRules::default();
    if let Some(list) = var(src, "CREATIO_REPLY_TYPES") {
        rules.types = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let guid = match t.to_ascii_lowercase().as_str() {
                    "email" => base_ids::ACTIVITY_TYPE_EMAIL.to_owned(),
                    "task" => base_ids::ACTIVITY_TYPE_TASK.to_owned(),
                    "call" => base_ids::ACTIVITY_TYPE_CALL.to_owned(),
                    other => other.to_owned(),
                };
                LookupId::parse(&guid).map_err(|_| ConfigError::Invalid {
                    name: "CREATIO_REPLY_TYPES",
                    reason: format!("{t:?} is not email, task, call or an activity type GUID"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rules.types.is_empty() {
            return Err(ConfigError::Invalid {
                name: "CREATIO_REPLY_TYPES",
                reason: "names no activity type".into(),
            });
        }
    }
    rules.categories = guid_list(src, "CREATIO_REPLY_CATEGORIES")?;
    let lower_list = |name: &str| -> Vec<String> {
        var(src, name)
            .map(|l| {
                l.split(',')
                    .map(|x| x.trim().to_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    rules.auto_senders = lower_list("CREATIO_AUTO_EMAIL_SENDERS");
    rules.auto_subjects = lower_list("CREATIO_AUTO_EMAIL_SUBJECTS");
    Ok(rules)
}
