//! Where values come from ([`Source`]: the process environment, or a map in tests) and the
//! readers every section uses: a trimmed variable, a secret, a GUID, a flag, a positive number, a
//! base URL. A bad value is a [`ConfigError`] naming the variable.

use super::*;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not set: {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where configuration values come from: the process environment in production, a map in tests
/// (Rust 2024 makes `set_var` unsafe, and tests must not race on the process environment).
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

/// Does `authority…` (what follows `scheme://`) name this machine? `[::1]` keeps its colons.
pub(crate) fn is_loopback(rest: &str) -> bool {
    let name = if rest.starts_with("[::1]") {
        "[::1]"
    } else {
        rest.split(['/', ':']).next().unwrap_or("")
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// An `https://` (or, for loopback, `http://`) base URL without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub(crate) String);

impl BaseUrl {
    pub fn parse(name: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let s = raw.trim().trim_end_matches('/');
        let invalid = |reason: &str| ConfigError::Invalid {
            name,
            reason: reason.to_owned(),
        };
        let rest = if let Some(rest) = s.strip_prefix("https://") {
            rest
        } else if let Some(rest) = s.strip_prefix("http://") {
            if !is_loopback(rest) {
                return Err(invalid(
                    "must start with https:// (http:// only for loopback)",
                ));
            }
            rest
        } else {
            return Err(invalid("must start with https://"));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("has no host"));
        }
        if s.contains(['?', '#', ' ']) {
            return Err(invalid("must not contain a query, fragment or spaces"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `base` + `path` (path starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The base for a request that arrived with `Host: host`, when `PUBLIC_BASE_URL` is not set
    /// (API Gateway's own domain when the template leaves the parameter empty): https, or http for
    /// loopback, by the same rule as [`BaseUrl::parse`].
    pub fn from_host(host: &str) -> Result<Self, ConfigError> {
        let host = host.trim();
        let scheme = if is_loopback(host) { "http" } else { "https" };
        Self::parse("Host", &format!("{scheme}://{host}"))
    }

    /// The host, e.g. `acme.creatio.com`.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map(|(_, r)| r).unwrap_or(&self.0);
        rest.split('/').next().unwrap_or(rest)
    }
}

pub(crate) fn missing(name: &'static str, hint: &'static str) -> ConfigError {
    ConfigError::Missing { name, hint }
}

/// A variable that is set and not blank, trimmed.
pub(crate) fn var(src: &dyn Source, name: &str) -> Option<String> {
    src.get(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub(crate) fn secret(src: &dyn Source, name: &str) -> Option<SecretString> {
    var(src, name).map(SecretString::from)
}

pub(crate) fn guid(src: &dyn Source, name: &'static str) -> Result<Option<LookupId>, ConfigError> {
    var(src, name)
        .map(|v| {
            LookupId::parse(&v).map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// Comma-separated GUIDs (blanks between commas ignored); empty when unset.
pub(crate) fn guid_list(
    src: &dyn Source,
    name: &'static str,
) -> Result<Vec<LookupId>, ConfigError> {
    var(src, name)
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|g| !g.is_empty())
                .map(|g| {
                    LookupId::parse(g).map_err(|e| ConfigError::Invalid {
                        name,
                        reason: e.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or(Ok(Vec::new()))
}

pub(crate) fn bool_var(
    src: &dyn Source,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match var(src, name)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(_) => Err(ConfigError::Invalid {
            name,
            reason: "must be true or false".into(),
        }),
    }
}

pub(crate) fn positive(
    src: &dyn Source,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    match var(src, name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError::Invalid {
                name,
                reason: "must be a positive whole number".into(),
            }),
    }
}
