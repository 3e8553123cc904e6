//! The new text of a rep's e-mail: what goes to the customer, without the quoted thread or the
//! signature. The case keeps the whole e-mail; only the SMS or the widget message is cut.
//!
//! An e-mail reply from Creatio (or from the rep's own mail client, logged on the case) carries
//! the thread it answers below the new text. That part is found by the marks mail clients leave:
//!
//! - in HTML, structurally: Gmail's `gmail_quote`, `<blockquote>` (Apple Mail, Thunderbird,
//!   most webmail), Outlook's `divRplyFwdMsg` / `appendonsend` block and the top-bordered header
//!   block of Outlook for Windows, Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`;
//! - in text (plain bodies, and what is left of the HTML): "-----Original Message-----", an
//!   "On … wrote:" line (and its Spanish, French, German, Portuguese, Italian, Dutch forms), a
//!   "From: … Sent: … To:" header block, trailing `>` lines, a `-- ` signature delimiter and
//!   "Sent from my …".
//!
//! Everything from the first mark on is cut. Why not a crate: `email_reply_parser` (the Rust
//! port of Zapier's parser) reads plain text only, had one release, and pulls in `regex` and
//! `fancy-regex` (about 1 MB more per bootstrap, next to the `regex-lite` casebridge already
//! has); the HTML marks above are where most of the thread can be told apart, and they are plain
//! substrings, so this file does it with string search.

use crate::assistant::format::html_to_text;

/// HTML marks of a quoted thread, lower case. A mark inside a tag cuts from that tag's `<`.
const HTML_MARKS: &[&str] = &[
    "gmail_quote",
    "<blockquote",
    "divrplyfwdmsg",
    "id=\"appendonsend\"",
    "moz-cite-prefix",
    "yahoo_quoted",
    // Outlook for Windows: the reply header sits in a div with a thin top border.
    "border-top:solid #e1e1e1",
    "border-top:solid #b5c4df",
    "-----original message-----",
];

/// The new text of an e-mail body (`html` says whether it is HTML), or None when nothing is
/// left above the quoted thread.
pub fn new_text(body: &str, html: bool) -> Option<String> {
    let text = if html {
        html_to_text(cut_html(body))
    } else {
        body.replace("\r\n", "\n")
    };
    let text = cut_text(&text);
    (!text.is_empty()).then_some(text)
}

/// The HTML before the first quote mark.
fn cut_html(html: &str) -> &str {
    // ASCII lower-casing keeps byte offsets, so an index in `lower` is one in `html`.
    let lower = html.to_ascii_lowercase();
    let Some(at) = HTML_MARKS.iter().filter_map(|m| lower.find(m)).min() else {
        return html;
    };
    // A mark inside a tag's attributes: cut from the tag's start.
    let tag_start = match lower[..at].rfind('<') {
        Some(lt) if !lower[lt..at].contains('>') => lt,
        _ => at,
    };
    &html[..tag_start]
}

/// Lines that open a quoted reply ("On Mon, 1 Dec 2026 at 10:00, Ann <ann@x.com> wrote:").
fn is_attribution(line: &str) -> bool {
    const LEADS: &[&str] = &["on ", "el ", "le ", "am ", "em ", "il ", "op "];
    const ENDS: &[&str] = &[
        "wrote:",
        "escribió:",
        "a écrit :",
        "a écrit:",
        "schrieb:",
        "escreveu:",
        "ha scritto:",
        "geschreven:",
        "schreef:",
    ];
    let l = line.trim().to_lowercase();
    LEADS.iter().any(|p| l.starts_with(p)) && ENDS.iter().any(|e| l.ends_with(e))
}

fn is_original_message(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    l.starts_with("-----")
        && (l.contains("original message")
            || l.contains("mensaje original")
            || l.contains("message d'origine")
            || l.contains("ursprüngliche nachricht"))
}

/// An Outlook-style header block: "From:" followed within four lines by "Sent:"/"Date:" and
/// "To:"/"Subject:" (and the Spanish, French and German forms).
fn is_header_block(lines: &[&str], i: usize) -> bool {
    const FROM: &[&str] = &["from:", "de:", "von:"];
    const SENT: &[&str] = &[
        "sent:",
        "date:",
        "enviado:",
        "envoyé :",
        "envoyé:",
        "gesendet:",
    ];
    const TO: &[&str] = &[
        "to:", "subject:", "para:", "asunto:", "à :", "objet :", "an:", "betreff:",
    ];
    let starts = |l: &str, set: &[&str]| {
        let l = l.trim().to_lowercase();
        set.iter().any(|p| l.starts_with(p))
    };
    if !starts(lines[i], FROM) {
        return false;
    }
    let next = &lines[i + 1..(i + 5).min(lines.len())];
    next.iter().any(|l| starts(l, SENT)) && next.iter().any(|l| starts(l, TO))
}

fn is_signature_start(line: &str) -> bool {
    let t = line.trim_end();
    if t == "--" || t == "-- " || line == "-- " {
        return true;
    }
    let l = t.trim().to_lowercase();
    l.starts_with("sent from my ") || l.starts_with("enviado desde mi ")
}

