//! The subset of OData 4 `$filter` Creatio clients use, with Creatio's refusals:
//!
//! - comparisons `eq ne gt ge lt le` of a column or a navigation path (`Case/Id`, `Type/Id`) with
//!   a string (`'…'`, `''` for `'`), GUID, number, boolean, `null` or `DateTimeOffset` literal;
//! - the string functions `startswith(Col,'x')`, `endswith(Col,'x')`, `contains(Col,'x')`, and
//!   `tolower(Col)` / `toupper(Col)` on the left of a comparison;
//! - `and`, `or`, `not` and parentheses.
//!
//! A date is written bare with its zone (`CreatedOn gt 2026-12-04T10:00:00.123Z`): a quoted
//! date, or one compared with a text column, is refused as Creatio refuses it ("A binary
//! operator with incompatible types was detected"), and one without a zone is "The request is
//! invalid.". Anything else is a syntax error (400), as it is for Creatio.

use jiff::Timestamp;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Guid(String),
    Num(f64),
    Bool(bool),
    Null,
    Date(Timestamp),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    AsIs,
    Lower,
    Upper,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Cmp {
        column: String,
        case: Case,
        op: Op,
        value: Lit,
    },
    Str {
        func: StrFn,
        column: String,
        case: Case,
        value: String,
    },
    Not(Box<Expr>),
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
    Comma,
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
        } else if c == ',' {
            out.push(Tok::Comma);
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
            while i < chars.len() && !chars[i].is_whitespace() && !"()',".contains(chars[i]) {
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

/// A bare word that is meant as a date (`2026-12-04T10:00:00Z`): Ok(date), or the refusal for a
/// date without a zone.
fn date_literal(b: &str) -> Option<Result<Timestamp, String>> {
    let looks_like_date = b.len() >= 10
        && b.as_bytes()[4] == b'-'
        && b.as_bytes()[7] == b'-'
        && b[..4].chars().all(|c| c.is_ascii_digit());
    if !looks_like_date {
        return None;
    }
    Some(
        b.parse::<Timestamp>()
            .map_err(|_| "The request is invalid.".to_owned()),
    )
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

/// A navigation path `Case/Id` compares the lookup column `CaseId`.
fn column_of(path: String) -> Result<String, String> {
    match path.split_once('/') {
        Some((nav, "Id")) => Ok(format!("{nav}Id")),
        Some(_) => Err(format!("unsupported navigation path {path}")),
        None => Ok(path),
    }
}

impl Parser {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Ident(w)) if w == kw)
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<(), String> {
        if self.toks.get(self.pos) == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("syntax error: {what} expected"))
        }
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

    /// `Col`, or `tolower(Col)` / `toupper(Col)`.
    fn operand(&mut self, first: String) -> Result<(String, Case), String> {
        let case = match first.as_str() {
            "tolower" => Case::Lower,
            "toupper" => Case::Upper,
            _ => return Ok((column_of(first)?, Case::AsIs)),
        };
        self.expect(Tok::LParen, "'('")?;
        let Some(Tok::Ident(path)) = self.toks.get(self.pos).cloned() else {
            return Err("syntax error: column expected".into());
        };
        self.pos += 1;
        self.expect(Tok::RParen, "')'")?;
        Ok((column_of(path)?, case))
    }

    fn factor(&mut self) -> Result<Expr, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Some(Tok::Ident(w)) if w == "not" => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.factor()?)))
            }
            Some(Tok::Ident(f)) if matches!(f.as_str(), "startswith" | "endswith" | "contains") => {
                self.pos += 1;
                self.expect(Tok::LParen, "'('")?;
                let Some(Tok::Ident(first)) = self.toks.get(self.pos).cloned() else {
                    return Err(format!("syntax error: column expected in {f}"));
                };
                self.pos += 1;
                let (column, case) = self.operand(first)?;
                self.expect(Tok::Comma, "','")?;
                let Some(Tok::Str(value)) = self.toks.get(self.pos).cloned() else {
                    return Err(format!("syntax error: string literal expected in {f}"));
                };
                self.pos += 1;
                self.expect(Tok::RParen, "')'")?;
                let func = match f.as_str() {
                    "startswith" => StrFn::StartsWith,
                    "endswith" => StrFn::EndsWith,
                    _ => StrFn::Contains,
                };
                // `startswith(...) eq true` is the same test.
                if self.peek_kw("eq")
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Ident(t)) if t == "true")
                {
                    self.pos += 2;
                }
                Ok(Expr::Str {
                    func,
                    column,
                    case,
                    value,
                })
            }
            Some(Tok::Ident(first)) => {
                self.pos += 1;
                let (column, case) = self.operand(first)?;
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Ident(op)) => match op.as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => {
                            return Err(format!("syntax error: unknown operator {other}"));
                        }
                    },
                    other => {
                        return Err(format!("syntax error: operator expected, found {other:?}"));
                    }
                };
                self.pos += 1;
                let value = match self.toks.get(self.pos).cloned() {
                    Some(Tok::Str(s)) => Lit::Str(s),
                    Some(Tok::Bare(b)) if is_guid(&b) => Lit::Guid(b.to_ascii_lowercase()),
                    Some(Tok::Bare(b)) => match date_literal(&b) {
                        Some(d) => Lit::Date(d?),
                        None => match b.parse::<f64>() {
                            Ok(n) => Lit::Num(n),
                            Err(_) => return Err(format!("syntax error: bad literal {b}")),
                        },
                    },
                    Some(Tok::Ident(w)) if w == "null" => Lit::Null,
                    Some(Tok::Ident(w)) if w == "true" => Lit::Bool(true),
                    Some(Tok::Ident(w)) if w == "false" => Lit::Bool(false),
                    other => {
                        return Err(format!("syntax error: literal expected, found {other:?}"));
                    }
                };
                self.pos += 1;
                Ok(Expr::Cmp {
                    column,
                    case,
                    op,
                    value,
                })
            }
            other => Err(format!(
                "syntax error: expression expected, found {other:?}"
            )),
        }
    }
}

