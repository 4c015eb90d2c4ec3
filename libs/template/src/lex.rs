//! The lexer: text, actions and their tokens.

use serde_json::Number;

use crate::{err, TemplateError};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    Field(String),
    Var(String),
    Dot,
    Declare,
    Assign,
    Pipe,
    LParen,
    RParen,
    Comma,
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Byte offset in the source, for error messages.
    pub(crate) at: usize,
    /// Whether white space came before it (it separates arguments).
    pub(crate) spaced: bool,
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

pub(crate) fn line_col(src: &str, at: usize) -> String {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

pub(crate) fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut toks: Vec<Token> = Vec::new();
    let mut i = 0;
    let mut trim_next = false;
    let b = src.as_bytes();
    while i < src.len() {
        let start = i;
        let open = src[i..].find("{{").map_or(src.len(), |o| i + o);
        let mut text = &src[i..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        i = open;
        let mut trim_left = false;
        if i < src.len() {
            i += 2;
            if src[i..].starts_with('-') && src[i + 1..].starts_with(is_space) {
                trim_left = true;
                i += 1;
            }
        }
        if trim_left {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            toks.push(Token {
                tok: Tok::Text(text.to_string()),
                at: start,
                spaced: false,
            });
        }
        if i >= src.len() {
            if open < src.len() {
                return err(format!("{}: unclosed action", line_col(src, open)));
            }
            break;
        }
        // A comment: {{/* … */}}, only white space and a trim marker may follow.
        let after_space = i + src[i..].len() - src[i..].trim_start_matches(is_space).len();
        if src[after_space..].starts_with("/*") {
            let Some(end) = src[after_space + 2..].find("*/") else {
                return err(format!("{}: unclosed comment", line_col(src, open)));
            };
            let mut j = after_space + 2 + end + 2;
            let rest = &src[j..];
            let trimmed = rest.trim_start_matches(is_space);
            j += rest.len() - trimmed.len();
            if trimmed.starts_with("-}}") && j > after_space + 2 + end + 2 {
                trim_next = true;
                j += 3;
            } else if trimmed.starts_with("}}") {
                j += 2;
            } else {
                return err(format!(
                    "{}: comment ends before closing delimiter",
                    line_col(src, open)
                ));
            }
            i = j;
            continue;
        }
        toks.push(Token {
            tok: Tok::Open,
            at: open,
            spaced: false,
        });
        // Inside an action.
        let mut spaced = true;
        loop {
            let rest = &src[i..];
            let Some(c) = rest.chars().next() else {
                return err(format!("{}: unclosed action", line_col(src, open)));
            };
            if is_space(c) {
                let t = rest.trim_start_matches(is_space);
                if t.starts_with("-}}") {
                    trim_next = true;
                    toks.push(Token {
                        tok: Tok::Close,
                        at: i,
                        spaced: true,
                    });
                    i += rest.len() - t.len() + 3;
                    break;
                }
                i += rest.len() - t.len();
                spaced = true;
                continue;
            }
            if rest.starts_with("}}") {
                toks.push(Token {
                    tok: Tok::Close,
                    at: i,
                    spaced,
                });
                i += 2;
                break;
            }
            let at = i;
            let tok = match c {
                '|' => {
                    i += 1;
                    Tok::Pipe
                }
                '(' => {
                    i += 1;
                    Tok::LParen
                }
                ')' => {
                    i += 1;
                    Tok::RParen
                }
                ',' => {
                    i += 1;
                    Tok::Comma
                }
                '=' => {
                    i += 1;
                    Tok::Assign
                }
                ':' => {
                    if !rest.starts_with(":=") {
                        return err(format!("{}: expected :=", line_col(src, i)));
                    }
                    i += 2;
                    Tok::Declare
                }
                '"' => {
                    let (s, len) = lex_quoted(&rest[1..]).ok_or_else(|| {
                        TemplateError(format!("{}: unterminated quoted string", line_col(src, i)))
                    })?;
                    i += 1 + len;
                    Tok::Str(s)
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return err(format!(
                            "{}: unterminated raw quoted string",
                            line_col(src, i)
                        ));
                    };
                    i += end + 2;
                    Tok::Str(rest[1..1 + end].to_string())
                }
                '\'' => {
                    let (s, len) = lex_char(&rest[1..]).ok_or_else(|| {
                        TemplateError(format!("{}: bad character constant", line_col(src, i)))
                    })?;
                    i += 1 + len;
                    Tok::Num(Number::from(s as u32))
                }
                '$' => {
                    let n = rest[1..]
                        .find(|c: char| !ident_char(c))
                        .unwrap_or(rest.len() - 1);
                    i += 1 + n;
                    Tok::Var(rest[..1 + n].to_string())
                }
                '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    let n = rest[1..]
                        .find(|c: char| !ident_char(c))
                        .unwrap_or(rest.len() - 1);
                    i += 1 + n;
                    if n == 0 {
                        Tok::Dot
                    } else {
                        Tok::Field(rest[1..1 + n].to_string())
                    }
                }
                c if c.is_ascii_digit()
                    || c == '.'
                    || ((c == '-' || c == '+')
                        && rest[1..].starts_with(|d: char| d.is_ascii_digit() || d == '.')) =>
                {
                    let n = rest[1..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                        .unwrap_or(rest.len() - 1);
                    let mut len = 1 + n;
                    // An exponent's sign: 1e-5, 1E+3.
                    while len < rest.len()
                        && matches!(b[i + len - 1], b'e' | b'E' | b'p' | b'P')
                        && matches!(b[i + len], b'+' | b'-')
                        && !rest.starts_with("0x")
                    {
                        let m = rest[len + 1..]
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .unwrap_or(rest.len() - len - 1);
                        len += 1 + m;
                    }
                    let text = &rest[..len];
                    i += len;
                    Tok::Num(parse_number(text).ok_or_else(|| {
                        TemplateError(format!(
                            "{}: bad number syntax: {text:?}",
                            line_col(src, at)
                        ))
                    })?)
                }
                c if ident_char(c) => {
                    let n = rest.find(|c: char| !ident_char(c)).unwrap_or(rest.len());
                    i += n;
                    match &rest[..n] {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => Tok::Ident(w.to_string()),
                    }
                }
                c => {
                    return err(format!("{}: unexpected {c:?} in action", line_col(src, i)));
                }
            };
            toks.push(Token { tok, at, spaced });
            spaced = false;
        }
    }
    Ok(toks)
}

