//! The passage index: articles split into passages, each passage's language detected, its words
//! stemmed with that language's Snowball stemmer, and BM25F over three fields (title, keywords,
//! body) to rank passages for a question.
//!
//! Why BM25F and not a vector model: a team's help articles and a customer's question share
//! words far more often than not once both are stemmed, BM25 needs no model weights (which could
//! not ship in an 8 MB function), and it is a few hundred lines whose every score can be
//! explained. Title and keywords weigh more than body text: a question usually names what the
//! article is about.
//!
//! Whether the best passage answers at all is a separate, bounded figure ([`Hit::coverage`]):
//! the share of the question's weight (IDF) that the passage matches. BM25 scores grow with the
//! question's length and the collection; coverage does not, so one threshold holds for a short
//! and a long question alike.
//!
//! Crates: `whichlang` (Quickwit's detector: no dependencies, +265 KB, 16 languages including
//! the five casebridge ships texts for) and `frostem` (the Snowball stemmers generated from
//! upstream, one Cargo feature per language, so only five are compiled in).

use std::collections::HashMap;

use super::{Article, Language, lexicon};

fn stemmer(language: Language) -> frostem::Stemmer {
    frostem::Stemmer::new(match language {
        Language::En => frostem::Algorithm::English,
        Language::Es => frostem::Algorithm::Spanish,
        Language::De => frostem::Algorithm::German,
        Language::Fr => frostem::Algorithm::French,
        Language::Pt => frostem::Algorithm::Portuguese,
    })
}

/// Field weights: a word in the title counts three times a word in the body.
const W_TITLE: f32 = 3.0;
const W_KEYWORDS: f32 = 2.0;
const W_BODY: f32 = 1.0;
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// A passage in another language than the question's still counts, at this share.
const OTHER_LANGUAGE: f32 = 0.7;
/// Longest passage, in characters: about a paragraph or two, what an SMS or a chat bubble holds.
pub const PASSAGE_CHARS: usize = 600;

/// One passage of one article, as indexed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Passage {
    pub article: usize,
    pub text: String,
    pub language: Option<Language>,
    #[serde(rename = "t")]
    title: Vec<u32>,
    #[serde(rename = "k")]
    keywords: Vec<u32>,
    #[serde(rename = "b")]
    body: Vec<u32>,
}

/// The part of an index that costs time to make (passages cut, languages detected, words
/// stemmed), saved with the snapshot so that a function loading it only counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prepared {
    /// The vocabulary: a term's id is its position.
    pub terms: Vec<String>,
    pub passages: Vec<Passage>,
}

/// One word of a question: its weight (IDF) and the indexed terms that stand for it, each with
/// its IDF and the share of a match it counts for.
struct Slot {
    weight: f32,
    alternatives: Vec<(u32, f32, f32)>,
}

/// The best passage for a question.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub article: &'a Article,
    pub passage: &'a Passage,
    /// BM25F, for ranking.
    pub score: f32,
    /// The share (0 to 1) of the question's weight that the passage matches.
    pub coverage: f32,
}

/// Articles and their passages, ready to search.
#[derive(Debug, Default)]
pub struct Index {
    pub articles: Vec<Article>,
    pub passages: Vec<Passage>,
    terms: HashMap<String, u32>,
    /// Passages each term occurs in (any field).
    postings: Vec<Vec<u32>>,
    avg: [f32; 3],
}

impl Index {
    pub fn build(articles: Vec<Article>) -> Self {
        let mut index = Index::default();
        for (a, article) in articles.iter().enumerate() {
            let article_language = Language::detect(&article.body);
            for text in passages_of(&article.body) {
                let language = Language::detect(&text).or(article_language);
                let title = index.intern(&tokens(&article.title, language));
                let keywords = index.intern(&tokens(&article.keywords, language));
                let body = index.intern(&tokens(&text, language));
                index.passages.push(Passage {
                    article: a,
                    text,
                    language,
                    title,
                    keywords,
                    body,
                });
            }
        }
        index.articles = articles;
        index.count();
        index
    }

