//! The `openai` assistant: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure OpenAI's
//! compatible route, vLLM, Ollama, LiteLLM …) at `OPENAI_BASE_URL` + `/chat/completions`.
//!
//! - **Answer**: the system prompt (company, tone, knowledge, channel limits) plus the transcript,
//!   with two function tools: `handoff_to_human` (the model decides a person should take over) and
//!   `unable_to_answer` (the knowledge does not cover the question; counts towards
//!   `max_fallbacks`). Plain content is the reply.
//! - **Actions** (`crate::actions`): the actions the conversation's customer may use are offered
//!   as more function tools, their bound parameters left out of the schema (and dropped if the
//!   model sends them anyway). A call's kept fields go back to the model as the tool's result
//!   for the answer, at most `actions.max_calls_per_turn` calls a turn; a call that fails ends
//!   the turn with the fallback text, so nothing raw and nothing improvised reaches the customer.
//! - **Brief**: one request with `response_format: json_schema` (strict) whose schema lists each
//!   configured field; dropdowns are an `enum` of the allowed names (or "" for none), so the model
//!   cannot invent a value, and [`super::Concierge`] checks again anyway.
//!
//! Hand-written over reqwest rather than an OpenAI SDK crate: two request shapes, and the SDK
//! crates bring their own HTTP and TLS stacks and a large type surface. Nothing here logs message
//! text or the API key; errors carry the HTTP status only.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::settings::{FieldType, Settings};
use super::{Answer, Assistant, AssistantError, CaseBrief, Conversation, FieldContent, FieldValue};
use crate::actions::{Action, Actions, Found, ParamKind};
use crate::config::BaseUrl;
use crate::domain::{Channel, Language, Role, conversation_language};
use crate::knowledge::{Article, Hit, Knowledge};

pub const HANDOFF_TOOL: &str = "handoff_to_human";
pub const UNABLE_TOOL: &str = "unable_to_answer";

pub struct OpenAiAssistant {
    http: reqwest::Client,
    url: String,
    api_key: SecretString,
    model: String,
    /// The team's articles: the best passages for each question go into the request.
    knowledge: Option<Arc<Knowledge>>,
    /// The team's actions, offered as tools.
    actions: Option<Arc<Actions>>,
}

/// Passages a request carries at most.
pub const PASSAGES: usize = 4;

impl OpenAiAssistant {
    /// `http` should carry the settings' timeout (see [`crate::http::client`]).
    pub fn new(
        http: reqwest::Client,
        base_url: &BaseUrl,
        api_key: SecretString,
        model: String,
    ) -> Self {
        Self {
            http,
            url: base_url.join("/chat/completions"),
            api_key,
            model,
            knowledge: None,
            actions: None,
        }
    }

    /// The same assistant offering `actions` as tools.
    pub fn with_actions(mut self, actions: Arc<Actions>) -> Self {
        self.actions = Some(actions);
        self
    }

    /// The same assistant answering from `knowledge`'s passages as well.
    pub fn with_knowledge(mut self, knowledge: Arc<Knowledge>) -> Self {
        self.knowledge = Some(knowledge);
        self
    }

    async fn complete(&self, body: &Value) -> Result<ChatMessage, AssistantError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.api_key.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(AssistantError::Status {
                status: status.as_u16(),
            });
        }
        let parsed: Completion = response.json().await.map_err(|e| {
            if e.is_timeout() {
                transport(e)
            } else {
                AssistantError::Protocol("the body is not a chat completion".into())
            }
        })?;
        parsed
            .choices
            .into_iter()
            .next()
            .map(|c| c.message)
            .ok_or_else(|| AssistantError::Protocol("no choices in the completion".into()))
    }
}

