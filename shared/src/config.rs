//! Typed configuration from the environment (the names are a contract: docs/architecture.md, "Contracts").
//!
//! Every function calls [`Config::from_env`] once in `main`; a malformed value fails there with a
//! message naming the variable. Values only some functions need are optional here and demanded
//! by the accessor that function calls at start-up (`config.creatio()?` in handoff), so a missing
//! Creatio URL stops the handoff function at cold start, not on the first stream record.
//!
//! Secrets are `SecretString`s (crate `secrecy`: tiny, zeroes on drop, `Debug` prints
//! `[REDACTED]`), so `{:?}` of a config never leaks one into a log.

use std::collections::HashMap;
use std::path::PathBuf;

use jiff::SignedDuration;
use secrecy::SecretString;

use crate::domain::{DefaultCountry, LookupId, PhoneNumber};
use crate::replies::ReplyRules;

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
fn is_loopback(rest: &str) -> bool {
    let name = if rest.starts_with("[::1]") {
        "[::1]"
    } else {
        rest.split(['/', ':']).next().unwrap_or("")
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// An `https://` (or, for loopback, `http://`) base URL without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

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

/// Where the OAuth token endpoint is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityServer {
    /// `CREATIO_IDENTITY_URL`: the instance's `OAuth20IdentityServerUrl` system setting.
    Configured(BaseUrl),
    /// Found at the first sign-in: the instance's discovery document
    /// (`/0/.well-known/openid-configuration`, Creatio 8.3+), else, on Creatio cloud
    /// (`*.creatio.com`) only, the `-is` host (`acme.creatio.com` → `acme-is.creatio.com`).
    /// Neither found: the sign-in fails and says to set `CREATIO_IDENTITY_URL`.
    Discover { cloud: Option<BaseUrl> },
}

/// How casebridge signs in to Creatio.
#[derive(Debug, Clone)]
pub enum CreatioAuth {
    /// OAuth 2.0 client credentials (Creatio 8.x integrated application).
    OAuth {
        client_id: String,
        client_secret: SecretString,
        identity: IdentityServer,
    },
    /// Forms login with a Creatio user.
    Forms {
        username: String,
        password: SecretString,
    },
}

#[derive(Debug, Clone)]
pub struct CreatioConfig {
    pub url: BaseUrl,
    /// `.NET Core` instance: OData at `/odata` instead of `/0/odata`.
    pub netcore: bool,
    pub auth: CreatioAuth,
    pub case_owner_id: Option<LookupId>,
    pub case_group_id: Option<LookupId>,
    pub resolved_status_id: Option<LookupId>,
    /// `CREATIO_NEW_STATUS_ID`: the status a new case gets (default: base "New").
    pub new_status_id: LookupId,
    /// `CREATIO_SMS_ORIGIN_ID` (default: base "Call"; base data has no SMS origin) and
    /// `CREATIO_WIDGET_ORIGIN_ID` (default: base "Chat").
    pub sms_origin_id: LookupId,
    pub widget_origin_id: LookupId,
    /// `CASEBRIDGE_SYNC_MODE`.
    pub sync_mode: SyncMode,
    /// `CREATIO_CLOSED_STATUS_IDS` (comma-separated): case statuses that close the conversation.
    /// Default: base Resolved, Closed and Canceled, plus `CREATIO_RESOLVED_STATUS_ID`.
    pub closing_status_ids: Vec<LookupId>,
    /// What counts as a rep's reply (`CREATIO_REPLY_TYPES`, `CREATIO_REPLY_CATEGORIES`,
    /// `CREATIO_AUTO_EMAIL_SENDERS`, `CREATIO_AUTO_EMAIL_SUBJECTS`).
    pub replies: ReplyRules,
    /// `CREATIO_BATCH_SIZE`: writes per `$batch` request (default 100, Creatio's limit: the
    /// fewest round trips). Each insert runs Creatio's server-side logic, so a full batch takes
    /// long on a busy instance; the timeout below gives each of 100 inserts 0.9 s, and an instance
    /// slower than that takes a smaller batch.
    pub batch_size: usize,
    /// `CREATIO_TIMEOUT_SECONDS`: how long one Creatio request may take (default 90).
    pub timeout: std::time::Duration,
}

/// Writes per `$batch` unless `CREATIO_BATCH_SIZE` says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// One Creatio request's time limit unless `CREATIO_TIMEOUT_SECONDS` says otherwise.
pub const DEFAULT_CREATIO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

impl CreatioConfig {
    /// A configuration with every optional setting at its default (tests, the local stack).
    pub fn with_defaults(url: BaseUrl, netcore: bool, auth: CreatioAuth) -> Self {
        let base = |g: &str| LookupId::parse(g).unwrap_or_else(|_| unreachable!("fixed GUID"));
        Self {
            url,
            netcore,
            auth,
            case_owner_id: None,
            case_group_id: None,
            resolved_status_id: None,
            new_status_id: base(base_ids::CASE_STATUS_NEW),
            sms_origin_id: base(base_ids::CASE_ORIGIN_CALL),
            widget_origin_id: base(base_ids::CASE_ORIGIN_CHAT),
            sync_mode: SyncMode::Handoff,
            closing_status_ids: default_closing(None),
            replies: ReplyRules::default(),
            batch_size: DEFAULT_BATCH_SIZE,
            timeout: DEFAULT_CREATIO_TIMEOUT,
        }
    }
}

/// When the case is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// At handoff (the default; OpenCX's "create case only on handoff").
    Handoff,
    /// At the first customer message; every message synced as it arrives.
    EveryConversation,
}

