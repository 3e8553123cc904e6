//! SMS compliance keywords (list from Twilio's opt-out documentation; see the reference).
//!
//! A keyword is the whole message, case-insensitive, with surrounding punctuation ignored:
//! "Stop", "STOP." and " stop " opt out; "please stop texting me" is an ordinary message (carriers
//! and Twilio match the same way).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    OptIn,
    Help,
}

const OPT_OUT: &[&str] = &[
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const OPT_IN: &[&str] = &["START", "YES", "UNSTOP"];
const HELP: &[&str] = &["HELP", "INFO"];

pub fn classify(body: &str) -> Option<Keyword> {
    let word = body
        .trim()
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_uppercase();
    if OPT_OUT.contains(&word.as_str()) {
        Some(Keyword::OptOut)
    } else if OPT_IN.contains(&word.as_str()) {
        Some(Keyword::OptIn)
    } else if HELP.contains(&word.as_str()) {
        Some(Keyword::Help)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_keywords_only() {
        assert_eq!(classify("STOP"), Some(Keyword::OptOut));
        assert_eq!(classify(" stop. "), Some(Keyword::OptOut));
        assert_eq!(classify("Unsubscribe"), Some(Keyword::OptOut));
        assert_eq!(classify("start"), Some(Keyword::OptIn));
        assert_eq!(classify("Help!"), Some(Keyword::Help));
        assert_eq!(classify("please stop"), None);
        assert_eq!(classify("yes please"), None);
        assert_eq!(classify("stopwatch"), None);
    }
}