/// Reads a Go interpreted string after its opening quote: the string and the bytes used.
pub(crate) fn lex_quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut it = s.char_indices();
    while let Some((i, c)) = it.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = it.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    'x' | 'u' | 'U' => {
                        let n = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut hex = String::new();
                        for _ in 0..n {
                            hex.push(it.next()?.1);
                        }
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Reads a Go character constant after its opening quote.
pub(crate) fn lex_char(s: &str) -> Option<(char, usize)> {
    let mut it = s.chars();
    let c = it.next()?;
    if c == '\\' {
        let end = s[1..].find('\'')? + 1;
        let quoted = format!("{}\"", &s[..end]);
        let (v, _) = lex_quoted(&quoted)?;
        let mut cs = v.chars();
        let ch = cs.next()?;
        cs.next().is_none().then_some((ch, end + 1))
    } else {
        (it.next()? == '\'').then_some((c, c.len_utf8() + 1))
    }
}

pub(crate) fn parse_number(text: &str) -> Option<Number> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let radix = |p: &str, r: u32| -> Option<i64> {
        let lower = body.to_ascii_lowercase();
        let digits = lower.strip_prefix(p)?;
        i64::from_str_radix(digits, r).ok()
    };
    let int = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
        .or_else(|| {
            if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
                i64::from_str_radix(&body[1..], 8).ok()
            } else {
                body.parse::<i64>().ok()
            }
        });
    if let Some(v) = int {
        return Some(Number::from(if neg { -v } else { v }));
    }
    if body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        let f: f64 = body.parse().ok()?;
        return Number::from_f64(if neg { -f } else { f });
    }
    None
}