/// The text above the first mark of a quoted thread or a signature, tidied.
fn cut_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for i in 0..lines.len() {
        let line = lines[i];
        let two = lines
            .get(i + 1)
            .map(|next| format!("{} {}", line.trim(), next.trim()));
        let quoted_rest = line.trim_start().starts_with('>')
            && lines[i..]
                .iter()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'));
        if is_original_message(line)
            || is_attribution(line)
            || two.as_deref().is_some_and(is_attribution)
            || is_header_block(&lines, i)
            || quoted_rest
            || is_signature_start(line)
        {
            end = i;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end].iter().map(|l| l.trim_end()).collect();
    // Separators left hanging above the cut (Outlook's rule, a line of underscores).
    while kept.last().is_some_and(|l| {
        let t = l.trim();
        t.is_empty() || (t.len() >= 3 && t.chars().all(|c| matches!(c, '-' | '_' | '—' | '=')))
    }) {
        kept.pop();
    }
    while kept.first().is_some_and(|l| l.trim().is_empty()) {
        kept.remove(0);
    }
    let mut out: Vec<&str> = Vec::with_capacity(kept.len());
    for l in kept {
        if l.trim().is_empty() && out.last().is_some_and(|p| p.trim().is_empty()) {
            continue;
        }
        out.push(l);
    }
    out.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gmail_reply_keeps_only_the_new_text() {
        let body = r#"<div dir="ltr">Hi Ann,<div><br></div><div>your replacement ships today.</div><div><br></div><div>Bob</div></div><br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">On Tue, 1 Dec 2026 at 10:02, Ann Lee &lt;<a href="mailto:ann@example.com">ann@example.com</a>&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex"><div dir="ltr">My order never arrived.</div></blockquote></div>"#;
        assert_eq!(
            new_text(body, true).unwrap(),
            "Hi Ann,\nyour replacement ships today.\nBob"
        );
    }

    #[test]
    fn an_outlook_reply_keeps_only_the_new_text() {
        let web = r#"<html><body><div style="font-family:Calibri">Hello Ann, the refund is on its way.</div><div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1"><div id="divRplyFwdMsg" dir="ltr"><font face="Calibri"><b>From:</b> Ann Lee &lt;ann@example.com&gt;<br><b>Sent:</b> Tuesday, December 1, 2026 10:02 AM<br><b>To:</b> Support<br><b>Subject:</b> Refund</font></div><div>Where is my refund?</div></body></html>"#;
        assert_eq!(
            new_text(web, true).unwrap(),
            "Hello Ann, the refund is on its way."
        );
        let desktop = r#"<div class="WordSection1"><p class="MsoNormal">We have sent a new code.<o:p></o:p></p><div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in"><p class="MsoNormal"><b>From:</b> Ann<br><b>Sent:</b> Monday<br><b>To:</b> Support</p></div></div><p>The code does not work</p></div>"#;
        assert_eq!(new_text(desktop, true).unwrap(), "We have sent a new code.");
    }

    #[test]
    fn plain_text_threads_and_signatures_are_cut() {
        let plain = "Thanks, fixed now.\n\nOn Tue, Dec 1, 2026 at 10:02 AM Ann Lee <ann@example.com>\nwrote:\n> It is broken\n> again";
        assert_eq!(new_text(plain, false).unwrap(), "Thanks, fixed now.");
        let original = "Done.\n\n-----Original Message-----\nFrom: Ann\nSent: Monday\nTo: Support\nSubject: x\n\nhelp";
        assert_eq!(new_text(original, false).unwrap(), "Done.");
        let headers = "Sure, tomorrow.\n________________________________\nFrom: Ann Lee\nSent: Monday\nTo: Support\n\nCan you call?";
        assert_eq!(new_text(headers, false).unwrap(), "Sure, tomorrow.");
        let signed = "See you then.\n-- \nBob Smith\nSupport, Example Co\n+1 555 000 0000";
        assert_eq!(new_text(signed, false).unwrap(), "See you then.");
        let spanish = "Claro, mañana.\n\nEl lun, 1 dic 2026 a las 10:02, Ana <ana@example.com> escribió:\n> ¿Cuándo?";
        assert_eq!(new_text(spanish, false).unwrap(), "Claro, mañana.");
        let iphone = "On my way.\n\nSent from my iPhone";
        assert_eq!(new_text(iphone, false).unwrap(), "On my way.");
    }

    #[test]
    fn text_without_a_thread_is_kept_whole_and_nothing_left_is_none() {
        let body = "<p>Hi Ann,</p><p>a replacement ships <b>today</b> &amp; arrives Friday.</p>";
        assert_eq!(
            new_text(body, true).unwrap(),
            "Hi Ann,\n\na replacement ships today & arrives Friday."
        );
        // A line that merely mentions what someone wrote is not an attribution.
        assert_eq!(
            new_text("You wrote: the box was open. We agree.", false).unwrap(),
            "You wrote: the box was open. We agree."
        );
        assert_eq!(
            new_text(r#"<blockquote>only the old mail</blockquote>"#, true),
            None
        );
        assert_eq!(new_text("  \n ", false), None);
    }
}
