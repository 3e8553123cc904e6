//! The Creatio section: the instance, how casebridge signs in (OAuth2 client credentials or
//! forms), the identity server, batch size and timeouts, the case defaults and closing statuses,
//! The base-data GUIDs it defaults to are [`super::base_ids`]; what counts as a rep's reply is
//! the replies' own section ([`crate::replies::config`]).

use super::base_ids;
use crate::config::source::*;
use crate::domain::LookupId;
use secrecy::SecretString;

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
    /// `CREATIO_CASE_LANGUAGE_COLUMN`: a text column of Case (a custom one such as
    /// `UsrLanguage`) that gets the conversation's language code (`es`); None writes nothing.
    pub language_column: Option<String>,
    /// `CREATIO_CONTACT_LANGUAGE` (default false): the matched contact's language
    /// (`Contact.LanguageId`) overrides the detected one for the case's language column and the
    /// closing notice (see `creatio::contact`).
    pub contact_language: bool,
    /// `CREATIO_BATCH_SIZE`: writes per `$batch` request (default 100, Creatio's limit: the
    /// fewest round trips). Each insert runs Creatio's server-side logic, so a full batch takes
    /// long on a busy instance; the timeout below gives each of 100 inserts 0.9 s, and an instance
    /// slower than that takes a smaller batch.
    pub batch_size: usize,
    /// `CREATIO_TIMEOUT_SECONDS`: how long one Creatio request may take (default 90).
    pub timeout: std::time::Duration,
    /// `CREATIO_MAX_CONCURRENCY`: requests one container has in flight to Creatio at most
    /// (default 4); the others wait their turn. See docs/handoff-and-replies.md for the bound
    /// across containers.
    pub max_concurrency: usize,
}

/// Requests in flight from one container unless `CREATIO_MAX_CONCURRENCY` says otherwise.
pub const DEFAULT_MAX_CONCURRENCY: usize = 4;

/// Writes per `$batch` unless `CREATIO_BATCH_SIZE` says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 100;

/// One Creatio request's time limit unless `CREATIO_TIMEOUT_SECONDS` says otherwise.
pub const DEFAULT_CREATIO_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

impl CreatioConfig {
    /// Does a case in `status` close its conversation (`CREATIO_CLOSED_STATUS_IDS`)? No status
    /// (an empty lookup) closes nothing.
    pub fn is_closing(&self, status: Option<LookupId>) -> bool {
        status.is_some_and(|s| self.closing_status_ids.contains(&s))
    }

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
            language_column: None,
            contact_language: false,
            batch_size: DEFAULT_BATCH_SIZE,
            timeout: DEFAULT_CREATIO_TIMEOUT,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
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

pub(crate) fn creatio_config(src: &dyn Source) -> Result<Option<CreatioConfig>, ConfigError> {
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
        language_column: match var(src, "CREATIO_CASE_LANGUAGE_COLUMN") {
            None => None,
            Some(c) if is_column_name(&c) => Some(c.trim().to_owned()),
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "CREATIO_CASE_LANGUAGE_COLUMN",
                    reason: "must be a Case column name such as UsrLanguage".into(),
                });
            }
        },
        contact_language: bool_var(src, "CREATIO_CONTACT_LANGUAGE", false)?,
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
        max_concurrency: positive(
            src,
            "CREATIO_MAX_CONCURRENCY",
            DEFAULT_MAX_CONCURRENCY as i64,
        )? as usize,
    }))
}

pub(crate) fn default_closing(resolved: Option<LookupId>) -> Vec<LookupId> {
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

pub(crate) fn guid_or(
    src: &dyn Source,
    name: &'static str,
    default: &str,
) -> Result<LookupId, ConfigError> {
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
pub(crate) fn cloud_identity_url(url: &BaseUrl) -> Option<BaseUrl> {
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

/// A column name as it goes into an OData body: letters, digits and `_`, a letter first.
fn is_column_name(s: &str) -> bool {
    let s = s.trim();
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}
