//! What a visitor's file really is, from its first bytes, and the name it is kept under.
//!
//! A declared media type is the visitor's word; the bytes are not. [`check`] reads the file's
//! signature (magic number) with the `infer` crate and accepts the file only when the signature
//! is the declared type's; plain text has no signature, so a `text/plain` file is accepted when
//! it has no NUL in its first bytes and no known signature at all (an executable, an archive or
//! an HTML page declared as text is refused). The extension the file is kept under comes from the
//! accepted type, never from the visitor's name: `payroll.exe` accepted as a PDF is kept as
//! `payroll.pdf` ([`kept_name`]).
//!
//! Why `infer`: a no_std table of signatures with no dependencies of its own (a few KB in the
//! widget binary), kept up to date for the common image and document formats; writing the
//! signatures out here would be the same table, less reviewed. A media type `infer` has no
//! signature for cannot be checked, so the configuration refuses it at start-up
//! ([`is_checkable`]).

use crate::domain::without_hidden_chars;

/// How many of a file's first bytes the check reads: every signature `infer` knows is inside
/// it.
pub const SNIFF_BYTES: usize = 8192;

/// The one type without a signature that is accepted: its bytes are checked for what it is not.
const PLAIN_TEXT: &str = "text/plain";

/// Can a file declared as `media_type` be checked by its bytes?
pub fn is_checkable(media_type: &str) -> bool {
    media_type == PLAIN_TEXT || infer::is_mime_supported(media_type)
}

/// Why the bytes are not the declared type, in words for the visitor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("the file's contents are {found}, not the declared {declared}")]
    OtherType {
        declared: String,
        found: &'static str,
    },
    #[error("the file's contents are not {declared}")]
    Unrecognised { declared: String },
    #[error("the file is declared as text but holds binary data")]
    NotText,
}

/// The extension for a file whose first bytes are `head` and whose declared (already allowed)
/// type is `declared`, or why they disagree.
pub fn check(declared: &str, head: &[u8]) -> Result<&'static str, Mismatch> {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    let found = infer::get(head);
    if declared == PLAIN_TEXT {
        return match found {
            Some(t) => Err(Mismatch::OtherType {
                declared: declared.to_owned(),
                found: t.mime_type(),
            }),
            None if head.contains(&0) => Err(Mismatch::NotText),
            None => Ok("txt"),
        };
    }
    match found {
        Some(t) if t.mime_type() == declared => Ok(t.extension()),
        Some(t) => Err(Mismatch::OtherType {
            declared: declared.to_owned(),
            found: t.mime_type(),
        }),
        None => Err(Mismatch::Unrecognised {
            declared: declared.to_owned(),
        }),
    }
}

/// The name a file is kept and shown under: the visitor's name without its path, its hidden
/// characters (a right-to-left override turns `invoice\u{202e}fdp.exe` into what reads as
/// `invoiceexe.pdf`), quotes and backslashes, and without its extension, then the accepted
/// type's extension. At most 100 characters before the extension; `file` when nothing is left.
pub fn kept_name(raw: &str, extension: &str) -> String {
    let stem = clean_stem(raw);
    format!("{stem}.{extension}")
}

/// The visitor's name, cleaned, without its last extension.
fn clean_stem(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let visible = without_hidden_chars(base);
    let name: String = visible
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\'))
        .collect();
    let name = name.trim().trim_matches('.');
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.trim().is_empty() && !ext.contains(' ') => stem,
        _ => name,
    };
    let stem: String = stem.trim().chars().take(100).collect();
    let stem = stem.trim().trim_end_matches('.').to_owned();
    if stem.is_empty() {
        "file".to_owned()
    } else {
        stem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const PDF: &[u8] = b"%PDF-1.4\n";
    const EXE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

    #[test]
    fn the_bytes_must_be_the_declared_type() {
        assert_eq!(check("image/png", PNG), Ok("png"));
        assert_eq!(check("application/pdf", PDF), Ok("pdf"));
        assert!(matches!(
            check("application/pdf", EXE),
            Err(Mismatch::OtherType {
                found: "application/vnd.microsoft.portable-executable",
                ..
            })
        ));
        assert!(matches!(
            check("image/png", b"just some words"),
            Err(Mismatch::Unrecognised { .. })
        ));
    }

    #[test]
    fn text_is_text_and_nothing_else() {
        assert_eq!(
            check("text/plain", "order 1234 — thanks".as_bytes()),
            Ok("txt")
        );
        assert_eq!(check("text/plain", b"a\0b"), Err(Mismatch::NotText));
        assert!(matches!(
            check("text/plain", b"<!DOCTYPE html><html><script>"),
            Err(Mismatch::OtherType {
                found: "text/html",
                ..
            })
        ));
        assert!(matches!(
            check("text/plain", EXE),
            Err(Mismatch::OtherType { .. })
        ));
    }

    #[test]
    fn the_extension_comes_from_the_type_not_the_visitor() {
        assert_eq!(kept_name("payroll-2026.exe", "pdf"), "payroll-2026.pdf");
        assert_eq!(kept_name("x.html", "txt"), "x.txt");
        assert_eq!(kept_name("invoice\u{202e}fdp.exe", "pdf"), "invoicefdp.pdf");
        assert_eq!(kept_name("C:\\Users\\me\\scan.PNG", "png"), "scan.png");
        assert_eq!(kept_name("../../etc/passwd", "txt"), "passwd.txt");
        assert_eq!(kept_name("a\"b\r\n.png", "png"), "ab.png");
        assert_eq!(kept_name("..", "pdf"), "file.pdf");
        assert_eq!(kept_name("", "pdf"), "file.pdf");
        assert_eq!(kept_name("archive.tar.gz", "pdf"), "archive.tar.pdf");
        assert_eq!(kept_name(&"x".repeat(300), "png").len(), 104);
    }

    #[test]
    fn only_types_with_a_check_are_checkable() {
        for t in crate::widget::config::AttachmentPolicy::DEFAULT_TYPES {
            assert!(is_checkable(t), "{t}");
        }
        assert!(!is_checkable("application/x-made-up"));
        assert!(!is_checkable("text/csv"));
    }
}