/// Base-data GUIDs from a Creatio 8.x install (the lookup records its base configuration ships with); each is configurable.
pub mod base_ids {
    pub const CASE_STATUS_NEW: &str = "ae5f2f10-f46b-1410-fd9a-0050ba5d6c38";
    pub const CASE_STATUS_RESOLVED: &str = "ae7f411e-f46b-1410-009b-0050ba5d6c38";
    pub const CASE_STATUS_CLOSED: &str = "3e7f420c-f46b-1410-fc9a-0050ba5d6c38";
    pub const CASE_STATUS_CANCELED: &str = "6e5f4218-f46b-1410-fe9a-0050ba5d6c38";
    pub const CASE_ORIGIN_CALL: &str = "5e5e202a-f46b-1410-3692-0050ba5d6c38";
    pub const CASE_ORIGIN_CHAT: &str = "019259af-ec9c-4c87-9565-3c00700c7875";
    pub const ACTIVITY_TYPE_TASK: &str = "fbe0acdc-cfc0-df11-b00f-001d60e938c6";
    pub const ACTIVITY_TYPE_EMAIL: &str = "e2831dec-cfc0-df11-b00f-001d60e938c6";
    pub const ACTIVITY_TYPE_CALL: &str = "e1831dec-cfc0-df11-b00f-001d60e938c6";
    pub const ACTIVITY_STATUS_NOT_STARTED: &str = "384d4b84-58e6-df11-971b-001d60e938c6";
    pub const ACTIVITY_STATUS_COMPLETED: &str = "4bdbb88f-58e6-df11-971b-001d60e938c6";
    pub const ACTIVITY_CATEGORY_TODO: &str = "f51c4643-58e6-df11-971b-001d60e938c6";
    /// `EmailType` lookup (`Activity.MessageTypeId`): the direction of an e-mail.
    pub const EMAIL_TYPE_OUTGOING: &str = "7f6d3f94-f36b-1410-068c-20cf30b39373";
    pub const EMAIL_TYPE_INCOMING: &str = "7f9d1f86-f36b-1410-068c-20cf30b39373";
}

#[derive(Debug, Clone)]
pub enum TwilioSender {
    From(PhoneNumber),
    MessagingService(String),
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: String,
    pub auth_token: SecretString,
    pub sender: TwilioSender,
    pub api_url: BaseUrl,
}

#[derive(Debug, Clone)]
pub struct WidgetConfig {
    pub secret: SecretString,
    pub identity_secret: Option<SecretString>,
    /// What a site's identity token must also satisfy (`WIDGET_IDENTITY_AUDIENCE`,
    /// `WIDGET_IDENTITY_ISSUER`, `WIDGET_IDENTITY_MAX_MINUTES`).
    pub identity: crate::widget_auth::IdentityPolicy,
    pub allowed_origins: Vec<String>,
    /// Visitor attachments: on when `WIDGET_ATTACHMENTS_BUCKET` is set (or, locally, always).
    pub attachments: AttachmentPolicy,
    pub limits: WidgetLimits,
}

impl WidgetConfig {
    /// A widget with `secret` and every other setting at its default (tests, the bench).
    pub fn with_defaults(secret: &str) -> Self {
        Self {
            secret: SecretString::from(secret.to_owned()),
            identity_secret: None,
            identity: crate::widget_auth::IdentityPolicy::default(),
            allowed_origins: Vec::new(),
            attachments: AttachmentPolicy::with_defaults(None),
            limits: WidgetLimits::default(),
        }
    }
}

/// What one visitor, one conversation and one client address may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetLimits {
    /// Messages in one conversation, replies included (`WIDGET_MAX_MESSAGES`, default 200).
    pub max_messages: u64,
    /// Bytes of text the visitor writes in one conversation (`WIDGET_MAX_BYTES`, default 100000).
    pub max_bytes: u64,
    /// Files the visitor attaches in one conversation (`WIDGET_MAX_ATTACHMENTS`, default 10).
    pub max_attachments: u64,
    /// Messages one poll answers at most; the widget asks again for the rest (50).
    pub poll_page: usize,
    /// New conversations one client address may start in an hour
    /// (`WIDGET_SESSIONS_PER_HOUR`, default 20).
    pub sessions_per_hour: u32,
    /// Handoffs to a person one client address may ask for in a day
    /// (`WIDGET_HANDOFFS_PER_DAY`, default 5): each is a case, and maybe a contact, in Creatio.
    pub handoffs_per_day: u32,
}

