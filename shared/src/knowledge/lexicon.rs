//! Support vocabulary across the five languages, so that a question in one language can find an
//! article written in another: "¿puedo devolver el molinillo?" meets an English article on
//! returns through `devolver` ↔ `return`.
//!
//! Why a word list and not a translation model or multilingual embeddings: either would be
//! tens of megabytes in a function whose budget is 8, and a team's articles are mostly about a
//! few hundred things customers ask everywhere (orders, delivery, returns, refunds, payment,
//! accounts, warranty…). `lexicon.txt` lists those words, one concept a line, in English,
//! Spanish, German, French and Portuguese; it was written from general knowledge of the
//! languages, never from the bench's questions. A team's own terms (product names, say) belong
//! in an article's `keywords`, which the index weighs above its body.
//!
//! How it is used ([`super::index::Index::top`]): each word of a question is looked up by its
//! stem in the question's language (and, since short questions are often detected wrongly, by
//! its written form in any language); the stems of the same concept in every language become
//! alternatives for that word, counted at [`ALTERNATIVE`] of a word the question itself holds.
//! The table is parsed and stemmed once, on the first question (about a millisecond).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Language;
use super::index::stem;

/// What a word of the same concept counts for, against the question's own word.
pub const ALTERNATIVE: f32 = 0.75;

const TABLE: &str = include_str!("lexicon.txt");

/// The parsed table: concepts, and how to find them from a word.
struct Lexicon {
    /// Each concept's stems, every language's together (deduplicated).
    concepts: Vec<Vec<String>>,
    /// (language, stem) → concepts.
    by_stem: HashMap<(Language, String), Vec<usize>>,
    /// A word as written (lower case) → concepts, whatever its language.
    by_form: HashMap<String, Vec<usize>>,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| parse(TABLE))
}

fn parse(table: &str) -> Lexicon {
    let mut lexicon = Lexicon {
        concepts: Vec::new(),
        by_stem: HashMap::new(),
        by_form: HashMap::new(),
    };
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let concept = lexicon.concepts.len();
        let mut stems = Vec::new();
        for part in line.split('|') {
            let Some((code, words)) = part.split_once(':') else {
                continue;
            };
            let Some(language) = Language::parse(code.trim()) else {
                continue;
            };
            for word in words.split(',').map(|w| w.trim().to_lowercase()) {
                if word.is_empty() {
                    continue;
                }
                let s = stem(language, &word);
                lexicon
                    .by_stem
                    .entry((language, s.clone()))
                    .or_default()
                    .push(concept);
                lexicon.by_form.entry(word).or_default().push(concept);
                stems.push(s);
            }
        }
        stems.sort();
        stems.dedup();
        lexicon.concepts.push(stems);
    }
    lexicon
}

/// The stems that mean what `word` means, in every language of the table (the word's own stem
/// among them when it is listed). `word` is lower case, as written; `language` the question's.
pub fn alternatives(word: &str, language: Option<Language>) -> Vec<&'static str> {
    let lexicon = lexicon();
    let mut concepts: Vec<usize> = lexicon.by_form.get(word).cloned().unwrap_or_default();
    if let Some(l) = language
        && let Some(found) = lexicon.by_stem.get(&(l, stem(l, word)))
    {
        concepts.extend(found);
    }
    concepts.sort_unstable();
    concepts.dedup();
    let mut stems: Vec<&'static str> = concepts
        .iter()
        .flat_map(|c| lexicon.concepts[*c].iter().map(String::as_str))
        .collect();
    stems.sort_unstable();
    stems.dedup();
    stems
}

/// How many concepts the table holds.
pub fn concepts() -> usize {
    lexicon().concepts.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_names_five_languages_and_parses() {
        for line in TABLE.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let codes: Vec<&str> = line
                .split('|')
                .filter_map(|p| p.split_once(':').map(|(c, _)| c.trim()))
                .collect();
            assert_eq!(codes, ["en", "es", "de", "fr", "pt"], "{line}");
            for part in line.split('|') {
                let (_, words) = part.split_once(':').unwrap();
                for w in words.split(',').map(str::trim) {
                    assert!(
                        !w.is_empty() && w.chars().all(char::is_alphanumeric),
                        "{w:?} in {line}"
                    );
                }
            }
        }
        assert!(concepts() >= 150, "{}", concepts());
    }

    #[test]
    fn a_spanish_word_finds_its_english_stem() {
        let alts = alternatives("devolver", Some(Language::Es));
        assert!(
            alts.contains(&stem(Language::En, "return").as_str()),
            "{alts:?}"
        );
        // by the written form too, when the question's language was not detected
        let alts = alternatives("bestellung", None);
        assert!(
            alts.contains(&stem(Language::En, "order").as_str()),
            "{alts:?}"
        );
    }
}