    /// The work [`Index::build`] did, to save beside the articles.
    pub fn prepared(&self) -> Prepared {
        let mut terms = vec![String::new(); self.terms.len()];
        for (t, id) in &self.terms {
            terms[*id as usize].clone_from(t);
        }
        Prepared {
            terms,
            passages: self.passages.clone(),
        }
    }

    /// The index of `articles` from what [`Index::prepared`] saved: no detecting or stemming.
    pub fn from_prepared(articles: Vec<Article>, prepared: Prepared) -> Self {
        let mut index = Index {
            terms: prepared
                .terms
                .into_iter()
                .enumerate()
                .map(|(i, t)| (t, i as u32))
                .collect(),
            passages: prepared
                .passages
                .into_iter()
                .filter(|p| p.article < articles.len())
                .collect(),
            articles,
            ..Index::default()
        };
        index.count();
        index
    }

    /// Postings and average field lengths, from the passages.
    fn count(&mut self) {
        let index = self;
        let mut postings = vec![Vec::new(); index.terms.len()];
        let mut sums = [0f32; 3];
        for (p, passage) in index.passages.iter().enumerate() {
            let mut seen: Vec<u32> = passage
                .title
                .iter()
                .chain(&passage.keywords)
                .chain(&passage.body)
                .copied()
                .collect();
            seen.sort_unstable();
            seen.dedup();
            for t in seen {
                if let Some(list) = postings.get_mut(t as usize) {
                    list.push(p as u32);
                }
            }
            sums[0] += passage.title.len() as f32;
            sums[1] += passage.keywords.len() as f32;
            sums[2] += passage.body.len() as f32;
        }
        let n = index.passages.len().max(1) as f32;
        index.avg = sums.map(|s| (s / n).max(1.0));
        index.postings = postings;
    }

    fn intern(&mut self, words: &[String]) -> Vec<u32> {
        words
            .iter()
            .map(|w| {
                let next = self.terms.len() as u32;
                *self.terms.entry(w.clone()).or_insert(next)
            })
            .collect()
    }

    fn idf(&self, postings: usize) -> f32 {
        let n = self.passages.len() as f32;
        let df = postings as f32;
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// The passage that answers `question` best, if any passage shares a word with it.
    /// `language` is the customer's, when known; else the question's own is detected.
    pub fn best(&self, question: &str, language: Option<Language>) -> Option<Hit<'_>> {
        self.top(question, language, 1).into_iter().next()
    }

