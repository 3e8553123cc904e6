//! Languages: which one a customer writes in, so that fixed texts, retrieval and the case can
//! follow it.

use super::{Message, Role};

/// The languages casebridge ships texts for (and stems, in its knowledge index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Es,
    De,
    Fr,
    Pt,
}

impl Language {
    pub const ALL: [Language; 5] = [
        Language::En,
        Language::Es,
        Language::De,
        Language::Fr,
        Language::Pt,
    ];

    /// The ISO 639-1 code (`en`, `es`, …).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Pt => "pt",
        }
    }

    /// The language's name in English (for a model's instructions).
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Es => "Spanish",
            Language::De => "German",
            Language::Fr => "French",
            Language::Pt => "Portuguese",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|l| code == l.code() || code.starts_with(&format!("{}-", l.code())))
    }

    /// The language of `text`, when it is long enough to tell (10 characters or more) and one
    /// of the five. Shorter fragments ("ok", "yes") say nothing. `whichlang` (Quickwit's
    /// detector: no dependencies, +265 KB) has no confidence score, hence the length rule.
    pub fn detect(text: &str) -> Option<Self> {
        if text.trim().chars().count() < 10 {
            return None;
        }
        match whichlang::detect_language(text) {
            whichlang::Lang::Eng => Some(Language::En),
            whichlang::Lang::Spa => Some(Language::Es),
            whichlang::Lang::Deu => Some(Language::De),
            whichlang::Lang::Fra => Some(Language::Fr),
            whichlang::Lang::Por => Some(Language::Pt),
            _ => None,
        }
    }
}

/// The conversation's language: that of the customer's latest message long enough to tell, so
/// a language once clear is kept through short replies ("ok", "yes", an order number), and a
/// customer who switches is followed.
pub fn conversation_language(transcript: &[Message]) -> Option<Language> {
    transcript
        .iter()
        .rev()
        .filter(|m| m.role == Role::Customer)
        .find_map(|m| Language::detect(m.text.as_str()))
}
