//! The widget section: the session secret, the site's identity JWT and what it must satisfy,
//! allowed origins, the per-conversation and per-address limits, the attachment policy, and the
//! socket URL (`WIDGET_SOCKET_URL`, read with the rest of the configuration).

use crate::config::source::*;
use crate::domain::ConnectionId;
use jiff::SignedDuration;
use secrecy::SecretString;

#[derive(Debug, Clone)]
pub struct WidgetConfig {
    pub secret: SecretString,
    pub identity_secret: Option<SecretString>,
    /// What a site's identity token must also satisfy (`WIDGET_IDENTITY_AUDIENCE`,
    /// `WIDGET_IDENTITY_ISSUER`, `WIDGET_IDENTITY_MAX_MINUTES`).
    pub identity: crate::widget::auth::IdentityPolicy,
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
            identity: crate::widget::auth::IdentityPolicy::default(),
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
    /// Open sockets one conversation may have at once: the visitor's tabs (5).
    pub sockets_per_session: usize,
    /// Sockets one client address may open in an hour (120: a tab reconnects after API
    /// Gateway's 10 idle minutes, and an office shares one address).
    pub sockets_per_hour: u32,
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
            sockets_per_session: 5,
            sockets_per_hour: 120,
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

pub(crate) fn widget_config(src: &dyn Source) -> Result<Option<WidgetConfig>, ConfigError> {
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
        if let Some(bad) = types
            .iter()
            .find(|t| !crate::widget::file_type::is_checkable(t))
        {
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
        ..d
    };
    let identity = crate::widget::auth::IdentityPolicy {
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

/// `WIDGET_SOCKET_URL`: where the widget opens its socket (`wss://…/<stage>`, or `ws://` on
/// loopback), and from it the management endpoint casebridge posts to (`https://…/<stage>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketUrl {
    socket: String,
    management: BaseUrl,
}

impl SocketUrl {
    pub fn parse(name: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let s = raw.trim().trim_end_matches('/');
        let http = if let Some(rest) = s.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = s.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            return Err(ConfigError::Invalid {
                name,
                reason: "must start with wss:// (ws:// only for loopback)".into(),
            });
        };
        let management = BaseUrl::parse(name, &http).map_err(|e| match e {
            ConfigError::Invalid { reason, .. } => ConfigError::Invalid {
                name,
                reason: reason
                    .replace("https://", "wss://")
                    .replace("http://", "ws://"),
            },
            other => other,
        })?;
        Ok(Self {
            socket: s.to_owned(),
            management,
        })
    }

    /// What the widget opens.
    pub fn as_str(&self) -> &str {
        &self.socket
    }

    /// Where a message for `connection` is posted.
    pub fn connection_url(&self, connection: &ConnectionId) -> String {
        // The id is base64-like (`=`, `+`, `/`): encoded as a path segment, as the SDK does.
        let id = percent_encoding::utf8_percent_encode(connection.as_str(), SEGMENT);
        self.management.join(&format!("/@connections/{id}"))
    }
}

const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