    /// The best passages of the `k` best articles for `question`, best first (those sharing a
    /// word with it).
    ///
    /// Each word of the question is a slot: the word itself (or the indexed word it misspells)
    /// and the words of the same concept in the five languages ([`super::lexicon`]), which count
    /// at [`lexicon::ALTERNATIVE`]. A passage scores a slot by its best alternative, so a word
    /// found in two languages is not counted twice.
    pub fn top(&self, question: &str, language: Option<Language>, k: usize) -> Vec<Hit<'_>> {
        let language = language.or_else(|| Language::detect(question));
        let mut words = words(question);
        words.sort();
        words.dedup();
        // A word the index has never seen (often a product's name) lowers coverage at half the
        // weight of the rarest word it has: a question of only such words answers nothing, and
        // one that names a product beside the article's words still finds the article.
        let unseen = self.idf(1) / 2.0;
        let slots: Vec<Slot> = words
            .iter()
            .map(|w| {
                let own = language.map_or_else(|| w.clone(), |l| stem(l, w));
                let own = self
                    .terms
                    .get(&own)
                    .copied()
                    .or_else(|| self.misspelt(&own));
                let mut alternatives: Vec<(u32, f32)> = own.into_iter().map(|t| (t, 1.0)).collect();
                for s in lexicon::alternatives(w, language) {
                    if let Some(&t) = self.terms.get(s)
                        && !alternatives.iter().any(|(a, _)| *a == t)
                    {
                        alternatives.push((t, lexicon::ALTERNATIVE));
                    }
                }
                let idf = |t: u32| self.idf(self.postings[t as usize].len());
                // The word's weight: its own, or its rarest alternative's when the index does
                // not hold it (a Spanish word over English articles).
                let weight = match own {
                    Some(t) => idf(t),
                    None => alternatives
                        .iter()
                        .map(|(t, _)| idf(*t))
                        .fold(unseen, f32::max),
                };
                Slot {
                    weight,
                    alternatives: alternatives
                        .into_iter()
                        .map(|(t, share)| (t, idf(t), share))
                        .collect(),
                }
            })
            .collect();
        let total: f32 = slots.iter().map(|s| s.weight).sum();
        if total <= 0.0 {
            return Vec::new();
        }
        // passage → (score, matched weight)
        let mut scores: HashMap<u32, (f32, f32)> = HashMap::new();
        for slot in &slots {
            // passage → (best score of this slot, the share of its weight it matched)
            let mut best: HashMap<u32, (f32, f32)> = HashMap::new();
            for &(term, idf, share) in &slot.alternatives {
                for &p in &self.postings[term as usize] {
                    let passage = &self.passages[p as usize];
                    let tf = W_TITLE * self.field_tf(&passage.title, term, 0)
                        + W_KEYWORDS * self.field_tf(&passage.keywords, term, 1)
                        + W_BODY * self.field_tf(&passage.body, term, 2);
                    let score = share * idf * tf / (K1 + tf);
                    let entry = best.entry(p).or_default();
                    if score > entry.0 {
                        *entry = (score, share);
                    }
                }
            }
            for (p, (score, share)) in best {
                let entry = scores.entry(p).or_default();
                entry.0 += score;
                entry.1 += slot.weight * share;
            }
        }
        let mut hits: Vec<Hit<'_>> = scores
            .into_iter()
            .map(|(p, (score, matched))| {
                let passage = &self.passages[p as usize];
                let same = language.is_none()
                    || passage.language.is_none()
                    || passage.language == language;
                let factor = if same { 1.0 } else { OTHER_LANGUAGE };
                Hit {
                    article: &self.articles[passage.article],
                    passage,
                    score: score * factor,
                    coverage: (matched / total).min(1.0) * factor,
                }
            })
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.passage.article.cmp(&b.passage.article))
        });
        // One passage an article, its best: k different articles to choose from.
        let mut seen = std::collections::HashSet::new();
        hits.retain(|h| seen.insert(h.passage.article));
        hits.truncate(k);
        hits
    }

    /// The indexed word a customer most likely meant by `word`, which the index does not have:
    /// one edit away (a letter missing, added, changed, or two swapped), for words of five
    /// letters or more (shorter ones are too often other words). Customers type fast.
    fn misspelt(&self, word: &str) -> Option<u32> {
        let w: Vec<char> = word.chars().collect();
        if w.len() < 5 {
            return None;
        }
        self.terms
            .iter()
            .filter(|(t, _)| t.chars().count().abs_diff(w.len()) <= 1)
            .filter(|(t, _)| one_edit(&w, &t.chars().collect::<Vec<_>>()))
            // The commonest of the candidates; ties by the word, for repeatable answers.
            .max_by(|a, b| {
                self.postings[*a.1 as usize]
                    .len()
                    .cmp(&self.postings[*b.1 as usize].len())
                    .then(b.0.cmp(a.0))
            })
            .map(|(_, t)| *t)
    }

    /// Term frequency of `term` in one field, normalised by the field's length.
    fn field_tf(&self, field: &[u32], term: u32, which: usize) -> f32 {
        let tf = field.iter().filter(|t| **t == term).count() as f32;
        if tf == 0.0 {
            return 0.0;
        }
        tf / (1.0 - B + B * field.len() as f32 / self.avg[which])
    }
}

