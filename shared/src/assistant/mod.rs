//! The assistant: who answers the customer before a person does, and what the person gets.
//!
//! Two layers:
//!
//! - [`Assistant`] is the seam an implementation fills: answer one turn (a reply, "I don't know",
//!   or "hand this off"), and write the case brief (summary and AI fields). [`rules`] is the
//!   default and needs no network; [`openai`] talks to any OpenAI-compatible chat-completions API.
//! - [`Concierge`] is the policy every implementation is held to, so no implementation can get it
//!   wrong: it stays silent once a session left the assistant, hands off when the customer asks
//!   for a person or after `max_fallbacks` unanswered turns in a row, turns any implementation
//!   failure or timeout into a safe handoff (the customer is never left without an answer),
//!   shapes replies for the channel, words the handoff notice by business hours, and keeps AI
//!   dropdown values to the allowed list.
//!
//! The inbound functions call [`Concierge::respond`]; the handoff function calls
//! [`Concierge::brief`].

pub mod format;
pub mod hours;
pub mod openai;
pub mod rules;
pub mod settings;
mod text;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::actions::{ActionError, Actions};
use crate::config::{AssistantKind, Config, ConfigError};
use crate::domain::{
    Card, Channel, Customer, Language, Message, MessageText, Role, Session, SessionId,
    conversation_language,
};
use crate::knowledge::Knowledge;
pub use settings::{FieldSpec, FieldType, Settings};

/// What an implementation says to one customer turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// An answer to the question.
    Reply(String),
    /// No answer; the text tells the customer so (and may offer a person). Counts towards
    /// `max_fallbacks`.
    NoAnswer(String),
    /// The implementation decided a person should take over, and why.
    Handoff { reason: String },
    /// An answer from an action's result (the model called one): the text, and the card the
    /// widget shows.
    Acted { text: String, card: Card },
}

/// The input of both calls: one conversation as stored.
#[derive(Debug, Clone, Copy)]
pub struct Conversation<'a> {
    /// For the audit line of an action call.
    pub session: SessionId,
    pub channel: Channel,
    pub customer: &'a Customer,
    pub transcript: &'a [Message],
}

impl<'a> Conversation<'a> {
    /// The latest customer turn's texts, one a line.
    pub fn question(&self) -> String {
        self.latest_customer_turn()
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn of(session: &'a Session, transcript: &'a [Message]) -> Self {
        Self {
            session: session.id,
            channel: session.key.channel,
            customer: &session.key.customer,
            transcript,
        }
    }

    /// Customer messages since the last assistant or agent message: the turn being answered.
    pub fn latest_customer_turn(&self) -> Vec<&'a Message> {
        let mut turn: Vec<&Message> = self
            .transcript
            .iter()
            .rev()
            .take_while(|m| m.role != Role::Assistant && m.role != Role::Agent)
            .filter(|m| m.role == Role::Customer)
            .collect();
        turn.reverse();
        turn
    }

    pub fn customer_messages(&self) -> impl Iterator<Item = &'a Message> {
        self.transcript.iter().filter(|m| m.role == Role::Customer)
    }
}

/// The case brief: what the person in Creatio reads first.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseBrief {
    /// Goes to the case's `Symptoms` (description).
    pub summary: String,
    pub fields: Vec<FieldValue>,
}

/// A value for one configured AI field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldValue {
    pub column: String,
    pub value: FieldContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldContent {
    Text(String),
    /// A dropdown value by name; the handoff resolves it to the lookup row's GUID in `entity`.
    Lookup {
        entity: String,
        name: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("assistant endpoint unreachable: {0}")]
    Transport(String),
    #[error("assistant endpoint answered HTTP {status}")]
    Status { status: u16 },
    #[error("assistant answer was not usable: {0}")]
    Protocol(String),
    #[error("assistant did not answer within {0:?}")]
    Timeout(Duration),
}

#[async_trait]
pub trait Assistant: Send + Sync {
    /// Answers the latest customer turn of `conversation`.
    async fn answer(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
    ) -> Result<Answer, AssistantError>;

    /// Summary and AI fields for the case. `reason` is why the conversation was handed off.
    async fn brief(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
        reason: &str,
    ) -> Result<CaseBrief, AssistantError>;
}

