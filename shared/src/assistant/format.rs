//! Shaping text for a channel.
//!
//! SMS is plain text: a model's markdown (`**bold**`, lists, links) and any HTML are reduced to
//! their words, then the text is shortened at a word boundary to the channel's limit. The widget
//! renders every message as text (never as HTML), so simple formatting such as line breaks and
//! list dashes can stay; only the length is bounded.
//!
//! Crates: `pulldown-cmark` (the CommonMark parser rustdoc uses; no default features, so no HTML
//! renderer or CLI) reads markdown; `nanohtml2text` (no dependencies, a few hundred lines) turns
//! HTML fragments into text. `html2text` would pull in html5ever, a browser-grade parser that
//! would add more to every bootstrap than all of casebridge's own code, for fragments this small.

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

use crate::domain::Channel;

/// Markdown and HTML reduced to plain text, with paragraphs and list items on their own lines.
pub fn plain_text(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut link_targets: Vec<String> = Vec::new();
    for event in Parser::new(input) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::Html(h) | Event::InlineHtml(h) => {
                let breaks = h.to_ascii_lowercase().contains("<br") || h.contains("</p");
                let text = nanohtml2text::html2text(&h);
                out.push_str(text.trim_matches(|c| c == '\n' || c == '\r'));
                if breaks {
                    out.push('\n');
                }
            }
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => out.push_str("- "),
            Event::Start(Tag::Link { dest_url, .. }) => link_targets.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                if let Some(url) = link_targets.pop()
                    && !url.is_empty()
                    && !out.ends_with(url.as_str())
                {
                    out.push_str(" (");
                    out.push_str(&url);
                    out.push(')');
                }
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_)) => out.push_str("\n\n"),
            Event::End(TagEnd::Item | TagEnd::CodeBlock) => out.push('\n'),
            Event::End(TagEnd::List(_) | TagEnd::BlockQuote(_)) => out.push('\n'),
            Event::Rule => out.push('\n'),
            _ => {}
        }
    }
    tidy(&out)
}

/// Trims lines, and keeps at most one blank line in a row.
fn tidy(s: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in s.lines().map(str::trim) {
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

/// At most `max` characters, cut at a word boundary with an ellipsis when it had to be cut.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let budget = max.saturating_sub(1);
    let cut: String = s.chars().take(budget).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        // Do not throw away more than a fifth of the budget to find a space.
        Some(i) if i >= budget * 4 / 5 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", at_word.trim_end())
}

/// HTML (an agent's reply written in Creatio's rich-text editor) as plain text: tags dropped,
/// entities decoded, block elements on their own lines.
pub fn html_to_text(html: &str) -> String {
    if !html.contains('<') && !html.contains('&') {
        return tidy(html);
    }
    tidy(&nanohtml2text::html2text(html))
}

/// A reply as the channel should carry it.
pub fn for_channel(text: &str, channel: Channel, max_chars: usize) -> String {
    match channel {
        Channel::Sms => shorten(&plain_text(text), max_chars),
        Channel::Widget => shorten(text.trim(), max_chars),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_and_html_become_plain_text_for_sms() {
        let md = "**Good news!** Your order *ships* today.\n\n\
                  - Track it [here](https://t.example/1)\n- Reply `STOP` to opt out\n\n\
                  <b>Thanks</b> &amp; bye<br>See you";
        assert_eq!(
            plain_text(md),
            "Good news! Your order ships today.\n\n\
             - Track it here (https://t.example/1)\n- Reply STOP to opt out\n\n\
             Thanks & bye\nSee you"
        );
        let html = "<p>Hello <i>Ann</i>,</p><p>your refund is on its way.</p>";
        assert_eq!(plain_text(html), "Hello Ann,\n\nyour refund is on its way.");
    }

    #[test]
    fn agent_html_becomes_clean_text() {
        assert_eq!(
            html_to_text(
                "<p>Hi Ann,</p><p>your refund of <b>$20</b> &amp; a voucher are on the way.<br>Best, Bob</p>"
            ),
            "Hi Ann,\n\nyour refund of $20 & a voucher are on the way.\nBest, Bob"
        );
        assert_eq!(html_to_text("  plain reply  "), "plain reply");
    }

    #[test]
    fn long_replies_are_cut_at_a_word() {
        let s = "one two three four five six seven eight nine ten";
        assert_eq!(shorten(s, 100), s);
        let short = shorten(s, 20);
        assert!(short.chars().count() <= 20, "{short}");
        assert_eq!(short, "one two three four…");
        // A single very long word is cut mid-word rather than dropped.
        assert_eq!(shorten(&"x".repeat(50), 10).chars().count(), 10);
    }

    #[test]
    fn the_widget_keeps_simple_formatting() {
        let s = "Steps:\n- one\n- **two**";
        assert_eq!(for_channel(s, Channel::Widget, 100), s);
        assert_eq!(for_channel(s, Channel::Sms, 100), "Steps:\n\n- one\n- two");
    }
}
