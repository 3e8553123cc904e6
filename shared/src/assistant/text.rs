//! Words: the small amount of text handling the rules need (tokens, phrase matches, overlap).

/// Lower-case words; apostrophes dropped (`don't` → `dont`), plural `s` folded for longer words
/// so "orders" matches "order".
pub fn words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .replace(['\'', '’'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect()
}

fn fold(w: &str) -> String {
    if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
        w[..w.len() - 1].to_owned()
    } else {
        w.to_owned()
    }
}

/// Does `text` contain `phrase` as whole consecutive words?
pub fn mentions(text_words: &[String], phrase: &str) -> bool {
    let p = words(phrase);
    !p.is_empty() && text_words.windows(p.len()).any(|w| w == p.as_slice())
}

pub fn mentions_any(text: &str, phrases: &[String]) -> bool {
    let w = words(text);
    phrases.iter().any(|p| mentions(&w, p))
}

const STOPWORDS: &[&str] = &[
    "a", "an", "the", "i", "me", "my", "we", "our", "you", "your", "is", "are", "was", "be", "do",
    "doe", "does", "did", "to", "of", "in", "on", "for", "and", "or", "it", "this", "that", "can",
    "could", "would", "will", "what", "how", "when", "where", "please", "hi", "hello", "hey",
    "thank", "thanks", "just", "there", "with", "about", "have", "ha", "has", "am", "im",
];

/// Content words of `s`.
pub fn content_words(s: &str) -> Vec<String> {
    words(s)
        .into_iter()
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Share of `pattern`'s content words found in `text_words` (0.0 … 1.0).
pub fn overlap(text_words: &[String], pattern: &str) -> f32 {
    let p = content_words(pattern);
    if p.is_empty() {
        return 0.0;
    }
    let hits = p.iter().filter(|w| text_words.contains(w)).count();
    hits as f32 / p.len() as f32
}

const GREETINGS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "hiya",
    "yo",
    "good morning",
    "good afternoon",
    "good evening",
    "greetings",
    "howdy",
];

/// A message that is only a greeting ("Hi!", "hello there", "good morning :)").
pub fn is_greeting(s: &str) -> bool {
    let w = words(s);
    if w.is_empty() || w.len() > 4 {
        return false;
    }
    GREETINGS.iter().any(|g| mentions(&w, g))
        && w.iter().all(|x| {
            STOPWORDS.contains(&x.as_str())
                || GREETINGS.iter().any(|g| g.contains(x.as_str()))
                || x == "there"
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrases(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let p = phrases(&["agent", "talk to someone"]);
        assert!(mentions_any("Can I get an AGENT please?", &p));
        assert!(mentions_any("i'd like to talk to someone.", &p));
        assert!(!mentions_any("the reagent arrived", &p));
        assert!(!mentions_any("talk to me about someone", &p));
    }

    #[test]
    fn greetings_are_recognised() {
        assert!(is_greeting("Hi!"));
        assert!(is_greeting("hello there"));
        assert!(is_greeting("Good morning :)"));
        assert!(!is_greeting("hi, where is my order"));
    }

    #[test]
    fn overlap_counts_content_words() {
        let w = words("How long does shipping take to Canada?");
        assert!(overlap(&w, "how long does shipping take") > 0.99);
        assert!(overlap(&w, "return policy") < 0.01);
    }
}