/// Are `a` and `b` one edit apart (Damerau: insert, delete, substitute, or swap neighbours)?
fn one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        if prefix == short.len() {
            return false;
        }
        let (s, l) = (&short[prefix..], &long[prefix..]);
        // One letter changed, or two neighbours swapped.
        s[1..] == l[1..] || (s.len() >= 2 && s[0] == l[1] && s[1] == l[0] && s[2..] == l[2..])
    } else {
        // One letter missing from the short one.
        long.len() == short.len() + 1 && short[prefix..] == long[prefix + 1..]
    }
}

/// An article's body in passages: its lines (paragraphs and list items, as the readers leave
/// them) joined up to [`PASSAGE_CHARS`]; a line longer than that is cut at sentence ends.
pub fn passages_of(body: &str) -> Vec<String> {
    let pieces = body
        .lines()
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .flat_map(|p| sentence_chunks(&p, PASSAGE_CHARS));
    pack(pieces, PASSAGE_CHARS, '\n')
}

/// `text` in pieces of at most `max` characters that end at a sentence end where one exists
/// (a sentence longer than `max` is cut between words).
pub fn sentence_chunks(text: &str, max: usize) -> Vec<String> {
    let pieces = sentences(text).flat_map(|s| {
        if s.chars().count() <= max {
            vec![s.to_owned()]
        } else {
            pack(s.split_whitespace().map(str::to_owned), max, ' ')
        }
    });
    pack(pieces, max, ' ')
}

/// `pieces` joined with `sep` into runs of at most `max` characters, in order (a piece longer
/// than `max` stands alone).
fn pack(pieces: impl IntoIterator<Item = String>, max: usize, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in pieces {
        if !current.is_empty() && current.chars().count() + piece.chars().count() + 1 > max {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(sep);
        }
        current.push_str(&piece);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sentences: text up to and including `.`, `!` or `?` followed by a space (or the end).
pub fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text.trim();
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        let end = (0..bytes.len())
            .find(|&i| {
                matches!(bytes[i], b'.' | b'!' | b'?')
                    && (i + 1 == bytes.len() || bytes[i + 1] == b' ')
            })
            .map_or(rest.len(), |i| i + 1);
        let (sentence, tail) = rest.split_at(end);
        rest = tail.trim_start();
        Some(sentence.trim())
    })
}

/// Words of `text`, lower case, without the language's most common words, stemmed.
pub fn tokens(text: &str, language: Option<Language>) -> Vec<String> {
    let stemmer = language.map(stemmer);
    words(text)
        .into_iter()
        .map(|w| match &stemmer {
            Some(s) => s.stem(&w).into_owned(),
            None => w,
        })
        .collect()
}

/// Words of `text`, lower case, without the language's most common words, as written.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !is_stopword(w))
        .collect()
}

/// `word` (lower case) stemmed by `language`'s Snowball stemmer.
pub fn stem(language: Language, word: &str) -> String {
    stemmer(language).stem(word).into_owned()
}