fn transport(e: reqwest::Error) -> AssistantError {
    if e.is_timeout() {
        AssistantError::Timeout(Duration::ZERO)
    } else {
        // reqwest's Display names the URL and the failure, never the body or headers.
        AssistantError::Transport(e.without_url().to_string())
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChatMessage,
}

#[derive(Deserialize)]
struct ChatMessage {
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
}

#[derive(Deserialize)]
struct ToolCall {
    #[serde(default)]
    id: String,
    function: FunctionCall,
}

#[derive(Deserialize)]
struct FunctionCall {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// The instructions: who the assistant is, the channel's limits, the customer's language (when
/// the conversation has shown it), what it may rely on and when to use its tools.
pub fn system_prompt(settings: &Settings, channel: Channel, language: Option<Language>) -> String {
    let a = &settings.assistant;
    let language_rule = match language {
        Some(l) => format!(
            "The customer writes in {}: answer in {}.",
            l.name(),
            l.name()
        ),
        None => "Answer in the language the customer writes in.".to_owned(),
    };
    let channel_rule = match channel {
        Channel::Sms => format!(
            "You are answering by SMS: plain text only, no markdown, at most {} characters.",
            settings.sms.max_chars
        ),
        Channel::Widget => format!(
            "You are answering in the website chat: short paragraphs, at most {} characters.",
            settings.widget.max_chars
        ),
    };
    format!(
        "You are the customer support assistant of {company}. Tone: {tone}.\n{channel_rule}\n\
         {language_rule}\n\
         Answer only from the knowledge below. If it does not cover the question, call \
         {UNABLE_TOOL} with a short apology. If the customer asks for a person, is upset, or needs \
         something only staff can do (account changes, refunds, exceptions), call {HANDOFF_TOOL} \
         with the reason.\n\nKnowledge:\n{knowledge}",
        company = a.company,
        tone = if a.tone.is_empty() {
            "friendly"
        } else {
            &a.tone
        },
        knowledge = a.knowledge.trim(),
    )
}

/// The transcript as chat messages: customer → user, assistant and agent → assistant.
fn chat_history(conversation: &Conversation<'_>) -> Vec<Value> {
    conversation
        .transcript
        .iter()
        .filter_map(|m| match m.role {
            Role::Customer => Some(json!({"role": "user", "content": m.text.as_str()})),
            Role::Assistant => Some(json!({"role": "assistant", "content": m.text.as_str()})),
            Role::Agent => Some(json!({
                "role": "assistant",
                "content": format!("(a support agent wrote) {}", m.text.as_str()),
            })),
            Role::System => None,
        })
        .collect()
}

pub fn tools() -> Value {
    json!([
        {
            "type": "function",
            "function": {
                "name": HANDOFF_TOOL,
                "description": "Hand the conversation to a human support agent.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "reason": {"type": "string", "description": "Why a person should take over, in one sentence."}
                    },
                    "required": ["reason"],
                    "additionalProperties": false
                }
            }
        },
        {
            "type": "function",
            "function": {
                "name": UNABLE_TOOL,
                "description": "The knowledge does not cover the customer's question.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string", "description": "A short apology to the customer."}
                    },
                    "required": ["message"],
                    "additionalProperties": false
                }
            }
        }
    ])
}

/// An action as a function tool: its unbound parameters only (a bound one is who the customer
/// is, never the model's to set).
fn action_tool(action: &Action) -> Value {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for p in action.params.iter().filter(|p| p.bound.is_none()) {
        let mut schema = match &p.kind {
            ParamKind::String { pattern } => {
                let mut s = json!({"type": "string"});
                if let Some(re) = pattern {
                    s["pattern"] = json!(re.as_str());
                }
                s
            }
            ParamKind::Integer { min, max } => {
                let mut s = json!({"type": "integer"});
                if let Some(m) = min {
                    s["minimum"] = json!(m);
                }
                if let Some(m) = max {
                    s["maximum"] = json!(m);
                }
                s
            }
            ParamKind::Enum(values) => json!({"type": "string", "enum": values}),
        };
        if !p.description.is_empty() {
            schema["description"] = json!(p.description);
        }
        props.insert(p.name.clone(), schema);
        required.push(p.name.clone());
    }
    json!({
        "type": "function",
        "function": {
            "name": action.name,
            "description": action.description,
            "parameters": {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": false
            }
        }
    })
}

/// A tool call's arguments as text values (numbers written out); anything else is dropped.
fn arguments(raw: &str) -> std::collections::BTreeMap<String, String> {
    let args: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    args.as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        // 5511.0 is 5511: some models write whole numbers as floats.
                        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                            (Some(i), _) => i.to_string(),
                            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => {
                                (f as i64).to_string()
                            }
                            _ => n.to_string(),
                        },
                        _ => return None,
                    };
                    Some((k.clone(), v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON schema of the brief: a summary and one property per configured field.
pub fn brief_schema(settings: &Settings) -> Value {
    let mut props = serde_json::Map::new();
    for f in &settings.fields {
        let mut p = json!({
            "type": "string",
            "description": format!("{}: {}", f.title, f.description),
        });
        if f.kind == FieldType::Dropdown {
            let mut allowed: Vec<Value> = f.values.iter().map(|v| json!(v.name)).collect();
            allowed.push(json!(""));
            p["enum"] = Value::Array(allowed);
        }
        props.insert(f.column.clone(), p);
    }
    let required: Vec<&str> = settings.fields.iter().map(|f| f.column.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "What the customer needs and the key facts, for the support agent."},
            "fields": {
                "type": "object",
                "properties": props,
                "required": required,
                "additionalProperties": false
            }
        },
        "required": ["summary", "fields"],
        "additionalProperties": false
    })
}

