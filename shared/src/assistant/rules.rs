//! The `rules` assistant: the default, with no network and no model.
//!
//! - Answers: a greeting to a greeting; otherwise the FAQ entry whose pattern shares the most
//!   content words with the customer's turn (at least [`MATCH_THRESHOLD`] of the pattern's
//!   words); otherwise the configured fallback, which counts as an unanswered turn.
//! - Brief: an extractive, deterministic summary (channel, customer, reason, the request in the
//!   customer's own words, key facts found by pattern: order numbers, emails, amounts), and AI
//!   fields by keyword: a dropdown gets the allowed value whose keywords appear most (earlier
//!   values win ties) or stays empty. Text fields are left to a model; rules never invent one.
//!
//! Facts are found with `regex-lite` (the regex crate's small sibling from the same maintainers:
//! no Unicode tables, built for binary size), since hand-written scanners for these shapes are
//! where bugs hide.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use regex_lite::Regex;

use super::format::shorten;
use super::settings::{FieldType, Settings};
use super::text::{content_words, is_greeting, mentions, overlap, words};
use super::{Answer, Assistant, AssistantError, CaseBrief, Conversation, FieldContent, FieldValue};
use crate::domain::{Channel, Customer, conversation_language};
use crate::knowledge::index::sentence_chunks;
use crate::knowledge::{Hit, Knowledge};

/// Share of a FAQ pattern's content words the customer must use.
pub const MATCH_THRESHOLD: f32 = 0.6;

/// The rules assistant; with [`Knowledge`], a question no FAQ entry matches is answered from the
/// best passage of the team's articles when it matches enough of the question
/// ([`Knowledge::threshold`]), else it is unanswered as before.
#[derive(Default)]
pub struct RulesAssistant {
    knowledge: Option<Arc<Knowledge>>,
}

impl RulesAssistant {
    pub fn with_knowledge(knowledge: Arc<Knowledge>) -> Self {
        Self {
            knowledge: Some(knowledge),
        }
    }
}

#[async_trait]
impl Assistant for RulesAssistant {
    async fn answer(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
    ) -> Result<Answer, AssistantError> {
        let turn: Vec<&str> = conversation
            .latest_customer_turn()
            .iter()
            .map(|m| m.text.as_str())
            .collect();
        let turn = turn.join("\n");
        let answer = rules_answer(settings, &turn);
        let (Answer::NoAnswer(_), Some(knowledge)) = (&answer, &self.knowledge) else {
            return Ok(answer);
        };
        let index = knowledge.index().await;
        match index.best(&turn, conversation_language(conversation.transcript)) {
            Some(hit) if hit.coverage >= knowledge.threshold() => {
                tracing::info!(
                    article = %hit.article.id,
                    coverage = hit.coverage,
                    "answered from knowledge"
                );
                Ok(Answer::Reply(knowledge_answer(
                    settings,
                    &hit,
                    conversation.channel,
                )))
            }
            best => {
                tracing::info!(
                    best = best.as_ref().map(|h| h.coverage),
                    "no article answers the question"
                );
                Ok(answer)
            }
        }
    }

    async fn brief(
        &self,
        settings: &Settings,
        conversation: Conversation<'_>,
        reason: &str,
    ) -> Result<CaseBrief, AssistantError> {
        Ok(rules_brief(settings, conversation, reason))
    }
}

pub fn rules_answer(settings: &Settings, turn: &str) -> Answer {
    if is_greeting(turn) {
        return Answer::Reply(settings.assistant.greeting.clone());
    }
    let w = words(turn);
    let mut best: Option<(f32, &str)> = None;
    for entry in &settings.faq {
        for pattern in &entry.patterns {
            let score = overlap(&w, pattern);
            if score >= MATCH_THRESHOLD && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, &entry.answer));
            }
        }
    }
    match best {
        Some((_, answer)) => Answer::Reply(answer.to_owned()),
        None => Answer::NoAnswer(settings.assistant.fallback.clone()),
    }
}

/// A passage as an answer for the channel: on SMS the passage cut at a sentence end to fit, and
/// the article's link; in the widget the passage, then the article's title and link.
pub fn knowledge_answer(settings: &Settings, hit: &Hit<'_>, channel: Channel) -> String {
    let article = hit.article;
    match channel {
        Channel::Sms => {
            let link = article
                .url
                .as_deref()
                .map(|u| format!(" {u}"))
                .unwrap_or_default();
            let room = settings.sms.max_chars.saturating_sub(link.chars().count());
            let text = sentence_chunks(&hit.passage.text.replace('\n', " "), room)
                .into_iter()
                .next()
                .unwrap_or_default();
            // A first sentence longer than the room (a list run together) is cut at a word, so
            // the link always fits.
            format!("{}{link}", shorten(&text, room))
        }
        Channel::Widget => match &article.url {
            Some(url) => format!("{}\n\n{}: {url}", hit.passage.text, article.title),
            None => format!("{}\n\n({})", hit.passage.text, article.title),
        },
    }
}

static ORDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:\border(?:\s+(?:number|no\.?|num|id))?\s*[:#]?\s*|#)([A-Z]{0,4}-?\d[A-Z0-9-]{2,})",
    )
    .unwrap_or_else(|e| unreachable!("fixed pattern: {e}"))
});
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
        .unwrap_or_else(|e| unreachable!("fixed pattern: {e}"))
});
static AMOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:[$€£]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:usd|eur|gbp|dollars|euros|pounds)\b)")
        .unwrap_or_else(|e| unreachable!("fixed pattern: {e}"))
});