impl Default for WidgetLimits {
    fn default() -> Self {
        Self {
            max_messages: 200,
            max_bytes: 100_000,
            max_attachments: 10,
            poll_page: 50,
            sessions_per_hour: 20,
            handoffs_per_day: 5,
        }
    }
}

/// What a visitor may attach. The bucket is where uploads go; without one the widget API answers
/// attachment requests with 404 and the widget hides its attach button.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentPolicy {
    pub bucket: Option<String>,
    /// Largest file accepted, in bytes (`WIDGET_ATTACHMENT_MAX_BYTES`, default 10 MiB).
    pub max_bytes: u64,
    /// Accepted media types, lower case (`WIDGET_ATTACHMENT_TYPES`, comma-separated).
    pub allowed_types: Vec<String>,
}

impl AttachmentPolicy {
    /// Images, PDF and plain text: what customers send support, and nothing a browser would
    /// run as a page.
    pub const DEFAULT_TYPES: &'static [&'static str] = &[
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "text/plain",
    ];
    pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;

    pub fn with_defaults(bucket: Option<String>) -> Self {
        Self {
            bucket,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            allowed_types: Self::DEFAULT_TYPES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }

    /// Is `content_type` (parameters such as `; charset=` ignored) on the list?
    pub fn allows_type(&self, content_type: &str) -> bool {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.allowed_types.contains(&essence)
    }
}

#[derive(Debug, Clone)]
pub enum AssistantKind {
    Rules,
    OpenAi {
        base_url: BaseUrl,
        api_key: SecretString,
        model: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: Option<String>,
    pub public_base_url: Option<BaseUrl>,
    pub default_country: DefaultCountry,
    pub retention: SignedDuration,
    pub sms_idle_timeout: SignedDuration,
    /// `CREATIO_CATCHUP_SECONDS` (default 60): how often casebridge asks Creatio for replies and
    /// closed cases itself; None when 0 (off).
    pub catchup_interval: Option<std::time::Duration>,
    creatio: Option<CreatioConfig>,
    twilio: Option<TwilioConfig>,
    widget: Option<WidgetConfig>,
    pub webhook_token: Option<SecretString>,
    pub assistant: AssistantKind,
    pub rules_path: Option<PathBuf>,
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

fn secret(src: &dyn Source, name: &str) -> Option<SecretString> {
    var(src, name).map(SecretString::from)
}

fn guid(src: &dyn Source, name: &'static str) -> Result<Option<LookupId>, ConfigError> {
    var(src, name)
        .map(|v| {
            LookupId::parse(&v).map_err(|e| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            })
        })
        .transpose()
}

fn bool_var(src: &dyn Source, name: &'static str, default: bool) -> Result<bool, ConfigError> {
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

fn positive(src: &dyn Source, name: &'static str, default: i64) -> Result<i64, ConfigError> {
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

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&ProcessEnv)
    }

    pub fn from_source(src: &dyn Source) -> Result<Self, ConfigError> {
        let public_base_url = var(src, "PUBLIC_BASE_URL")
            .map(|v| BaseUrl::parse("PUBLIC_BASE_URL", &v))
            .transpose()?;
        // A private CA bundle for outbound TLS (see `http.rs`): read now, so that a bad path
        // stops the start-up instead of the first request.
        if let Some(path) = var(src, "SSL_CERT_FILE") {
            crate::http::check_ca_bundle(&path).map_err(|e| ConfigError::Invalid {
                name: "SSL_CERT_FILE",
                reason: match e {
                    crate::http::TlsError::CaBundle { path, reason } => format!("{path}: {reason}"),
                    other => other.to_string(),
                },
            })?;
        }
        let default_country = match var(src, "CASEBRIDGE_DEFAULT_COUNTRY") {
            None => DefaultCountry::US,
            Some(c) => DefaultCountry::parse(&c).ok_or(ConfigError::Invalid {
                name: "CASEBRIDGE_DEFAULT_COUNTRY",
                reason: "must be an ISO 3166 two-letter country code such as US or GB".into(),
            })?,
        };
        Ok(Config {
            table_name: var(src, "TABLE_NAME"),
            public_base_url,
            default_country,
            retention: SignedDuration::from_hours(
                24 * positive(src, "CASEBRIDGE_RETENTION_DAYS", 90)?,
            ),
            sms_idle_timeout: SignedDuration::from_mins(positive(
                src,
                "SMS_IDLE_TIMEOUT_MINUTES",
                180,
            )?),
            catchup_interval: match var(src, "CREATIO_CATCHUP_SECONDS").as_deref() {
                Some("0") => None,
                _ => Some(std::time::Duration::from_secs(positive(
                    src,
                    "CREATIO_CATCHUP_SECONDS",
                    60,
                )? as u64)),
            },
            creatio: creatio_config(src)?,
            twilio: twilio_config(src, default_country)?,
            widget: widget_config(src)?,
            webhook_token: secret(src, "CREATIO_WEBHOOK_TOKEN"),
            assistant: assistant_config(src)?,
            rules_path: var(src, "CASEBRIDGE_CONFIG").map(PathBuf::from),
        })
    }

