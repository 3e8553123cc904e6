//! Articles from a folder: `*.md`, `*.html` / `*.htm` and `*.txt`, read in name order (files
//! in sub-folders too; anything else is skipped).
//!
//! An optional front matter block sets `title:`, `url:` and `keywords:`:
//!
//! ```text
//! ---
//! title: Returns and refunds
//! url: https://help.example.com/returns
//! keywords: refund, send back, exchange
//! ---
//! ```
//! Without a `title:`, the first Markdown heading (or HTML `<h1>` / `<title>`) is the title,
//! else the file name. Markdown and HTML are reduced to their text with the same code that
//! shapes the assistant's answers ([`crate::assistant::format`]).

use std::path::Path;

use super::{Article, KnowledgeError};
use crate::assistant::format::{html_to_text, plain_text};

/// Largest file read; a help article is a few KB.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

pub fn read(dir: &Path) -> Result<Vec<Article>, KnowledgeError> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut articles = Vec::new();
    for (id, path) in files {
        let error = |e: std::io::Error| KnowledgeError::Folder {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if std::fs::metadata(&path).map_err(error)?.len() > MAX_FILE_BYTES {
            tracing::warn!(file = %id, "knowledge file over 1 MiB skipped");
            continue;
        }
        let raw = match std::fs::read_to_string(&path) {
            Ok(raw) => raw,
            // One file that is not UTF-8 text is skipped, not the whole folder.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                tracing::warn!(file = %id, "knowledge file is not UTF-8 text; skipped");
                continue;
            }
            Err(e) => return Err(error(e)),
        };
        if let Some(article) = parse(&id, &raw) {
            articles.push(article);
        }
    }
    Ok(articles)
}

fn collect(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, std::path::PathBuf)>,
) -> Result<(), KnowledgeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| KnowledgeError::Folder {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if kind(&path).is_some() {
            let id = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((id, path));
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Markdown,
    Html,
    Text,
}

/// Is `name` a file the folder reads (`.md`, `.markdown`, `.html`, `.htm`, `.txt`)?
pub fn is_article(name: &str) -> bool {
    kind(Path::new(name)).is_some()
}

fn kind(path: &Path) -> Option<Kind> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "md" | "markdown" => Some(Kind::Markdown),
        "html" | "htm" => Some(Kind::Html),
        "txt" => Some(Kind::Text),
        _ => None,
    }
}

/// One file's article; None for a file with no text.
pub fn parse(id: &str, raw: &str) -> Option<Article> {
    let (front, content) = front_matter(raw);
    let field = |name: &str| {
        front
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let kind = kind(Path::new(id)).unwrap_or(Kind::Text);
    let (heading, body) = match kind {
        Kind::Markdown => {
            let mut lines = content.lines();
            let mut heading = None;
            let mut rest = Vec::new();
            for line in lines.by_ref() {
                let t = line.trim_start();
                if heading.is_none() && t.starts_with('#') {
                    heading = Some(t.trim_start_matches('#').trim().to_owned());
                } else {
                    rest.push(line);
                }
            }
            (heading, plain_text(&rest.join("\n")))
        }
        Kind::Html => (html_heading(content), html_to_text(content)),
        Kind::Text => (None, content.to_owned()),
    };
    let title = field("title").or(heading).unwrap_or_else(|| file_title(id));
    let body = body.trim().to_owned();
    if body.is_empty() {
        return None;
    }
    Some(Article {
        id: id.to_owned(),
        title,
        body,
        keywords: field("keywords").unwrap_or_default(),
        url: field("url"),
    })
}

/// `key: value` lines between a first line `---` and the next `---`.
fn front_matter(raw: &str) -> (Vec<(String, String)>, &str) {
    let raw = raw.trim_start_matches('\u{feff}');
    let Some(rest) = raw
        .strip_prefix("---\n")
        .or_else(|| raw.strip_prefix("---\r\n"))
    else {
        return (Vec::new(), raw);
    };
    let Some(end) = rest.find("\n---") else {
        return (Vec::new(), raw);
    };
    let fields = rest[..end]
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches(['"', '\'']).to_owned(),
            )
        })
        .collect();
    let after = &rest[end + 4..];
    (fields, after.trim_start_matches(['-']).trim_start())
}

fn html_heading(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    for tag in ["h1", "title"] {
        if let Some(start) = lower.find(&format!("<{tag}")) {
            let open_end = lower[start..].find('>')? + start + 1;
            let close = lower[open_end..].find(&format!("</{tag}>"))? + open_end;
            let text = html_to_text(&html[open_end..close]);
            let text = text.trim();
            if !text.is_empty() {
                return Some(text.to_owned());
            }
        }
    }
    None
}

/// `returns-and-refunds.md` → "returns and refunds".
fn file_title(id: &str) -> String {
    let name = id.rsplit('/').next().unwrap_or(id);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    stem.replace(['-', '_'], " ")
}