/// The passages, numbered `[P1]`…, for the system prompt.
fn passages_prompt(hits: &[Hit<'_>]) -> String {
    let mut out = format!(
        "\n\nPassages from the help articles (answer from these; end your answer with the id of \
         the passage you used, such as [P1]; if none covers the question, call {UNABLE_TOOL}):"
    );
    for (i, hit) in hits.iter().enumerate() {
        out.push_str(&format!(
            "\n[P{}] {}: {}",
            i + 1,
            hit.article.title,
            hit.passage.text.replace('\n', " ")
        ));
    }
    out
}

/// The model's answer with its `[Pn]` citations replaced by the cited article's source: its
/// link on SMS (one, the first cited), its title and link in the widget.
fn cited(text: &str, hits: &[Hit<'_>], channel: Channel, sms_max: usize) -> String {
    let mut cited: Vec<&Article> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[P") {
        let after = &rest[start + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        let n = digits
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=hits.len()).contains(n));
        match (n, after[digits.len()..].starts_with(']')) {
            (Some(n), true) => {
                out.push_str(rest[..start].trim_end());
                let article = hits[n - 1].article;
                if !cited.iter().any(|a| a.id == article.id) {
                    cited.push(article);
                }
                rest = &after[digits.len() + 1..];
            }
            _ => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let mut out = out.trim().to_owned();
    match channel {
        Channel::Sms => {
            if let Some(url) = cited.iter().find_map(|a| a.url.as_deref()) {
                // The model sized its answer to the whole message: room is made for the link,
                // so shaping the reply never cuts it off.
                let room = sms_max.saturating_sub(url.chars().count() + 1);
                out = format!(
                    "{} {url}",
                    super::format::shorten(&super::format::plain_text(&out), room)
                );
            }
        }
        Channel::Widget => {
            for a in cited {
                match &a.url {
                    Some(url) => out.push_str(&format!("\n\n{}: {url}", a.title)),
                    None => out.push_str(&format!("\n\n({})", a.title)),
                }
            }
        }
    }
    out
}

#[async_trait]
impl Assistant for OpenAiAssistant {
    async fn answer(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
    ) -> Result<Answer, AssistantError> {
        let language = conversation_language(conversation.transcript);
        let mut system = system_prompt(settings, conversation.channel, language);
        // The best passages of the team's articles for this turn, each with an id the model
        // cites; the citation becomes the article's link in the stored answer.
        let index = match &self.knowledge {
            Some(k) => Some(k.index().await),
            None => None,
        };
        let question: Vec<&str> = conversation
            .latest_customer_turn()
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        let hits = index
            .as_deref()
            .map(|i| i.top(&question.join("\n"), language, PASSAGES))
            .unwrap_or_default();
        if !hits.is_empty() {
            system.push_str(&passages_prompt(&hits));
        }
        let mut messages = vec![json!({"role": "system", "content": system})];
        messages.extend(chat_history(&conversation));
        let offered: Vec<&Action> = self
            .actions
            .as_deref()
            .map(|a| a.offered(conversation.customer).collect())
            .unwrap_or_default();
        let mut all_tools = tools();
        if let Some(list) = all_tools.as_array_mut() {
            list.extend(offered.iter().map(|a| action_tool(a)));
        }
        let max_calls = self.actions.as_ref().map_or(0, |a| a.max_calls_per_turn);
        let mut calls = 0;
        let mut found: Option<Found> = None;
        let message = loop {
            let mut body = json!({
                "model": self.model,
                "messages": messages,
                "tools": all_tools,
                "tool_choice": "auto",
            });
            if !offered.is_empty() {
                // One call at a time: each result goes back before the next is asked for.
                body["parallel_tool_calls"] = json!(false);
            }
            let message = self.complete(&body).await?;
            let Some(call) = message.tool_calls.first() else {
                break message;
            };
            let Some(action) = offered.iter().find(|a| a.name == call.function.name) else {
                break message;
            };
            let actions = self
                .actions
                .as_deref()
                .ok_or_else(|| AssistantError::Protocol("an action call without actions".into()))?;
            calls += 1;
            if calls > max_calls {
                return Ok(Answer::NoAnswer(settings.assistant.fallback.clone()));
            }
            let args = arguments(&call.function.arguments);
            // The id pairs the result with its call; a server that sent none gets one.
            let id = if call.id.is_empty() {
                format!("call_{calls}")
            } else {
                call.id.clone()
            };
            match actions
                .call(action, &args, conversation.customer, conversation.session)
                .await
            {
                Ok(f) => {
                    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{
                        "id": id, "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments}
                    }]}));
                    messages.push(json!({
                        "role": "tool", "tool_call_id": id,
                        "content": f.for_model().to_string(),
                    }));
                    found = Some(f);
                }
                Err(_) => return Ok(Answer::NoAnswer(settings.assistant.fallback.clone())),
            }
        };
        if let (Some(f), true) = (&found, message.tool_calls.is_empty()) {
            return match message.content.as_deref().map(str::trim) {
                Some(text) if !text.is_empty() => Ok(Answer::Acted {
                    text: text.to_owned(),
                    card: f.card(Some(text)),
                }),
                _ => Err(AssistantError::Protocol("empty reply".into())),
            };
        }
        if let Some(call) = message.tool_calls.first() {
            let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
            let arg = |k: &str| {
                args.get(k)
                    .and_then(Value::as_str)
                    .map(str::trim)
                    .unwrap_or("")
            };
            return match call.function.name.as_str() {
                HANDOFF_TOOL => Ok(Answer::Handoff {
                    reason: match arg("reason") {
                        "" => "the assistant decided a person should help".into(),
                        r => r.chars().take(300).collect(),
                    },
                }),
                UNABLE_TOOL => Ok(Answer::NoAnswer(match arg("message") {
                    "" => settings.assistant.fallback.clone(),
                    m => m.to_owned(),
                })),
                _ => Err(AssistantError::Protocol(
                    "the model called an unknown tool".into(),
                )),
            };
        }
        match message.content.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => Ok(Answer::Reply(cited(
                text,
                &hits,
                conversation.channel,
                settings.sms.max_chars,
            ))),
            _ => Err(AssistantError::Protocol("empty reply".into())),
        }
    }

    async fn brief(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
        reason: &str,
    ) -> Result<CaseBrief, AssistantError> {
        let mut transcript = String::new();
        for m in conversation.transcript {
            transcript.push_str(&format!(
                "[{}] {}: {}\n",
                m.at,
                m.role.as_str(),
                m.text.as_str()
            ));
        }
        let fields_help: Vec<String> = settings
            .fields
            .iter()
            .map(|f| format!("- {} ({}): {}", f.column, f.title, f.description))
            .collect();
        let body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": format!(
                    "You write case briefs for the support team of {}. Summarise what the customer \
                     needs and every concrete fact (order numbers, amounts, dates, emails) in a few \
                     lines. Fill each field from the conversation only; leave a field empty (\"\") \
                     when the conversation does not say.\nFields:\n{}",
                    settings.assistant.company,
                    fields_help.join("\n"),
                )},
                {"role": "user", "content": format!(
                    "Channel: {}\nHandoff reason: {reason}\nTranscript:\n{transcript}",
                    conversation.channel
                )},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "case_brief", "strict": true, "schema": brief_schema(settings)}
            },
        });
        let message = self.complete(&body).await?;
        let content = message
            .content
            .ok_or_else(|| AssistantError::Protocol("no structured content".into()))?;
        let parsed: Value = serde_json::from_str(&content)
            .map_err(|_| AssistantError::Protocol("structured content is not JSON".into()))?;
        let summary = parsed
            .get("summary")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| AssistantError::Protocol("no summary".into()))?;
        let mut fields = Vec::new();
        if let Some(obj) = parsed.get("fields").and_then(Value::as_object) {
            for spec in &settings.fields {
                let Some(v) = obj.get(&spec.column).and_then(Value::as_str) else {
                    continue;
                };
                if v.trim().is_empty() {
                    continue;
                }
                let value = match (&spec.kind, &spec.lookup) {
                    (FieldType::Dropdown, Some(entity)) => FieldContent::Lookup {
                        entity: entity.clone(),
                        name: v.to_owned(),
                    },
                    _ => FieldContent::Text(v.to_owned()),
                };
                fields.push(FieldValue {
                    column: spec.column.clone(),
                    value,
                });
            }
        }
        Ok(CaseBrief {
            summary: summary.to_owned(),
            fields,
        })
    }
}
