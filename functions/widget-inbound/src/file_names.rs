//! File names and `Content-Disposition` for widget attachments: what the visitor called a file,
//! cleaned for a header and a transcript, and back out of what storage kept. Pure functions,
//! shared by the attachment flow ([`crate::attachments`]) and its storage
//! ([`crate::attachment_store`]).

/// A file name fit for a header and a transcript: no path, no control or hidden characters, no
/// quotes, at most 100 characters. (The name a kept file gets is
/// [`casebridge::widget::file_type::kept_name`] of it.)
pub fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let name: String = casebridge::domain::without_hidden_chars(base)
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
        .take(100)
        .collect();
    let name = name.trim();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "file".to_owned()
    } else {
        name.to_owned()
    }
}

/// `Content-Disposition` for the stored object: always a download. Non-ASCII characters are
/// replaced in the plain `filename` and kept in `filename*` (RFC 6266).
pub fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `12 KB`, `3.4 MB`: for the transcript line.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} bytes"),
        b if b < 1024 * 1024 => format!("{} KB", b.div_ceil(1024)),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The name back out of the `Content-Disposition` [`disposition`] wrote.
pub fn name_from_disposition(d: &str) -> Option<String> {
    if let Some(encoded) = d.split("filename*=UTF-8''").nth(1) {
        let encoded = encoded.split(';').next()?.trim();
        return form_urlencoded::parse(format!("n={}", encoded.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| clean_name(&v));
    }
    let quoted = d.split("filename=\"").nth(1)?;
    quoted.split('"').next().map(clean_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_lose_paths_quotes_and_control_characters() {
        assert_eq!(clean_name("C:\\Users\\me\\invoice.pdf"), "invoice.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\"b\r\n.png"), "ab.png");
        assert_eq!(clean_name(".."), "file");
        assert_eq!(clean_name(""), "file");
        assert_eq!(clean_name(&"x".repeat(300)).len(), 100);
    }

    #[test]
    fn the_name_survives_the_disposition_round_trip() {
        for n in ["reçu 1.pdf", "a+b=c&d.png", "photo.jpg"] {
            assert_eq!(name_from_disposition(&disposition(n)).as_deref(), Some(n));
        }
    }

    #[test]
    fn disposition_is_always_a_download_and_keeps_unicode_names() {
        assert_eq!(
            disposition("reçu 1.pdf"),
            "attachment; filename=\"re_u 1.pdf\"; filename*=UTF-8''re%C3%A7u%201.pdf"
        );
    }
}