/// The commonest function words of the five languages: they say nothing about which article
/// answers (one list, since a question can mix languages and the words hardly collide).
fn is_stopword(w: &str) -> bool {
    const WORDS: &[&str] = &[
        // English
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
        "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "our", "so", "that", "the",
        "this", "to", "we", "what", "when", "where", "which", "who", "will", "with", "you", "your",
        "there", "get", "have", "has", "was", "would", "could", "should", "please", "hi", "hello",
        "thanks", "about", "any", "am", "its", "not", "no", "got", "need", "want", "help", "im",
        "did", "just", "they", "them", "she", "he", "us", // Spanish
        "el", "la", "los", "las", "un", "una", "y", "o", "de", "del", "en", "que", "por", "para",
        "con", "es", "mi", "su", "se", "al", "lo", "como", "cómo", "qué", "cuál", "hola", "puedo",
        "tengo", // German
        "der", "die", "das", "den", "dem", "ein", "eine", "und", "oder", "ist", "zu", "mit", "von",
        "für", "auf", "ich", "wie", "was", "wo", "mein", "meine", "kann", "ich", "es", "hallo",
        "nicht", // French
        "le", "les", "une", "et", "ou", "des", "du", "est", "pour", "avec", "je", "mon", "ma",
        "mes", "comment", "quel", "quelle", "bonjour", "pas", "ce", "il", "vous", "puis",
        // Portuguese
        "os", "as", "um", "uma", "e", "do", "da", "dos", "das", "em", "com", "meu", "minha", "como",
        "qual", "olá", "posso", "não",
    ];
    WORDS.contains(&w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn one_edit_is_one_letter_added_removed_changed_or_swapped() {
        for (a, b) in [
            ("warranty", "waranty"),
            ("warranty", "warrantty"),
            ("warranty", "warrenty"),
            ("warranty", "wararnty"),
        ] {
            assert!(one_edit(&chars(a), &chars(b)), "{a} {b}");
        }
        for (a, b) in [
            ("warranty", "warranty"),
            ("warranty", "wrranyt"),
            ("refund", "return"),
        ] {
            assert!(!one_edit(&chars(a), &chars(b)), "{a} {b}");
        }
    }

    fn article(id: &str, title: &str, body: &str) -> Article {
        Article {
            id: id.into(),
            title: title.into(),
            body: body.into(),
            keywords: String::new(),
            url: None,
        }
    }

    #[test]
    fn a_misspelt_question_still_finds_its_article() {
        let index = Index::build(vec![
            article(
                "w",
                "Warranty",
                "Every grinder has a two-year warranty against defects.",
            ),
            article(
                "g",
                "Gift cards",
                "Gift cards never expire and work in every store.",
            ),
        ]);
        let hit = index
            .best("is my grindr still under waranty?", Some(Language::En))
            .expect("a hit");
        assert_eq!(hit.article.id, "w");
        // Without the correction neither word is known: nothing matches.
        assert!(!index.terms.contains_key("waranti"));
    }

    #[test]
    fn a_question_in_another_language_finds_an_article_through_the_lexicon() {
        let index = Index::build(vec![
            article(
                "r",
                "Returns",
                "You can return an unused item within 30 days of delivery for a full refund.",
            ),
            article(
                "g",
                "Gift cards",
                "Gift cards never expire and work in every store.",
            ),
        ]);
        // No word of the question is in either article: only the lexicon links them.
        let question = "¿puedo devolver mi pedido?";
        let hit = index.best(question, Some(Language::Es)).expect("a hit");
        assert_eq!(hit.article.id, "r");
        assert!(
            words(question)
                .iter()
                .all(|w| !index.terms.contains_key(&stem(Language::Es, w))),
            "the question shares a word with the articles"
        );
    }

    #[test]
    fn an_index_from_its_saved_work_answers_as_the_one_built() {
        let articles: Vec<Article> = [
            "Warranty: every grinder has a two-year warranty.",
            "Gift cards never expire.",
        ]
        .iter()
        .enumerate()
        .map(|(i, b)| Article {
            id: i.to_string(),
            title: format!("Article {i}"),
            body: (*b).into(),
            keywords: String::new(),
            url: None,
        })
        .collect();
        let built = Index::build(articles.clone());
        let json = serde_json::to_string(&built.prepared()).unwrap();
        let loaded = Index::from_prepared(articles, serde_json::from_str(&json).unwrap());
        for q in ["grinder warranty", "do gift cards expire", "bicycles"] {
            let a = built.best(q, None).map(|h| (h.article.id.clone(), h.score));
            let b = loaded
                .best(q, None)
                .map(|h| (h.article.id.clone(), h.score));
            assert_eq!(a, b, "{q}");
        }
    }
}