/// Key facts in order of first appearance, without repeats.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Facts {
    pub orders: Vec<String>,
    pub emails: Vec<String>,
    pub amounts: Vec<String>,
}

pub fn facts<'a>(texts: impl Iterator<Item = &'a str>) -> Facts {
    fn push(v: &mut Vec<String>, s: &str) {
        let s = s.trim().to_owned();
        if !v.contains(&s) {
            v.push(s);
        }
    }
    let mut f = Facts::default();
    for t in texts {
        for c in ORDER.captures_iter(t) {
            if let Some(m) = c.get(1) {
                push(&mut f.orders, m.as_str());
            }
        }
        for m in EMAIL.find_iter(t) {
            push(&mut f.emails, m.as_str());
        }
        for m in AMOUNT.find_iter(t) {
            push(&mut f.amounts, m.as_str());
        }
    }
    f
}

fn quote(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("\"{}\"", super::format::shorten(&one_line, max))
}

pub fn describe_customer(customer: &Customer) -> String {
    match customer {
        Customer::Phone(p) => p.as_e164().to_owned(),
        Customer::Email(e) => format!("{} (verified email)", e.as_str()),
        Customer::Visitor(v) => format!("anonymous website {}", v.label()),
    }
}

pub fn rules_brief(settings: &Settings, conversation: Conversation<'_>, reason: &str) -> CaseBrief {
    let customer_texts: Vec<&str> = conversation
        .customer_messages()
        .map(|m| m.text.as_str())
        .collect();
    let request = customer_texts
        .iter()
        .find(|t| !is_greeting(t) && !mentions_person(settings, t))
        .or(customer_texts.first());
    let latest = customer_texts.last();
    let mut lines = vec![
        format!(
            "Channel: {}",
            match conversation.channel {
                Channel::Sms => "SMS",
                Channel::Widget => "website chat",
            }
        ),
        format!("Customer: {}", describe_customer(conversation.customer)),
        format!("Handoff reason: {reason}"),
    ];
    if let Some(r) = request {
        lines.push(format!("Request: {}", quote(r, 300)));
    }
    if let Some(l) = latest
        && Some(l) != request
    {
        lines.push(format!("Latest message: {}", quote(l, 300)));
    }
    let f = facts(customer_texts.iter().copied());
    let mut fact_lines = Vec::new();
    for (title, values) in [
        ("Order numbers", &f.orders),
        ("Emails", &f.emails),
        ("Amounts", &f.amounts),
    ] {
        if !values.is_empty() {
            fact_lines.push(format!("- {title}: {}", values.join(", ")));
        }
    }
    if !fact_lines.is_empty() {
        lines.push("Key facts:".into());
        lines.extend(fact_lines);
    }
    lines.push(format!(
        "Conversation: {} messages, {} from the customer",
        conversation.transcript.len(),
        customer_texts.len()
    ));
    CaseBrief {
        summary: lines.join("\n"),
        fields: rules_fields(settings, &customer_texts),
    }
}

fn mentions_person(settings: &Settings, t: &str) -> bool {
    super::text::mentions_any(t, &settings.assistant.handoff_phrases) && content_words(t).len() <= 4
}

/// Dropdowns by keyword; text fields are not guessed.
pub fn rules_fields(settings: &Settings, customer_texts: &[&str]) -> Vec<FieldValue> {
    let w: Vec<Vec<String>> = customer_texts.iter().map(|t| words(t)).collect();
    let mut out = Vec::new();
    for spec in settings
        .fields
        .iter()
        .filter(|s| s.kind == FieldType::Dropdown)
    {
        let mut best: Option<(usize, &str)> = None;
        for v in &spec.values {
            let hits = v
                .keywords
                .iter()
                .filter(|k| w.iter().any(|tw| mentions(tw, k)))
                .count();
            if hits > 0 && best.is_none_or(|(b, _)| hits > b) {
                best = Some((hits, &v.name));
            }
        }
        if let (Some((_, name)), Some(entity)) = (best, &spec.lookup) {
            out.push(FieldValue {
                column: spec.column.clone(),
                value: FieldContent::Lookup {
                    entity: entity.clone(),
                    name: name.to_owned(),
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faq_matches_by_word_overlap() {
        let s = Settings::embedded();
        let Answer::Reply(a) = rules_answer(&s, "hey, how long does shipping usually take?") else {
            panic!("expected a reply");
        };
        assert!(a.contains("ship within 2 business days"));
        let Answer::Reply(a) = rules_answer(&s, "What's your return policy?") else {
            panic!("expected a reply");
        };
        assert!(a.contains("30 days"));
        assert_eq!(
            rules_answer(&s, "Do you sell bicycles?"),
            Answer::NoAnswer(s.assistant.fallback.clone())
        );
        assert_eq!(
            rules_answer(&s, "Hello!"),
            Answer::Reply(s.assistant.greeting.clone())
        );
    }

    #[test]
    fn facts_are_found_once_each() {
        let f = facts(
            [
                "My order #A-10023 arrived broken, I paid $149.99",
                "order number 55120 too. Email me at ann.lee@example.com",
                "again: #A-10023, 20 dollars",
            ]
            .into_iter(),
        );
        assert_eq!(f.orders, ["A-10023", "55120"]);
        assert_eq!(f.emails, ["ann.lee@example.com"]);
        assert_eq!(f.amounts, ["$149.99", "20 dollars"]);
    }
}