/// Why a session went to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffReason {
    CustomerAsked,
    Unanswered { turns: u32 },
    AssistantDecided(String),
    AssistantFailed,
}

impl HandoffReason {
    /// A short, fixed name for metrics (`Reason` dimension).
    pub fn code(&self) -> &'static str {
        match self {
            HandoffReason::CustomerAsked => "customer_asked",
            HandoffReason::Unanswered { .. } => "unanswered",
            HandoffReason::AssistantDecided(_) => "assistant_decided",
            HandoffReason::AssistantFailed => "assistant_failed",
        }
    }

    /// Stored on the session and shown to the rep.
    pub fn describe(&self) -> String {
        match self {
            HandoffReason::CustomerAsked => "customer asked for a person".into(),
            HandoffReason::Unanswered { turns } => {
                format!("assistant could not answer {turns} questions in a row")
            }
            HandoffReason::AssistantDecided(why) => format!("assistant handed off: {why}"),
            HandoffReason::AssistantFailed => "assistant unavailable; handed off safely".into(),
        }
    }
}

/// What the inbound function does with a customer turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The session is not with the assistant (a person has it, or it is closed): store only.
    Silent,
    Reply {
        text: MessageText,
        /// An unanswered turn (store it with `NewMessage::as_fallback`).
        fallback: bool,
        /// What the widget shows of an answer that came from an action.
        card: Option<Card>,
    },
    Handoff {
        reason: HandoffReason,
        /// What the customer is told.
        notice: MessageText,
    },
}

/// The policy around an [`Assistant`]; built once per cold start.
#[derive(Clone)]
pub struct Concierge {
    assistant: Arc<dyn Assistant>,
    settings: Arc<Settings>,
    /// The settings in each language that has texts of its own (built once, not per message).
    localized: Arc<HashMap<Language, Settings>>,
    /// The closing notice in each language (built once).
    closed: Arc<settings::ClosedNotices>,
    knowledge: Option<Arc<Knowledge>>,
    actions: Option<Arc<Actions>>,
}

impl Concierge {
    pub fn new(assistant: Arc<dyn Assistant>, settings: Arc<Settings>) -> Self {
        let localized = settings
            .texts
            .keys()
            .map(|l| (*l, settings.in_language(*l)))
            .collect();
        Self {
            assistant,
            closed: Arc::new(settings::ClosedNotices::from_settings(&settings)),
            settings,
            localized: Arc::new(localized),
            knowledge: None,
            actions: None,
        }
    }

    /// The knowledge the assistant answers from, for the policy's own use (recording how close
    /// an unanswered question came) and for a function's `main` to point at the snapshot.
    pub fn with_knowledge(mut self, knowledge: Arc<Knowledge>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    /// The team's actions ([`crate::actions`]): a question one of their triggers matches is
    /// answered from a call, whichever assistant is configured.
    pub fn with_actions(mut self, actions: Arc<Actions>) -> Self {
        self.actions = Some(actions);
        self
    }

    pub fn actions(&self) -> Option<&Arc<Actions>> {
        self.actions.as_ref()
    }

    /// The settings as the conversation's `language` speaks them (the default ones when it has
    /// no texts of its own, or is not known).
    pub fn settings_for(&self, language: Option<Language>) -> &Settings {
        language
            .and_then(|l| self.localized.get(&l))
            .unwrap_or(&self.settings)
    }

    /// The configured assistant (`ASSISTANT`, `CASEBRIDGE_CONFIG`). Fails at start-up on a bad
    /// settings file.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let settings = Arc::new(Settings::load(config.rules_path.as_deref())?);
        let knowledge = Self::knowledge_from(config)?;
        let actions = Self::actions_from(&settings, &|name| std::env::var(name).ok())?;
        let assistant: Arc<dyn Assistant> = match &config.assistant {
            AssistantKind::Rules => Arc::new(match &knowledge {
                Some(k) => rules::RulesAssistant::with_knowledge(k.clone()),
                None => rules::RulesAssistant::default(),
            }),
            AssistantKind::OpenAi {
                base_url,
                api_key,
                model,
            } => {
                let http =
                    crate::http::client(Duration::from_secs(settings.assistant.timeout_seconds))
                        .map_err(|e| ConfigError::Invalid {
                            name: "OPENAI_BASE_URL",
                            reason: format!("cannot build an HTTP client: {e}"),
                        })?;
                let assistant =
                    openai::OpenAiAssistant::new(http, base_url, api_key.clone(), model.clone());
                let assistant = match &knowledge {
                    Some(k) => assistant.with_knowledge(k.clone()),
                    None => assistant,
                };
                Arc::new(match &actions {
                    Some(a) => assistant.with_actions(a.clone()),
                    None => assistant,
                })
            }
        };
        let mut concierge = Self::new(assistant, settings);
        if let Some(k) = knowledge {
            concierge = concierge.with_knowledge(k);
        }
        if let Some(a) = actions {
            concierge = concierge.with_actions(a);
        }
        Ok(concierge)
    }