fn fold(s: &str, case: Case) -> String {
    match case {
        Case::AsIs => s.to_owned(),
        Case::Lower => s.to_lowercase(),
        Case::Upper => s.to_uppercase(),
    }
}

impl Expr {
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::Cmp { column, .. } | Expr::Str { column, .. } => out.push(column.clone()),
            Expr::Not(e) => e.columns(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.columns(out);
                b.columns(out);
            }
        }
    }

    /// Creatio's refusal of a comparison whose types do not agree (`is_date` tells the date
    /// columns of the entity).
    pub fn check_types(&self, is_date: &dyn Fn(&str) -> bool) -> Result<(), String> {
        let incompatible = |a: &str, b: &str| {
            Err(format!(
                "A binary operator with incompatible types was detected. Found operand types '{a}' and '{b}' for operator kind 'GreaterThan'."
            ))
        };
        match self {
            Expr::Cmp { column, value, .. } => match (is_date(column), value) {
                (true, Lit::Str(_)) => incompatible("Edm.DateTimeOffset", "Edm.String"),
                (false, Lit::Date(_)) => incompatible("Edm.String", "Edm.DateTimeOffset"),
                _ => Ok(()),
            },
            Expr::Str { column, .. } if is_date(column) => Err(format!(
                "No function signature for the function with name '{column}' matches the specified arguments."
            )),
            Expr::Str { .. } => Ok(()),
            Expr::Not(e) => e.check_types(is_date),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.check_types(is_date)?;
                b.check_types(is_date)
            }
        }
    }

    pub fn matches(&self, row: &serde_json::Map<String, Value>) -> bool {
        match self {
            Expr::Cmp {
                column,
                case,
                op,
                value,
            } => {
                let actual = row.get(column).unwrap_or(&Value::Null);
                let ord = match (actual, value) {
                    (Value::Null, Lit::Null) => Some(std::cmp::Ordering::Equal),
                    (Value::Null, _) | (_, Lit::Null) => None,
                    // GUIDs compare case-insensitively.
                    (Value::String(a), Lit::Guid(b)) => {
                        Some(a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
                    }
                    (Value::String(a), Lit::Str(b)) => Some(fold(a, *case).cmp(b)),
                    (Value::String(a), Lit::Date(b)) => {
                        a.parse::<Timestamp>().ok().map(|a| a.cmp(b))
                    }
                    (Value::Number(a), Lit::Num(b)) => a.as_f64().and_then(|a| a.partial_cmp(b)),
                    (Value::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
                    _ => None,
                };
                use std::cmp::Ordering::*;
                match (op, ord) {
                    (Op::Eq, Some(o)) => o == Equal,
                    (Op::Ne, Some(o)) => o != Equal,
                    (Op::Ne, None) => true,
                    (Op::Gt, Some(o)) => o == Greater,
                    (Op::Ge, Some(o)) => o != Less,
                    (Op::Lt, Some(o)) => o == Less,
                    (Op::Le, Some(o)) => o != Greater,
                    (_, None) => false,
                }
            }
            Expr::Str {
                func,
                column,
                case,
                value,
            } => {
                let Some(actual) = row.get(column).and_then(Value::as_str) else {
                    return false;
                };
                let actual = fold(actual, *case);
                match func {
                    StrFn::StartsWith => actual.starts_with(value.as_str()),
                    StrFn::EndsWith => actual.ends_with(value.as_str()),
                    StrFn::Contains => actual.contains(value.as_str()),
                }
            }
            Expr::Not(e) => !e.matches(row),
            Expr::And(a, b) => a.matches(row) && b.matches(row),
            Expr::Or(a, b) => a.matches(row) || b.matches(row),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row() -> serde_json::Map<String, Value> {
        json!({
            "Name": "Ann O'Brien",
            "SearchNumber": "7654321555",
            "CreatedOn": "2026-12-04T10:00:00.323936Z",
            "CaseId": "3e7f420c-f46b-1410-fc9a-0050ba5d6c38",
            "TypeId": null,
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn m(f: &str) -> bool {
        parse(f).unwrap().matches(&row())
    }

    #[test]
    fn comparisons_functions_and_dates_match_as_creatio_does() {
        assert!(m("Name eq 'Ann O''Brien'"));
        assert!(m("tolower(Name) eq 'ann o''brien'"));
        assert!(m("startswith(SearchNumber,'7654321')"));
        assert!(!m("startswith(SearchNumber,'1234')"));
        assert!(m("contains(Name,'Brien') and endswith(Name,'en')"));
        assert!(m("CreatedOn gt 2026-12-04T10:00:00.323935Z"));
        assert!(!m("CreatedOn gt 2026-12-04T10:00:00.323936Z"));
        assert!(m("CreatedOn ge 2026-12-04T10:00:00.323936Z"));
        assert!(m("CreatedOn lt 2026-12-04T11:00:00+00:30 or Name eq 'x'"));
        assert!(m("Case/Id eq 3E7F420C-F46B-1410-FC9A-0050BA5D6C38"));
        assert!(m("Type/Id eq null and Case/Id ne null"));
        assert!(m("not (Name eq 'Bob')"));
    }

    #[test]
    fn creatios_refusals_are_kept() {
        assert_eq!(
            parse("CreatedOn gt 2026-12-04T10:00:00").unwrap_err(),
            "The request is invalid."
        );
        let is_date = |c: &str| c == "CreatedOn";
        let quoted = parse("CreatedOn gt '2026-12-04T10:00:00Z'").unwrap();
        assert!(
            quoted
                .check_types(&is_date)
                .unwrap_err()
                .contains("incompatible types")
        );
        assert!(parse("Name like 'x'").is_err());
        assert!(parse("substringof('x',Name)").is_err());
        assert!(parse("Name eq 'open").is_err());
    }
}