    pub fn table_name(&self) -> Result<&str, ConfigError> {
        self.table_name
            .as_deref()
            .ok_or(missing("TABLE_NAME", "the DynamoDB table the store uses"))
    }

    pub fn public_base_url(&self) -> Result<&BaseUrl, ConfigError> {
        self.public_base_url.as_ref().ok_or(missing(
            "PUBLIC_BASE_URL",
            "the public https base URL of the API (signatures and links depend on it)",
        ))
    }

    pub fn creatio(&self) -> Result<&CreatioConfig, ConfigError> {
        self.creatio.as_ref().ok_or(missing(
            "CREATIO_URL",
            "the Creatio instance URL, e.g. https://acme.creatio.com",
        ))
    }

    pub fn twilio(&self) -> Result<&TwilioConfig, ConfigError> {
        self.twilio.as_ref().ok_or(missing(
            "TWILIO_ACCOUNT_SID",
            "the Twilio account that owns the SMS number",
        ))
    }

    pub fn widget(&self) -> Result<&WidgetConfig, ConfigError> {
        self.widget.as_ref().ok_or(missing(
            "WIDGET_SECRET",
            "a long random string that signs widget session tokens",
        ))
    }

    pub fn webhook_token(&self) -> Result<&SecretString, ConfigError> {
        self.webhook_token.as_ref().ok_or(missing(
            "CREATIO_WEBHOOK_TOKEN",
            "the secret the Creatio business process presents",
        ))
    }
}

