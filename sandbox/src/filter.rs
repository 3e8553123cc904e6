//! The subset of OData `$filter` Creatio clients use: `eq`/`ne` comparisons of a column or a
//! navigation path (`Case/Id`) with a string, GUID, number, boolean or null literal, combined
//! with `and`, `or` and parentheses. String literals follow OData: single quotes, `''` for `'`.
//! Anything else is a syntax error (400), as it is for Creatio.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp {
        column: String,
        negate: bool,
        value: Value,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Bare(String),
    LParen,
    RParen,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == '\'' {
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated string literal at position {i}")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        lit.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(lit));
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"()'".contains(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '/' || c == '_')
                && !is_guid(&word)
            {
                out.push(Tok::Ident(word));
            } else {
                out.push(Tok::Bare(word));
            }
        }
    }
    Ok(out)
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

pub fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0 };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("syntax error: unexpected {:?}", p.toks[p.pos]));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w == kw)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_kw("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.factor()?;
        while self.peek_kw("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err("syntax error: ')' expected".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Ident(path)) => {
                self.pos += 1;
                let negate = match self.toks.get(self.pos) {
                    Some(Tok::Ident(op)) if op == "eq" => false,
                    Some(Tok::Ident(op)) if op == "ne" => true,
                    other => {
                        return Err(format!("syntax error: operator expected, found {other:?}"));
                    }
                };
                self.pos += 1;
                let value = match self.toks.get(self.pos).cloned() {
                    Some(Tok::Str(s)) => Value::String(s),
                    Some(Tok::Bare(b)) if is_guid(&b) => Value::String(b.to_ascii_lowercase()),
                    Some(Tok::Bare(b)) => match b.parse::<f64>() {
                        Ok(_) => serde_json::from_str(&b).map_err(|_| format!("bad number {b}"))?,
                        Err(_) => return Err(format!("syntax error: bad literal {b}")),
                    },
                    Some(Tok::Ident(w)) if w == "null" => Value::Null,
                    Some(Tok::Ident(w)) if w == "true" => Value::Bool(true),
                    Some(Tok::Ident(w)) if w == "false" => Value::Bool(false),
                    other => {
                        return Err(format!("syntax error: literal expected, found {other:?}"));
                    }
                };
                self.pos += 1;
                // A navigation path `Case/Id` compares the lookup column `CaseId`.
                let column = match path.split_once('/') {
                    Some((nav, "Id")) => format!("{nav}Id"),
                    Some(_) => return Err(format!("unsupported navigation path {path}")),
                    None => path,
                };
                Ok(Expr::Cmp {
                    column,
                    negate,
                    value,
                })
            }
            other => Err(format!(
                "syntax error: expression expected, found {other:?}"
            )),
        }
    }
}

impl Expr {
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::Cmp { column, .. } => out.push(column.clone()),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }

    pub fn matches(&self, row: &serde_json::Map<String, Value>) -> bool {
        match self {
            Expr::Cmp {
                column,
                negate,
                value,
            } => {
                let actual = row.get(column).unwrap_or(&Value::Null);
                let eq = match (actual, value) {
                    // GUIDs compare case-insensitively.
                    (Value::String(a), Value::String(b)) if is_guid(a) && is_guid(b) => {
                        a.eq_ignore_ascii_case(b)
                    }
                    (a, b) => a == b,
                };
                eq != *negate
            }
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
        }
    }
}