    /// The settings' actions with their header secrets read through `secret`; None without any.
    pub fn actions_from(
        settings: &Settings,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<Actions>>, ConfigError> {
        if settings.actions.list.is_empty() {
            return Ok(None);
        }
        let list = crate::actions::config::build(&settings.actions, secret)?;
        // Each call sets its own timeout; this one only bounds a call that forgot to.
        let http =
            crate::http::client(Duration::from_secs(30)).map_err(|e| ConfigError::Invalid {
                name: "CASEBRIDGE_CONFIG",
                reason: format!("actions: cannot build an HTTP client: {e}"),
            })?;
        Ok(Some(Arc::new(Actions::new(list, &settings.actions, http))))
    }

    /// The configured knowledge, reading Creatio directly only where no snapshot store is set
    /// (see `crate::knowledge`).
    fn knowledge_from(config: &Config) -> Result<Option<Arc<Knowledge>>, ConfigError> {
        let k = &config.knowledge;
        if !k.is_configured() {
            return Ok(None);
        }
        let mut knowledge = Knowledge::new(k.clone());
        if k.creatio {
            let creatio = config.creatio().map_err(|_| ConfigError::Invalid {
                name: "CASEBRIDGE_KNOWLEDGE_CREATIO",
                reason: "reading Creatio's knowledge base needs CREATIO_URL and its sign-in".into(),
            })?;
            let http = crate::http::client(creatio.timeout).map_err(|e| ConfigError::Invalid {
                name: "CREATIO_URL",
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
            knowledge = knowledge.with_creatio(crate::creatio::CreatioClient::new(
                creatio,
                http,
                crate::http::RetryPolicy::default(),
            ));
        }
        Ok(Some(Arc::new(knowledge)))
    }

    /// How much of the latest customer turn the best passage covers (0 to 1; 0 when none
    /// shares a word); None without knowledge. For recording an unanswered question.
    pub async fn best_coverage(&self, session: &Session, transcript: &[Message]) -> Option<f32> {
        let knowledge = self.knowledge.as_ref()?;
        let question = Conversation::of(session, transcript).question();
        let index = knowledge.index().await;
        Some(
            index
                .best(&question, conversation_language(transcript))
                .map_or(0.0, |h| h.coverage),
        )
    }

    /// The team's articles the assistant answers from, when configured (a function's `main`
    /// points it at the table's snapshot).
    pub fn knowledge(&self) -> Option<&Arc<Knowledge>> {
        self.knowledge.as_ref()
    }

    /// The rules assistant over the embedded default settings.
    pub fn embedded_default() -> Self {
        Self::new(
            Arc::new(rules::RulesAssistant::default()),
            Arc::new(Settings::embedded()),
        )
    }

    /// What the customer is told when their case closes, per language.
    pub fn closed_notices(&self) -> &settings::ClosedNotices {
        &self.closed
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Decides what to do with the latest customer turn of `session`. Never fails: whatever goes
    /// wrong inside the assistant ends in a handoff, so the customer always hears something.
    pub async fn respond(
        &self,
        session: &Session,
        transcript: &[Message],
        now: Timestamp,
    ) -> Decision {
        if !session.state.assistant_replies() {
            return Decision::Silent;
        }
        let conversation = Conversation::of(session, transcript);
        let turn = conversation.latest_customer_turn();
        if turn.is_empty() {
            return Decision::Silent;
        }
        // Every fixed text in the customer's language (the assistant gets the same settings).
        let settings = self.settings_for(conversation_language(transcript));
        let phrases = &settings.assistant.handoff_phrases;
        if turn
            .iter()
            .any(|m| text::mentions_any(m.text.as_str(), phrases))
        {
            return handoff(settings, HandoffReason::CustomerAsked, now);
        }
        if let Some(actions) = &self.actions
            && let Some((action, args)) =
                actions.triggered(&conversation.question(), &session.key.customer)
        {
            let channel = session.key.channel;
            return match actions
                .call(action, &args, &session.key.customer, session.id)
                .await
            {
                Ok(found) => {
                    // Built for the channel here, not shaped as a model's text would be: the
                    // values are the team's data (never read as markdown), and on SMS whole rows
                    // and links are dropped to fit, never cut.
                    let max = match channel {
                        Channel::Sms => settings.sms.max_chars,
                        Channel::Widget => settings.widget.max_chars,
                    };
                    let text = found.text_within(action.answer.as_deref(), max);
                    match MessageText::parse(&text).ok() {
                        Some(text) => Decision::Reply {
                            text,
                            fallback: false,
                            card: Some(found.card(found.answer.as_deref())),
                        },
                        None => unanswered(
                            settings,
                            channel,
                            transcript,
                            &settings.assistant.fallback,
                            now,
                        ),
                    }
                }
                // Asked to sign in. Counted as unanswered all the same: a visitor who cannot
                // (a site without sign-in) reaches a person after `max_fallbacks`.
                Err(ActionError::NeedsIdentity(_))
                    if matches!(session.key.customer, Customer::Visitor(_)) =>
                {
                    unanswered(settings, channel, transcript, &actions.sign_in_text, now)
                }
                Err(_) => unanswered(
                    settings,
                    channel,
                    transcript,
                    &settings.assistant.fallback,
                    now,
                ),
            };
        }
        let timeout = Duration::from_secs(settings.assistant.timeout_seconds);
        let answer = tokio::time::timeout(timeout, self.assistant.answer(settings, conversation))
            .await
            .unwrap_or(Err(AssistantError::Timeout(timeout)));
        match answer {
            Err(e) => {
                tracing::warn!(session_id = %session.id, error = %e, "assistant failed; handing off");
                handoff(settings, HandoffReason::AssistantFailed, now)
            }
            Ok(Answer::Handoff { reason }) => {
                handoff(settings, HandoffReason::AssistantDecided(reason), now)
            }
            Ok(Answer::Reply(text)) => match shape(settings, &text, session.key.channel) {
                Some(text) => Decision::Reply {
                    text,
                    fallback: false,
                    card: None,
                },
                None => handoff(settings, HandoffReason::AssistantFailed, now),
            },
            Ok(Answer::NoAnswer(text)) => {
                unanswered(settings, session.key.channel, transcript, &text, now)
            }
            Ok(Answer::Acted { text, card }) => match shape(settings, &text, session.key.channel) {
                Some(text) => Decision::Reply {
                    text,
                    fallback: false,
                    card: Some(card),
                },
                None => handoff(settings, HandoffReason::AssistantFailed, now),
            },
        }
    }

    /// The case brief. An implementation failure falls back to the rules brief, so a case is
    /// never held up by the model; dropdown values outside the allowed list are dropped.
    pub async fn brief(&self, session: &Session, transcript: &[Message]) -> CaseBrief {
        let conversation = Conversation::of(session, transcript);
        let reason = session
            .handoff_reason
            .clone()
            .unwrap_or_else(|| "conversation synced to Creatio".into());
        let timeout = Duration::from_secs(self.settings.assistant.timeout_seconds);
        let brief = tokio::time::timeout(
            timeout,
            self.assistant.brief(&self.settings, conversation, &reason),
        )
        .await
        .unwrap_or(Err(AssistantError::Timeout(timeout)));
        let brief = match brief {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(session_id = %session.id, error = %e, "assistant brief failed; using the rules brief");
                rules::rules_brief(&self.settings, conversation, &reason)
            }
        };
        // Which actions answered, whatever the implementation wrote: the rep should know what
        // the customer was already told from the team's systems.
        let mut ran: Vec<&str> = Vec::new();
        for c in transcript.iter().filter_map(|m| m.card.as_ref()) {
            if !ran.contains(&c.action.as_str()) {
                ran.push(&c.action);
            }
        }
        let mut summary = brief.summary;
        if !ran.is_empty() {
            summary.push_str(&format!(
                "\n\nActions the assistant ran: {}.",
                ran.join(", ")
            ));
        }
        CaseBrief {
            summary,
            fields: allowed_fields(&self.settings, brief.fields),
        }
    }
}

fn shape(settings: &Settings, text: &str, channel: Channel) -> Option<MessageText> {
    let max = match channel {
        Channel::Sms => settings.sms.max_chars,
        Channel::Widget => settings.widget.max_chars,
    };
    MessageText::parse(&format::for_channel(text, channel, max)).ok()
}

/// The handoff notice for `now`: the plain notice in hours, the "a person will reply …" one
/// outside them.
pub fn handoff_notice(settings: &Settings, now: Timestamp) -> String {
    let a = &settings.assistant;
    match &settings.business_hours {
        Some(h) if !h.is_open(now) => a
            .after_hours_notice
            .replace("{when}", &h.describe_next_opening(now)),
        _ => a.handoff_notice.clone(),
    }
}

fn handoff(settings: &Settings, reason: HandoffReason, now: Timestamp) -> Decision {
    let notice = MessageText::parse(&handoff_notice(settings, now))
        .or_else(|_| MessageText::parse("A person will follow up with you here."))
        .unwrap_or_else(|_| unreachable!("a fixed non-empty text parses"));
    Decision::Handoff { reason, notice }
}

/// A turn the assistant could not answer: `text` (the fallback), or the handoff once
/// `max_fallbacks` such turns came in a row.
fn unanswered(
    settings: &Settings,
    channel: Channel,
    transcript: &[Message],
    text: &str,
    now: Timestamp,
) -> Decision {
    let turns = unanswered_in_a_row(transcript) + 1;
    if turns >= settings.assistant.max_fallbacks {
        return handoff(settings, HandoffReason::Unanswered { turns }, now);
    }
    match shape(settings, text, channel) {
        Some(text) => Decision::Reply {
            text,
            fallback: true,
            card: None,
        },
        None => handoff(settings, HandoffReason::AssistantFailed, now),
    }
}

/// Unanswered assistant turns since the last answered one.
fn unanswered_in_a_row(transcript: &[Message]) -> u32 {
    let mut n = 0;
    for m in transcript.iter().rev() {
        match m.role {
            Role::Assistant if m.fallback => n += 1,
            Role::Assistant | Role::Agent => break,
            Role::Customer | Role::System => {}
        }
    }
    n
}

/// Keeps configured columns only, and for dropdowns only allowed values (spelled as configured).
fn allowed_fields(settings: &Settings, fields: Vec<FieldValue>) -> Vec<FieldValue> {
    let mut out: Vec<FieldValue> = Vec::new();
    for f in fields {
        let Some(spec) = settings
            .fields
            .iter()
            .find(|s| s.column.eq_ignore_ascii_case(&f.column))
        else {
            continue;
        };
        if out.iter().any(|o| o.column == spec.column) {
            continue;
        }
        let value = match (spec.kind, f.value) {
            (FieldType::Text, FieldContent::Text(t)) if !t.trim().is_empty() => {
                FieldContent::Text(t.trim().chars().take(1000).collect())
            }
            (FieldType::Dropdown, FieldContent::Lookup { name, .. })
            | (FieldType::Dropdown, FieldContent::Text(name)) => match spec.allowed(&name) {
                Some(v) => FieldContent::Lookup {
                    entity: spec.lookup.clone().unwrap_or_default(),
                    name: v.name.clone(),
                },
                None => continue,
            },
            _ => continue,
        };
        out.push(FieldValue {
            column: spec.column.clone(),
            value,
        });
    }
    out
}