fn creatio_config(src: &dyn Source) -> Result<Option<CreatioConfig>, ConfigError> {
    // Parsed before anything else so a malformed value fails even where Creatio is unused.
    let netcore = bool_var(src, "CREATIO_NETCORE", false)?;
    let client_id = var(src, "CREATIO_CLIENT_ID");
    let username = var(src, "CREATIO_USERNAME");
    let Some(url) = var(src, "CREATIO_URL") else {
        if client_id.is_some() || username.is_some() {
            return Err(missing(
                "CREATIO_URL",
                "credentials are set but no instance URL",
            ));
        }
        return Ok(None);
    };
    let url = BaseUrl::parse("CREATIO_URL", &url)?;
    let auth = if let Some(client_id) = client_id {
        let client_secret = secret(src, "CREATIO_CLIENT_SECRET").ok_or(missing(
            "CREATIO_CLIENT_SECRET",
            "CREATIO_CLIENT_ID is set, so the OAuth client secret is needed too",
        ))?;
        let identity = match var(src, "CREATIO_IDENTITY_URL") {
            Some(u) => IdentityServer::Configured(BaseUrl::parse("CREATIO_IDENTITY_URL", &u)?),
            None => IdentityServer::Discover {
                cloud: cloud_identity_url(&url),
            },
        };
        CreatioAuth::OAuth {
            client_id,
            client_secret,
            identity,
        }
    } else if let Some(username) = username {
        let password = secret(src, "CREATIO_PASSWORD").ok_or(missing(
            "CREATIO_PASSWORD",
            "CREATIO_USERNAME is set, so its password is needed too",
        ))?;
        CreatioAuth::Forms { username, password }
    } else {
        return Err(missing(
            "CREATIO_CLIENT_ID",
            "set CREATIO_CLIENT_ID and CREATIO_CLIENT_SECRET (OAuth), or CREATIO_USERNAME and CREATIO_PASSWORD",
        ));
    };
    Ok(Some(CreatioConfig {
        url,
        netcore,
        auth,
        case_owner_id: guid(src, "CREATIO_CASE_OWNER_ID")?,
        case_group_id: guid(src, "CREATIO_CASE_GROUP_ID")?,
        resolved_status_id: guid(src, "CREATIO_RESOLVED_STATUS_ID")?,
        closing_status_ids: match var(src, "CREATIO_CLOSED_STATUS_IDS") {
            None => default_closing(guid(src, "CREATIO_RESOLVED_STATUS_ID")?),
            Some(list) => {
                let mut ids = list
                    .split(',')
                    .map(|g| {
                        LookupId::parse(g.trim()).map_err(|e| ConfigError::Invalid {
                            name: "CREATIO_CLOSED_STATUS_IDS",
                            reason: e.to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(r) = guid(src, "CREATIO_RESOLVED_STATUS_ID")?
                    && !ids.contains(&r)
                {
                    ids.push(r);
                }
                ids
            }
        },
        new_status_id: guid_or(src, "CREATIO_NEW_STATUS_ID", base_ids::CASE_STATUS_NEW)?,
        sms_origin_id: guid_or(src, "CREATIO_SMS_ORIGIN_ID", base_ids::CASE_ORIGIN_CALL)?,
        widget_origin_id: guid_or(src, "CREATIO_WIDGET_ORIGIN_ID", base_ids::CASE_ORIGIN_CHAT)?,
        sync_mode: match var(src, "CASEBRIDGE_SYNC_MODE").as_deref() {
            None | Some("handoff") => SyncMode::Handoff,
            Some("every_conversation") => SyncMode::EveryConversation,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CASEBRIDGE_SYNC_MODE",
                    reason: "must be handoff or every_conversation".into(),
                });
            }
        },
        replies: reply_rules(src)?,
        batch_size: match var(src, "CREATIO_BATCH_SIZE") {
            None => DEFAULT_BATCH_SIZE,
            Some(_) => {
                let n = positive(src, "CREATIO_BATCH_SIZE", DEFAULT_BATCH_SIZE as i64)?;
                if n > crate::creatio::MAX_BATCH as i64 {
                    return Err(ConfigError::Invalid {
                        name: "CREATIO_BATCH_SIZE",
                        reason: format!(
                            "Creatio takes at most {} requests in one $batch",
                            crate::creatio::MAX_BATCH
                        ),
                    });
                }
                n as usize
            }
        },
        timeout: std::time::Duration::from_secs(positive(
            src,
            "CREATIO_TIMEOUT_SECONDS",
            DEFAULT_CREATIO_TIMEOUT.as_secs() as i64,
        )? as u64),
    }))
}

/// `CREATIO_REPLY_TYPES`: `email`, `task`, `call` or activity type GUIDs, comma-separated.
fn reply_rules(src: &dyn Source) -> Result<ReplyRules, ConfigError> {
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
    if let Some(list) = var(src, "CREATIO_REPLY_CATEGORIES") {
        rules.categories = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|g| {
                LookupId::parse(g).map_err(|e| ConfigError::Invalid {
                    name: "CREATIO_REPLY_CATEGORIES",
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
    }
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

fn default_closing(resolved: Option<LookupId>) -> Vec<LookupId> {
    let mut ids: Vec<LookupId> = [
        base_ids::CASE_STATUS_RESOLVED,
        base_ids::CASE_STATUS_CLOSED,
        base_ids::CASE_STATUS_CANCELED,
    ]
    .iter()
    .filter_map(|g| LookupId::parse(g).ok())
    .collect();
    if let Some(r) = resolved
        && !ids.contains(&r)
    {
        ids.push(r);
    }
    ids
}

fn guid_or(src: &dyn Source, name: &'static str, default: &str) -> Result<LookupId, ConfigError> {
    match guid(src, name)? {
        Some(g) => Ok(g),
        None => LookupId::parse(default).map_err(|e| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

/// Creatio cloud's identity server: `-is` added to the first label of the host
/// (`acme.creatio.com` → `acme-is.creatio.com`), for `*.creatio.com` only: an on-site instance
/// names its own (`OAuth20IdentityServerUrl`).
fn cloud_identity_url(url: &BaseUrl) -> Option<BaseUrl> {
    let host = url.host();
    let name = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    if !name.ends_with(".creatio.com") {
        return None;
    }
    let scheme = url
        .as_str()
        .split_once("://")
        .map(|(s, _)| s)
        .unwrap_or("https");
    let (first, rest) = host.split_once('.')?;
    Some(BaseUrl(format!("{scheme}://{first}-is.{rest}")))
}

fn twilio_config(
    src: &dyn Source,
    country: DefaultCountry,
) -> Result<Option<TwilioConfig>, ConfigError> {
    let Some(account_sid) = var(src, "TWILIO_ACCOUNT_SID") else {
        return Ok(None);
    };
    if !(account_sid.starts_with("AC") && account_sid.len() == 34) {
        return Err(ConfigError::Invalid {
            name: "TWILIO_ACCOUNT_SID",
            reason: "must be the 34-character account SID starting with AC".into(),
        });
    }
    let auth_token = secret(src, "TWILIO_AUTH_TOKEN").ok_or(missing(
        "TWILIO_AUTH_TOKEN",
        "signs Twilio webhooks and authenticates sends",
    ))?;
    let sender = match (
        var(src, "TWILIO_FROM"),
        var(src, "TWILIO_MESSAGING_SERVICE_SID"),
    ) {
        (_, Some(ms)) => TwilioSender::MessagingService(ms),
        (Some(from), None) => {
            TwilioSender::From(PhoneNumber::parse(&from, Some(country)).map_err(|e| {
                ConfigError::Invalid {
                    name: "TWILIO_FROM",
                    reason: e.to_string(),
                }
            })?)
        }
        (None, None) => {
            return Err(missing(
                "TWILIO_FROM",
                "set TWILIO_FROM (the sending number) or TWILIO_MESSAGING_SERVICE_SID",
            ));
        }
    };
    let api_url = match var(src, "TWILIO_API_URL") {
        Some(u) => BaseUrl::parse("TWILIO_API_URL", &u)?,
        None => BaseUrl("https://api.twilio.com".into()),
    };
    Ok(Some(TwilioConfig {
        account_sid,
        auth_token,
        sender,
        api_url,
    }))
}

fn widget_config(src: &dyn Source) -> Result<Option<WidgetConfig>, ConfigError> {
    let Some(secret_value) = var(src, "WIDGET_SECRET") else {
        return Ok(None);
    };
    if secret_value.len() < 32 {
        return Err(ConfigError::Invalid {
            name: "WIDGET_SECRET",
            reason: "must be at least 32 characters".into(),
        });
    }
    let allowed_origins = var(src, "WIDGET_ALLOWED_ORIGINS")
        .map(|v| {
            v.split(',')
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut attachments = AttachmentPolicy::with_defaults(var(src, "WIDGET_ATTACHMENTS_BUCKET"));
    attachments.max_bytes = positive(
        src,
        "WIDGET_ATTACHMENT_MAX_BYTES",
        AttachmentPolicy::DEFAULT_MAX_BYTES as i64,
    )? as u64;
    if let Some(types) = var(src, "WIDGET_ATTACHMENT_TYPES") {
        let types: Vec<String> = types
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        if let Some(bad) = types.iter().find(|t| {
            t.split_once('/')
                .is_none_or(|(a, b)| a.is_empty() || b.is_empty())
        }) {
            return Err(ConfigError::Invalid {
                name: "WIDGET_ATTACHMENT_TYPES",
                reason: format!("{bad:?} is not a media type like image/png"),
            });
        }
        if types
            .iter()
            .any(|t| t.contains("html") || t.contains("javascript") || t.contains("svg"))
        {
            return Err(ConfigError::Invalid {
                name: "WIDGET_ATTACHMENT_TYPES",
                reason: "HTML, SVG and script types could run in a reader's browser; they are not allowed".into(),
            });
        }
        if let Some(bad) = types.iter().find(|t| !crate::file_type::is_checkable(t)) {
            return Err(ConfigError::Invalid {
                name: "WIDGET_ATTACHMENT_TYPES",
                reason: format!(
                    "{bad:?} has no signature casebridge can check a file's bytes against; \
                     use text/plain or a type such as image/png or application/pdf"
                ),
            });
        }
        attachments.allowed_types = types;
    }
    let d = WidgetLimits::default();
    let limits = WidgetLimits {
        max_messages: positive(src, "WIDGET_MAX_MESSAGES", d.max_messages as i64)? as u64,
        max_bytes: positive(src, "WIDGET_MAX_BYTES", d.max_bytes as i64)? as u64,
        max_attachments: positive(src, "WIDGET_MAX_ATTACHMENTS", d.max_attachments as i64)? as u64,
        poll_page: d.poll_page,
        sessions_per_hour: u32::try_from(positive(
            src,
            "WIDGET_SESSIONS_PER_HOUR",
            i64::from(d.sessions_per_hour),
        )?)
        .unwrap_or(u32::MAX),
        handoffs_per_day: u32::try_from(positive(
            src,
            "WIDGET_HANDOFFS_PER_DAY",
            i64::from(d.handoffs_per_day),
        )?)
        .unwrap_or(u32::MAX),
    };
    let identity = crate::widget_auth::IdentityPolicy {
        audience: var(src, "WIDGET_IDENTITY_AUDIENCE"),
        issuer: var(src, "WIDGET_IDENTITY_ISSUER"),
        max_lifetime: SignedDuration::from_mins(positive(
            src,
            "WIDGET_IDENTITY_MAX_MINUTES",
            24 * 60,
        )?),
    };
    Ok(Some(WidgetConfig {
        secret: SecretString::from(secret_value),
        identity_secret: secret(src, "WIDGET_IDENTITY_SECRET"),
        identity,
        allowed_origins,
        attachments,
        limits,
    }))
}

fn assistant_config(src: &dyn Source) -> Result<AssistantKind, ConfigError> {
    match var(src, "ASSISTANT").as_deref() {
        None | Some("rules") => Ok(AssistantKind::Rules),
        Some("openai") => Ok(AssistantKind::OpenAi {
            base_url: BaseUrl::parse(
                "OPENAI_BASE_URL",
                &var(src, "OPENAI_BASE_URL").ok_or(missing(
                    "OPENAI_BASE_URL",
                    "ASSISTANT=openai needs the chat-completions base URL, e.g. https://api.openai.com/v1",
                ))?,
            )?,
            api_key: secret(src, "OPENAI_API_KEY")
                .ok_or(missing("OPENAI_API_KEY", "ASSISTANT=openai needs an API key"))?,
            model: var(src, "OPENAI_MODEL")
                .ok_or(missing("OPENAI_MODEL", "ASSISTANT=openai needs a model name"))?,
        }),
        Some(_) => Err(ConfigError::Invalid {
            name: "ASSISTANT",
            reason: "must be rules or openai".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_source(&map)
    }

    #[test]
    fn an_empty_environment_is_a_valid_local_default() {
        let c = cfg(&[]).unwrap();
        assert!(matches!(c.assistant, AssistantKind::Rules));
        assert_eq!(c.sms_idle_timeout, SignedDuration::from_hours(3));
        assert_eq!(c.catchup_interval, Some(std::time::Duration::from_secs(60)));
        assert_eq!(
            cfg(&[("CREATIO_CATCHUP_SECONDS", "0")])
                .unwrap()
                .catchup_interval,
            None
        );
        assert_eq!(
            c.table_name().unwrap_err().to_string(),
            "TABLE_NAME is not set: the DynamoDB table the store uses"
        );
        assert!(
            c.creatio()
                .unwrap_err()
                .to_string()
                .starts_with("CREATIO_URL is not set")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("PUBLIC_BASE_URL", "ftp://x")], "PUBLIC_BASE_URL"),
            (&[("SSL_CERT_FILE", "/nonexistent/ca.pem")], "SSL_CERT_FILE"),
            (
                &[("PUBLIC_BASE_URL", "http://example.com")],
                "PUBLIC_BASE_URL",
            ),
            (
                &[("CREATIO_URL", "https://a.creatio.com")],
                "CREATIO_CLIENT_ID",
            ),
            (&[("CREATIO_CLIENT_ID", "x")], "CREATIO_URL"),
            (
                &[
                    ("CREATIO_URL", "https://a.creatio.com"),
                    ("CREATIO_CLIENT_ID", "x"),
                ],
                "CREATIO_CLIENT_SECRET",
            ),
            (
                &[
                    ("CREATIO_URL", "https://a.creatio.com"),
                    ("CREATIO_USERNAME", "x"),
                ],
                "CREATIO_PASSWORD",
            ),
            (&[("CREATIO_NETCORE", "maybe")], "CREATIO_NETCORE"),
            (&[("TWILIO_ACCOUNT_SID", "nope")], "TWILIO_ACCOUNT_SID"),
            (
                &[("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef")],
                "TWILIO_AUTH_TOKEN",
            ),
            (
                &[
                    ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
                    ("TWILIO_AUTH_TOKEN", "t"),
                    ("TWILIO_FROM", "not a number"),
                ],
                "TWILIO_FROM",
            ),
            (&[("WIDGET_SECRET", "short")], "WIDGET_SECRET"),
            (
                &[
                    ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
                    ("WIDGET_ATTACHMENT_MAX_BYTES", "10MB"),
                ],
                "WIDGET_ATTACHMENT_MAX_BYTES",
            ),
            (
                &[
                    ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
                    ("WIDGET_ATTACHMENT_TYPES", "image/png, pdf"),
                ],
                "WIDGET_ATTACHMENT_TYPES",
            ),
            (
                &[
                    ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
                    ("WIDGET_ATTACHMENT_TYPES", "image/png,text/html"),
                ],
                "WIDGET_ATTACHMENT_TYPES",
            ),
            (
                &[
                    ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
                    // No signature to check a file's bytes against.
                    ("WIDGET_ATTACHMENT_TYPES", "image/png,text/csv"),
                ],
                "WIDGET_ATTACHMENT_TYPES",
            ),
            (&[("ASSISTANT", "gpt")], "ASSISTANT"),
            (
                &[
                    ("CREATIO_URL", "https://a.creatio.com"),
                    ("CREATIO_USERNAME", "u"),
                    ("CREATIO_PASSWORD", "p"),
                    ("CREATIO_BATCH_SIZE", "500"),
                ],
                "CREATIO_BATCH_SIZE",
            ),
            (
                &[
                    ("CREATIO_URL", "https://a.creatio.com"),
                    ("CREATIO_USERNAME", "u"),
                    ("CREATIO_PASSWORD", "p"),
                    ("CREATIO_TIMEOUT_SECONDS", "0"),
                ],
                "CREATIO_TIMEOUT_SECONDS",
            ),
            (
                &[("CREATIO_CATCHUP_SECONDS", "soon")],
                "CREATIO_CATCHUP_SECONDS",
            ),
            (
                &[
                    ("CREATIO_URL", "https://a.creatio.com"),
                    ("CREATIO_USERNAME", "u"),
                    ("CREATIO_PASSWORD", "p"),
                    ("CREATIO_REPLY_TYPES", "email,fax"),
                ],
                "CREATIO_REPLY_TYPES",
            ),
            (&[("ASSISTANT", "openai")], "OPENAI_BASE_URL"),
            (
                &[("SMS_IDLE_TIMEOUT_MINUTES", "-5")],
                "SMS_IDLE_TIMEOUT_MINUTES",
            ),
            (
                &[("CASEBRIDGE_DEFAULT_COUNTRY", "Narnia")],
                "CASEBRIDGE_DEFAULT_COUNTRY",
            ),
        ];
        for (env, name) in cases {
            let map: HashMap<&str, &str> = env.iter().copied().collect();
            let err = Config::from_source(&map).expect_err(name);
            assert!(err.to_string().starts_with(name), "{name}: {err}");
        }
        let err = cfg(&[
            ("CREATIO_URL", "https://a.creatio.com"),
            ("CREATIO_USERNAME", "u"),
            ("CREATIO_PASSWORD", "p"),
            ("CREATIO_CASE_OWNER_ID", "bob"),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("CREATIO_CASE_OWNER_ID is invalid"),
            "{err}"
        );
    }

    #[test]
    fn creatio_oauth_derives_the_identity_host_and_tolerates_a_trailing_slash() {
        let c = cfg(&[
            ("CREATIO_URL", "https://acme.creatio.com/"),
            ("CREATIO_CLIENT_ID", "id"),
            ("CREATIO_CLIENT_SECRET", "s3cret-value"),
        ])
        .unwrap();
        let cr = c.creatio().unwrap();
        assert_eq!(cr.url.as_str(), "https://acme.creatio.com");
        assert!(!cr.netcore);
        match &cr.auth {
            CreatioAuth::OAuth { identity, .. } => assert_eq!(
                identity,
                &IdentityServer::Discover {
                    cloud: Some(BaseUrl("https://acme-is.creatio.com".into()))
                }
            ),
            other => panic!("expected OAuth, got {other:?}"),
        }
        // On-site: no `-is` guess; discovery, or CREATIO_IDENTITY_URL.
        let on_site = |extra: &[(&'static str, &'static str)]| {
            let mut env = vec![
                ("CREATIO_URL", "https://crm.acme.example"),
                ("CREATIO_CLIENT_ID", "id"),
                ("CREATIO_CLIENT_SECRET", "s3cret-value"),
            ];
            env.extend_from_slice(extra);
            match cfg(&env).unwrap().creatio().unwrap().auth.clone() {
                CreatioAuth::OAuth { identity, .. } => identity,
                other => panic!("expected OAuth, got {other:?}"),
            }
        };
        assert_eq!(on_site(&[]), IdentityServer::Discover { cloud: None });
        assert_eq!(
            on_site(&[("CREATIO_IDENTITY_URL", "https://id.acme.example/")]),
            IdentityServer::Configured(BaseUrl("https://id.acme.example".into()))
        );
    }

    #[test]
    fn a_base_from_the_host_is_https_except_on_loopback() {
        let b = |h: &str| BaseUrl::from_host(h).map(|b| b.as_str().to_owned());
        assert_eq!(
            b("abc.execute-api.us-east-1.amazonaws.com").unwrap(),
            "https://abc.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(b("127.0.0.1:3000").unwrap(), "http://127.0.0.1:3000");
        assert_eq!(b("localhost").unwrap(), "http://localhost");
        assert_eq!(b("[::1]:9000").unwrap(), "http://[::1]:9000");
        assert!(b("").is_err());
        assert!(b("evil.example.com/x?y").is_err());
    }

    #[test]
    fn attachment_policy_reads_its_limits_and_matches_types_without_parameters() {
        let c = cfg(&[
            ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
            ("WIDGET_ATTACHMENTS_BUCKET", "acme-casebridge-attachments"),
            ("WIDGET_ATTACHMENT_MAX_BYTES", "2048"),
            ("WIDGET_ATTACHMENT_TYPES", "Image/PNG, application/pdf"),
        ])
        .unwrap();
        let p = &c.widget().unwrap().attachments;
        assert_eq!(p.bucket.as_deref(), Some("acme-casebridge-attachments"));
        assert_eq!(p.max_bytes, 2048);
        assert!(p.allows_type("image/png"));
        assert!(p.allows_type("application/PDF; name=x"));
        assert!(!p.allows_type("image/jpeg"));
        let d = cfg(&[("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget")]).unwrap();
        let d = &d.widget().unwrap().attachments;
        assert_eq!(d.bucket, None);
        assert_eq!(d.max_bytes, 10 * 1024 * 1024);
        assert!(d.allows_type("image/jpeg") && !d.allows_type("text/html"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let c = cfg(&[
            ("CREATIO_URL", "https://acme.creatio.com"),
            ("CREATIO_USERNAME", "integration"),
            ("CREATIO_PASSWORD", "hunter2-password"),
            ("CREATIO_WEBHOOK_TOKEN", "webhook-token-value"),
            ("TWILIO_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef"),
            ("TWILIO_AUTH_TOKEN", "twilio-token-value"),
            ("TWILIO_FROM", "+15557654321"),
            ("WIDGET_SECRET", "0123456789abcdef0123456789abcdef-widget"),
        ])
        .unwrap();
        let dbg = format!("{c:?}");
        for s in [
            "hunter2-password",
            "webhook-token-value",
            "twilio-token-value",
            "-widget",
        ] {
            assert!(!dbg.contains(s), "{s} leaked into Debug");
        }
        assert!(dbg.contains("REDACTED"));
    }
}
