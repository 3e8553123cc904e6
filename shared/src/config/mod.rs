//! Typed configuration from the environment (the names are a contract: docs/configuration.md lists each).
//!
//! Every function calls [`Config::from_env`] once in `main`; a malformed value fails there with a
//! message naming the variable. Values only some functions need are optional here and demanded
//! by the accessor that function calls at start-up (`config.creatio()?` in handoff), so a missing
//! Creatio URL stops the handoff function at cold start, not on the first stream record.
//!
//! Secrets are `SecretString`s (crate `secrecy`: tiny, zeroes on drop, `Debug` prints
//! `[REDACTED]`), so `{:?}` of a config never leaks one into a log.
//!
//! One section per integration, in the integration's own folder: `creatio::config`,
//! `sms::config`, `widget::config` (and the assistant's here). They read through `source` (where
//! values come from, and the readers every section uses), which sits below them all; [`Config`]
//! composes them above, and the accessors (`creatio()`, `twilio()`, `widget()`) are what a
//! function demands at start-up.

mod assistant;
pub(crate) mod source;

use crate::domain::{DefaultCountry, LookupId};
use jiff::SignedDuration;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::creatio::config::creatio_config;
pub use crate::creatio::config::{
    CreatioAuth, CreatioConfig, DEFAULT_BATCH_SIZE, DEFAULT_CREATIO_TIMEOUT, IdentityServer,
    SyncMode,
};
use crate::knowledge::KnowledgeConfig;
use crate::knowledge::config::knowledge_config;
use crate::replies::ReplyRules;
use crate::replies::config::replies_config;
use crate::sms::config::twilio_config;
pub use crate::sms::config::{TwilioConfig, TwilioSender};
use crate::widget::config::widget_config;
pub use crate::widget::config::{AttachmentPolicy, WidgetConfig, WidgetLimits};
pub use assistant::AssistantKind;
use assistant::assistant_config;
use source::*;
pub use source::{BaseUrl, ConfigError, ProcessEnv, Source};
pub(crate) use source::{missing, var};

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
    /// What counts as a rep's reply (`crate::replies::config`).
    pub replies: ReplyRules,
    twilio: Option<TwilioConfig>,
    widget: Option<WidgetConfig>,
    pub webhook_token: Option<SecretString>,
    pub assistant: AssistantKind,
    pub rules_path: Option<PathBuf>,
    /// Where the assistant's articles come from (`crate::knowledge::config`).
    pub knowledge: KnowledgeConfig,
    /// `WIDGET_SOCKET_URL`: the widget's WebSocket API stage (`wss://…/<stage>`); None: no
    /// push, the widget polls (`crate::widget::socket`).
    pub widget_socket: Option<crate::widget::config::SocketUrl>,
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
            replies: replies_config(src)?,
            twilio: twilio_config(src)?,
            widget: widget_config(src)?,
            webhook_token: secret(src, "CREATIO_WEBHOOK_TOKEN"),
            assistant: assistant_config(src)?,
            rules_path: var(src, "CASEBRIDGE_CONFIG").map(PathBuf::from),
            knowledge: knowledge_config(src)?,
            widget_socket: var(src, "WIDGET_SOCKET_URL")
                .map(|v| crate::widget::config::SocketUrl::parse("WIDGET_SOCKET_URL", &v))
                .transpose()?,
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

    /// `CREATIO_WEBHOOK_TOKEN`: the token the Creatio business process presents. During a
    /// rotation it holds two, the new one first, separated by a space or a comma, and both are
    /// accepted (docs/operations.md, "Rotating a secret").
    pub fn webhook_tokens(&self) -> Result<Vec<SecretString>, ConfigError> {
        let all = self.webhook_token.as_ref().ok_or(missing(
            "CREATIO_WEBHOOK_TOKEN",
            "the secret the Creatio business process presents",
        ))?;
        let tokens: Vec<SecretString> = all
            .expose_secret()
            .split([' ', ',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(SecretString::from)
            .collect();
        if tokens.is_empty() || tokens.len() > 2 {
            return Err(ConfigError::Invalid {
                name: "CREATIO_WEBHOOK_TOKEN",
                reason: "must hold one token, or two (new and old) while rotating".into(),
            });
        }
        // Anyone on the internet may try tokens at the webhook: a short one could be guessed.
        if tokens
            .iter()
            .any(|t| t.expose_secret().chars().count() < 16)
        {
            return Err(ConfigError::Invalid {
                name: "CREATIO_WEBHOOK_TOKEN",
                reason: "each token must be at least 16 characters".into(),
            });
        }
        Ok(tokens)
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

    #[test]
    fn the_webhook_token_holds_one_token_or_two_while_rotating() {
        let one = cfg(&[("CREATIO_WEBHOOK_TOKEN", "token-a-0123456789")]).unwrap();
        assert_eq!(one.webhook_tokens().unwrap().len(), 1);
        let two = cfg(&[(
            "CREATIO_WEBHOOK_TOKEN",
            " new-token-0123456789, old-token-0123456789 ",
        )])
        .unwrap();
        let two: Vec<String> = two
            .webhook_tokens()
            .unwrap()
            .iter()
            .map(|t| t.expose_secret().to_owned())
            .collect();
        assert_eq!(two, ["new-token-0123456789", "old-token-0123456789"]);
        let short = cfg(&[("CREATIO_WEBHOOK_TOKEN", "new-token-0123456789 abc")]).unwrap();
        assert!(short.webhook_tokens().is_err());
        let three = cfg(&[(
            "CREATIO_WEBHOOK_TOKEN",
            "a-0123456789 b-0123456789 c-0123456789",
        )])
        .unwrap();
        assert!(three.webhook_tokens().is_err());
        assert!(cfg(&[]).unwrap().webhook_tokens().is_err());
    }
}
