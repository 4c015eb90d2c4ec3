//! Go `text/template`, as `docker … --format` executes it, over JSON values.
//!
//! The language: text and actions `{{ … }}` with trim markers (`{{- ` and ` -}}`) and comments
//! (`{{/* … */}}`); pipelines of commands joined by `|`; fields (`.A.B`), variables (`$`, `$x`,
//! `$x := …`, `$x = …`), literals, parenthesised pipelines; `if`/`else if`/`else`, `range` (with
//! `$i, $e :=`, `break`, `continue`, `else`), `with`, `define`/`template`/`block`. The functions are
//! Go's built-ins (and, or, not, len, index, slice, print, printf, println, eq, ne, lt, le, gt,
//! ge, html, urlquery) and Docker's (json, join, split, lower, upper, title, pad, truncate).
//!
//! Values print as Go's `%v` prints what `encoding/json` decodes: arrays as `[a b]`, objects as
//! `map[k:v]` with sorted keys, null as `<nil>`, and a field that is not there as `<no value>`.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Number, Value};

/// A template that failed to parse or to execute, with what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(String);

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    root: Vec<Node>,
    defines: HashMap<String, Vec<Node>>,
}

impl Template {
    /// Parses `src`; errors name the line and column.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let toks = lex(src)?;
        let mut p = Parser {
            toks,
            pos: 0,
            src,
            defines: HashMap::new(),
            range_depth: 0,
            nesting: 0,
        };
        let (root, stop) = p.list(true)?;
        if let Some((_, at)) = stop {
            return err(format!(
                "{}: unexpected {{{{end}}}} or {{{{else}}}}",
                p.at(at)
            ));
        }
        Ok(Template {
            root,
            defines: p.defines,
        })
    }

    /// Executes the template with `data` as dot.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let root = Val::V(data.clone());
        let mut st = State {
            vars: vec![("$".to_string(), root.clone())],
            out: String::new(),
            defines: &self.defines,
            depth: 0,
            steps: MAX_STEPS,
        };
        st.walk(&root, &self.root)?;
        Ok(st.out)
    }
}

/// Splits Docker's `table` prefix off a `--format` value, and turns the literal `\t` and `\n`
/// that shells pass into a tab and a newline, as Docker does.
pub fn split_table(format: &str) -> (bool, String) {
    let f = format.replace("\\t", "\t").replace("\\n", "\n");
    match f.strip_prefix("table") {
        Some(r) if r.is_empty() || r.starts_with(char::is_whitespace) => {
            (true, r.trim_start().to_string())
        }
        _ => (false, f),
    }
}

/// Formats a value as Go's `%v` formats what `encoding/json` decoded.
pub fn format_value(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(s: &mut String, v: &Value) {
    match v {
        Value::Null => s.push_str("<nil>"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => s.push_str(&format_number(n)),
        Value::String(t) => s.push_str(t),
        Value::Array(a) => {
            s.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                write_value(s, e);
            }
            s.push(']');
        }
        Value::Object(m) => {
            s.push_str("map[");
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(k);
                s.push(':');
                write_value(s, &m[k]);
            }
            s.push(']');
        }
    }
}

fn format_number(n: &Number) -> String {
    if n.is_f64() {
        format_float(n.as_f64().unwrap_or(0.0))
    } else {
        n.to_string()
    }
}

/// Go's `%v` for a float64: the shortest representation, with an exponent below 1e-4 and from 1e6
/// (`fmt.Println(1000000.0)` prints `1e+06`).
fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is a number");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
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
struct Token {
    tok: Tok,
    /// Byte offset in the source, for error messages.
    at: usize,
    /// Whether white space came before it (it separates arguments).
    spaced: bool,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn line_col(src: &str, at: usize) -> String {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
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
fn lex_quoted(s: &str) -> Option<(String, usize)> {
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
fn lex_char(s: &str) -> Option<(char, usize)> {
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

fn parse_number(text: &str) -> Option<Number> {
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

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipe>),
    Break,
    Continue,
}

#[derive(Debug, Clone)]
struct Pipe {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
    /// Where it starts, for error messages.
    src: String,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B`; no names is dot itself.
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    /// `(pipeline).A.B`.
    Sub(Box<Pipe>, Vec<String>),
    Func(String),
    Lit(Value),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    End,
    Else,
}

/// A list of nodes and what ended it (`{{end}}` or `{{else`, with its offset), if not the input's end.
type Parsed = (Vec<Node>, Option<(Stop, usize)>);

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    src: &'a str,
    defines: HashMap<String, Vec<Node>>,
    range_depth: usize,
    /// Blocks and parentheses open around the current token, at most [`MAX_NESTING`].
    nesting: usize,
}

/// How deep blocks (`if`, `range`, `with`, `else if` chains) and parentheses may nest in a
/// template, and blocks and template calls when it runs: the parser and the executor recurse,
/// and a deeper template would overflow the stack. Docker's templates nest a few levels.
const MAX_NESTING: usize = 100;

impl Parser<'_> {
    fn at(&self, at: usize) -> String {
        line_col(self.src, at)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |t| t.at)
    }

    fn next(&mut self) -> Result<Token, TemplateError> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t.ok_or_else(|| {
            TemplateError(format!(
                "{}: unexpected end of template",
                self.at(self.src.len())
            ))
        })
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        let t = self.next()?;
        if t.tok != Tok::Close {
            return err(format!(
                "{}: unexpected {} in {what}",
                self.at(t.at),
                describe(&t.tok)
            ));
        }
        Ok(())
    }

    /// Parses nodes until the input ends (top level) or `{{end}}`/`{{else` (inside a block).
    fn list(&mut self, top: bool) -> Result<Parsed, TemplateError> {
        let mut nodes = Vec::new();
        while let Some(t) = self.toks.get(self.pos).cloned() {
            self.pos += 1;
            match t.tok {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Open => {
                    let kw = match self.peek() {
                        Some(Tok::Ident(w)) => w.clone(),
                        _ => String::new(),
                    };
                    match kw.as_str() {
                        "end" => {
                            self.pos += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Some((Stop::End, t.at))));
                        }
                        "else" => {
                            self.pos += 1;
                            return Ok((nodes, Some((Stop::Else, t.at))));
                        }
                        "if" | "range" | "with" => {
                            self.pos += 1;
                            nodes.push(self.control(&kw, t.at)?);
                        }
                        "break" | "continue" => {
                            self.pos += 1;
                            if self.range_depth == 0 {
                                return err(format!(
                                    "{}: {{{{{kw}}}}} outside {{{{range}}}}",
                                    self.at(t.at)
                                ));
                            }
                            self.expect_close(&kw)?;
                            nodes.push(if kw == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "define" | "block" => {
                            self.pos += 1;
                            let name = self.template_name(&kw)?;
                            let pipe = if kw == "block" {
                                Some(self.pipeline(false, &kw)?)
                            } else {
                                self.expect_close(&kw)?;
                                None
                            };
                            if kw == "define" && !top {
                                return err(format!(
                                    "{}: {{{{define}}}} inside a block",
                                    self.at(t.at)
                                ));
                            }
                            let (body, stop) = self.list(false)?;
                            if !matches!(stop, Some((Stop::End, _))) {
                                return err(format!(
                                    "{}: {{{{{kw}}}}} without {{{{end}}}}",
                                    self.at(t.at)
                                ));
                            }
                            self.defines.insert(name.clone(), body);
                            if kw == "block" {
                                nodes.push(Node::Template(name, pipe));
                            }
                        }
                        "template" => {
                            self.pos += 1;
                            let name = self.template_name(&kw)?;
                            let pipe = if self.peek() == Some(&Tok::Close) {
                                self.pos += 1;
                                None
                            } else {
                                Some(self.pipeline(false, "template")?)
                            };
                            nodes.push(Node::Template(name, pipe));
                        }
                        _ => nodes.push(Node::Action(self.pipeline(true, "command")?)),
                    }
                }
                other => {
                    return err(format!(
                        "{}: unexpected {}",
                        self.at(t.at),
                        describe(&other)
                    ));
                }
            }
        }
        if !top {
            return err(format!(
                "{}: unexpected EOF: a block has no {{{{end}}}}",
                self.at(self.src.len())
            ));
        }
        Ok((nodes, None))
    }

    fn template_name(&mut self, kw: &str) -> Result<String, TemplateError> {
        let t = self.next()?;
        match t.tok {
            Tok::Str(s) => Ok(s),
            other => err(format!(
                "{}: {{{{{kw}}}}} needs a quoted template name, not {}",
                self.at(t.at),
                describe(&other)
            )),
        }
    }

    /// Enters a block or parentheses at `at`; the caller leaves with `self.nesting -= 1`.
    fn nest(&mut self, at: usize) -> Result<(), TemplateError> {
        if self.nesting >= MAX_NESTING {
            return err(format!(
                "{}: blocks or parentheses nested more than {MAX_NESTING} deep",
                self.at(at)
            ));
        }
        self.nesting += 1;
        Ok(())
    }

    fn control(&mut self, kw: &str, at: usize) -> Result<Node, TemplateError> {
        self.nest(at)?;
        let r = self.control_block(kw, at);
        self.nesting -= 1;
        r
    }

    fn control_block(&mut self, kw: &str, at: usize) -> Result<Node, TemplateError> {
        let pipe = self.pipeline(true, kw)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let body = self.list(false);
        if kw == "range" {
            self.range_depth -= 1;
        }
        let (body, stop) = body?;
        let else_body = match stop {
            Some((Stop::End, _)) => Vec::new(),
            Some((Stop::Else, else_at)) => {
                // `{{else if …}}` and `{{else with …}}` chain into a nested block sharing the end.
                let chained = matches!(self.peek(), Some(Tok::Ident(w)) if (w == "if" && kw == "if") || (w == "with" && kw == "with"));
                if chained {
                    self.pos += 1;
                    vec![self.control(kw, else_at)?]
                } else {
                    self.expect_close("else")?;
                    let (l, stop) = self.list(false)?;
                    if !matches!(stop, Some((Stop::End, _))) {
                        return err(format!(
                            "{}: expected {{{{end}}}} after {{{{else}}}}",
                            self.at(else_at)
                        ));
                    }
                    l
                }
            }
            None => return err(format!("{}: {{{{{kw}}}}} without {{{{end}}}}", self.at(at))),
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, else_body),
            "range" => Node::Range(pipe, body, else_body),
            _ => Node::With(pipe, body, else_body),
        })
    }

    /// Parses a pipeline up to the closing delimiter (or `)` when `sub`).
    fn pipeline(&mut self, allow_decl: bool, ctx: &str) -> Result<Pipe, TemplateError> {
        self.pipeline_until(allow_decl, ctx, Tok::Close)
    }

    fn pipeline_until(
        &mut self,
        allow_decl: bool,
        ctx: &str,
        end: Tok,
    ) -> Result<Pipe, TemplateError> {
        let start = self.here();
        let mut decl = Vec::new();
        let mut assign = false;
        // Variable declarations: `$x :=`, `$i, $e :=`, `$x =`.
        if allow_decl {
            let save = self.pos;
            let mut names = Vec::new();
            while let Some(Tok::Var(v)) = self.peek().cloned() {
                self.pos += 1;
                names.push(v);
                match self.peek() {
                    Some(Tok::Comma) if names.len() == 1 && ctx == "range" => {
                        self.pos += 1;
                    }
                    Some(Tok::Declare) | Some(Tok::Assign) => {
                        assign = self.peek() == Some(&Tok::Assign);
                        self.pos += 1;
                        decl = std::mem::take(&mut names);
                        break;
                    }
                    _ => break,
                }
            }
            if decl.is_empty() {
                self.pos = save;
                assign = false;
            }
        }
        let mut cmds = Vec::new();
        loop {
            let mut args = Vec::new();
            loop {
                let Some(t) = self.toks.get(self.pos).cloned() else {
                    return err(format!("{}: unclosed action", self.at(start)));
                };
                if t.tok == end || t.tok == Tok::Pipe {
                    break;
                }
                if !args.is_empty() && !t.spaced && !matches!(t.tok, Tok::LParen) {
                    return err(format!(
                        "{}: missing space before {}",
                        self.at(t.at),
                        describe(&t.tok)
                    ));
                }
                self.pos += 1;
                let arg = match t.tok {
                    Tok::Field(f) => Arg::Field(self.chain(vec![f])),
                    Tok::Dot => Arg::Field(Vec::new()),
                    Tok::Var(v) => {
                        let fields = self.chain(Vec::new());
                        Arg::Var(v, fields)
                    }
                    Tok::LParen => {
                        self.nest(t.at)?;
                        let p = self.pipeline_until(true, "parenthesized pipeline", Tok::RParen);
                        self.nesting -= 1;
                        let p = p?;
                        self.pos += 1;
                        let fields = self.chain(Vec::new());
                        Arg::Sub(Box::new(p), fields)
                    }
                    Tok::Ident(name) => {
                        if !is_func(&name) {
                            return err(format!(
                                "{}: function {name:?} not defined",
                                self.at(t.at)
                            ));
                        }
                        Arg::Func(name)
                    }
                    Tok::Str(s) => Arg::Lit(Value::String(s)),
                    Tok::Num(n) => Arg::Lit(Value::Number(n)),
                    Tok::Bool(b) => Arg::Lit(Value::Bool(b)),
                    Tok::Nil => Arg::Lit(Value::Null),
                    other => {
                        return err(format!(
                            "{}: unexpected {} in {ctx}",
                            self.at(t.at),
                            describe(&other)
                        ));
                    }
                };
                args.push(arg);
            }
            if args.is_empty() {
                let t = &self.toks[self.pos];
                return err(format!("{}: missing value for {ctx}", self.at(t.at)));
            }
            if !cmds.is_empty() && !matches!(args[0], Arg::Func(_)) {
                return err(format!(
                    "{}: non-function in a pipeline after |",
                    self.at(start)
                ));
            }
            cmds.push(args);
            if self.peek() == Some(&Tok::Pipe) {
                self.pos += 1;
                continue;
            }
            break;
        }
        if end == Tok::Close {
            self.pos += 1;
        }
        let end_at = self
            .toks
            .get(self.pos.saturating_sub(1))
            .map_or(self.src.len(), |t| t.at);
        Ok(Pipe {
            decl,
            assign,
            cmds,
            src: self.src[start..end_at.max(start)].trim().to_string(),
        })
    }

    /// Collects fields that follow a term with no space: `$x.A.B`, `(…).A`, `.A.B`.
    fn chain(&mut self, mut fields: Vec<String>) -> Vec<String> {
        while let Some(t) = self.toks.get(self.pos) {
            match &t.tok {
                Tok::Field(f) if !t.spaced => {
                    fields.push(f.clone());
                    self.pos += 1;
                }
                _ => break,
            }
        }
        fields
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Text(_) => "text".into(),
        Tok::Open => "{{".into(),
        Tok::Close => "}}".into(),
        Tok::Ident(w) => format!("{w:?}"),
        Tok::Field(f) => format!("field .{f}"),
        Tok::Var(v) => format!("variable {v}"),
        Tok::Dot => "\".\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Num(n) => format!("number {n}"),
        Tok::Bool(b) => format!("{b}"),
        Tok::Nil => "nil".into(),
    }
}

const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "urlquery", "json", "join", "split", "lower", "upper", "title",
    "pad", "truncate",
];

fn is_func(name: &str) -> bool {
    FUNCS.contains(&name)
}

// ---------------------------------------------------------------------------------------------
// Execution

/// A value, or the absence of one (a field a map does not have), which Go prints as `<no value>`.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Missing,
    V(Value),
}

impl Val {
    fn value(&self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::V(v) => v.clone(),
        }
    }

    fn truth(&self) -> bool {
        match self {
            Val::Missing | Val::V(Value::Null) => false,
            Val::V(Value::Bool(b)) => *b,
            Val::V(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Val::V(Value::String(s)) => !s.is_empty(),
            Val::V(Value::Array(a)) => !a.is_empty(),
            Val::V(Value::Object(m)) => !m.is_empty(),
        }
    }

    fn print(&self) -> String {
        match self {
            Val::Missing => "<no value>".into(),
            Val::V(v) => format_value(v),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Val::Missing => "<no value>",
            Val::V(Value::Null) => "nil",
            Val::V(Value::Bool(_)) => "bool",
            Val::V(Value::Number(n)) if n.is_f64() => "float64",
            Val::V(Value::Number(_)) => "int",
            Val::V(Value::String(_)) => "string",
            Val::V(Value::Array(_)) => "array",
            Val::V(Value::Object(_)) => "map",
        }
    }

    fn as_str(&self, f: &str) -> Result<String, TemplateError> {
        match self {
            Val::V(Value::String(s)) => Ok(s.clone()),
            other => err(format!(
                "{f}: expected a string, got {} {}",
                other.type_name(),
                other.print()
            )),
        }
    }

    fn as_int(&self, f: &str) -> Result<i64, TemplateError> {
        match self {
            Val::V(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Ok(i),
                (None, Some(x)) if x.fract() == 0.0 && x.abs() < 9.0e18 => Ok(x as i64),
                _ => err(format!("{f}: expected an integer, got {n}")),
            },
            other => err(format!(
                "{f}: expected an integer, got {} {}",
                other.type_name(),
                other.print()
            )),
        }
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// The most bytes a template may print, or one function make (`printf`, `pad`…): past it
/// rendering is an error, not an exhausted memory. Docker's templates print kilobytes.
const MAX_OUTPUT: usize = 4 << 20;
/// The most actions, text pieces and loop iterations one rendering may execute: a template
/// that loops or recurses without end (`{{range 1000000000000}}`, a template calling itself
/// twice) is an error, not a hang.
const MAX_STEPS: u64 = 10_000_000;

fn too_long() -> TemplateError {
    TemplateError(format!("the output would exceed {} MiB", MAX_OUTPUT >> 20))
}

struct State<'a> {
    vars: Vec<(String, Val)>,
    out: String,
    defines: &'a HashMap<String, Vec<Node>>,
    depth: usize,
    /// Steps left of [`MAX_STEPS`].
    steps: u64,
}

impl State<'_> {
    fn walk(&mut self, dot: &Val, nodes: &[Node]) -> Result<Flow, TemplateError> {
        for n in nodes {
            match self.node(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn block(&mut self, dot: &Val, nodes: &[Node]) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let r = self.walk(dot, nodes);
        self.vars.truncate(mark);
        r
    }

    /// Counts one step against [`MAX_STEPS`].
    fn step(&mut self) -> Result<(), TemplateError> {
        if self.steps == 0 {
            return err(format!(
                "more than {MAX_STEPS} steps executed (a loop or a recursion without end?)"
            ));
        }
        self.steps -= 1;
        Ok(())
    }

    /// Prints `t`, within [`MAX_OUTPUT`].
    fn print(&mut self, t: &str) -> Result<(), TemplateError> {
        if self.out.len() + t.len() > MAX_OUTPUT {
            return Err(too_long());
        }
        self.out.push_str(t);
        Ok(())
    }

    fn node(&mut self, dot: &Val, n: &Node) -> Result<Flow, TemplateError> {
        self.step()?;
        if self.depth >= MAX_NESTING {
            return err(format!(
                "exceeded maximum template depth ({MAX_NESTING} blocks and template calls)"
            ));
        }
        self.depth += 1;
        let r = self.node_at_depth(dot, n);
        self.depth -= 1;
        r
    }

    fn node_at_depth(&mut self, dot: &Val, n: &Node) -> Result<Flow, TemplateError> {
        match n {
            Node::Text(s) => self.print(s)?,
            Node::Action(p) => {
                let v = self.pipe(dot, p)?;
                if p.decl.is_empty() {
                    self.print(&v.print())?;
                }
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::If(p, body, else_body) | Node::With(p, body, else_body) => {
                let mark = self.vars.len();
                let v = self.pipe(dot, p)?;
                let flow = if v.truth() {
                    let d = if matches!(n, Node::With(..)) {
                        v
                    } else {
                        dot.clone()
                    };
                    self.block(&d, body)
                } else {
                    self.block(dot, else_body)
                };
                self.vars.truncate(mark);
                return flow;
            }
            Node::Range(p, body, else_body) => {
                let mark = self.vars.len();
                let mut decl = p.clone();
                let names = std::mem::take(&mut decl.decl);
                let v = self.pipe(dot, &decl)?;
                // Numbers are counted, not listed first: `range N` takes no memory.
                let items: Box<dyn Iterator<Item = (Value, Value)>> = match &v {
                    Val::Missing | Val::V(Value::Null) => Box::new(std::iter::empty()),
                    Val::V(Value::Array(a)) => Box::new(
                        a.iter()
                            .enumerate()
                            .map(|(i, e)| (Value::from(i), e.clone()))
                            .collect::<Vec<_>>()
                            .into_iter(),
                    ),
                    Val::V(Value::Object(m)) => {
                        let mut keys: Vec<&String> = m.keys().collect();
                        keys.sort();
                        Box::new(
                            keys.into_iter()
                                .map(|k| (Value::String(k.clone()), m[k].clone()))
                                .collect::<Vec<_>>()
                                .into_iter(),
                        )
                    }
                    Val::V(Value::Number(_)) => {
                        let n = v.as_int("range")?;
                        Box::new((0..n.max(0)).map(|i| (Value::from(i), Value::from(i))))
                    }
                    other => {
                        return err(format!(
                            "range can't iterate over {} {}",
                            other.type_name(),
                            other.print()
                        ))
                    }
                };
                let mut items = items.peekable();
                if items.peek().is_none() {
                    let r = self.block(dot, else_body);
                    self.vars.truncate(mark);
                    return r.map(|_| Flow::Normal);
                }
                for (k, e) in items {
                    self.step()?;
                    let inner = self.vars.len();
                    match names.as_slice() {
                        [] => {}
                        [one] => self.vars.push((one.clone(), Val::V(e.clone()))),
                        [a, b, ..] => {
                            self.vars.push((a.clone(), Val::V(k)));
                            self.vars.push((b.clone(), Val::V(e.clone())));
                        }
                    }
                    let flow = self.block(&Val::V(e), body)?;
                    self.vars.truncate(inner);
                    if matches!(flow, Flow::Break) {
                        break;
                    }
                }
                self.vars.truncate(mark);
            }
            Node::Template(name, p) => {
                let Some(body) = self.defines.get(name) else {
                    return err(format!("no such template {name:?}"));
                };
                let d = match p {
                    Some(p) => self.pipe(dot, p)?,
                    None => Val::Missing,
                };
                if self.depth >= MAX_NESTING {
                    return err(format!("exceeded maximum template depth in {name:?}"));
                }
                // A template sees only its own `$`.
                self.depth += 1;
                let saved = std::mem::replace(&mut self.vars, vec![("$".to_string(), d.clone())]);
                let r = self.walk(&d, body);
                self.vars = saved;
                self.depth -= 1;
                r?;
            }
        }
        Ok(Flow::Normal)
    }

    fn pipe(&mut self, dot: &Val, p: &Pipe) -> Result<Val, TemplateError> {
        let mut value: Option<Val> = None;
        for cmd in &p.cmds {
            value = Some(
                self.command(dot, cmd, value)
                    .map_err(|e| TemplateError(format!("executing {{{{{}}}}}: {}", p.src, e.0)))?,
            );
        }
        let value = value.unwrap_or(Val::Missing);
        // A null that comes out of a pipeline is "no value", as Go's interface indirection does;
        // keep null itself so that it prints as <nil>.
        if !p.decl.is_empty() {
            if p.assign {
                for name in &p.decl {
                    match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                        Some(slot) => slot.1 = value.clone(),
                        None => return err(format!("undefined variable: {name}")),
                    }
                }
            } else {
                for name in &p.decl {
                    self.vars.push((name.clone(), value.clone()));
                }
            }
        }
        Ok(value)
    }

    fn command(&mut self, dot: &Val, args: &[Arg], fin: Option<Val>) -> Result<Val, TemplateError> {
        match &args[0] {
            Arg::Func(name) => self.call(dot, name, &args[1..], fin),
            _ if args.len() > 1 || fin.is_some() => {
                err("can't give argument to non-function".to_string())
            }
            a => self.arg(dot, a),
        }
    }

    fn arg(&mut self, dot: &Val, a: &Arg) -> Result<Val, TemplateError> {
        match a {
            Arg::Lit(v) => Ok(Val::V(v.clone())),
            Arg::Field(fields) => fields_of(dot.clone(), fields),
            Arg::Var(name, fields) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return err(format!("undefined variable: {name}"));
                };
                fields_of(v.clone(), fields)
            }
            Arg::Sub(p, fields) => {
                let mark = self.vars.len();
                let v = self.pipe(dot, p);
                self.vars.truncate(mark);
                fields_of(v?, fields)
            }
            Arg::Func(name) => self.call(dot, name, &[], None),
        }
    }

    fn call(
        &mut self,
        dot: &Val,
        name: &str,
        args: &[Arg],
        fin: Option<Val>,
    ) -> Result<Val, TemplateError> {
        // and/or stop at the first argument that decides.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return err(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                ));
            }
            let mut last = Val::Missing;
            for a in args {
                last = self.arg(dot, a)?;
                if last.truth() != (name == "and") {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        let v = builtin(name, &vals)?;
        match &v {
            Val::V(Value::String(t)) if t.len() > MAX_OUTPUT => Err(too_long()),
            _ => Ok(v),
        }
    }
}

fn fields_of(mut v: Val, fields: &[String]) -> Result<Val, TemplateError> {
    for f in fields {
        v = match v {
            Val::Missing => Val::Missing,
            Val::V(Value::Object(m)) => m.get(f).cloned().map_or(Val::Missing, Val::V),
            Val::V(Value::Null) => return err(format!("nil pointer evaluating .{f}")),
            other => {
                return err(format!(
                    "can't evaluate field {f} in type {}",
                    other.type_name()
                ))
            }
        };
    }
    Ok(v)
}

fn want(name: &str, vals: &[Val], n: usize) -> Result<(), TemplateError> {
    if vals.len() != n {
        return err(format!(
            "wrong number of args for {name}: want {n} got {}",
            vals.len()
        ));
    }
    Ok(())
}

fn s(v: impl Into<String>) -> Val {
    Val::V(Value::String(v.into()))
}

fn builtin(name: &str, vals: &[Val]) -> Result<Val, TemplateError> {
    Ok(match name {
        "not" => {
            want(name, vals, 1)?;
            Val::V(Value::Bool(!vals[0].truth()))
        }
        "len" => {
            want(name, vals, 1)?;
            let n = match &vals[0] {
                Val::V(Value::String(t)) => t.len(),
                Val::V(Value::Array(a)) => a.len(),
                Val::V(Value::Object(m)) => m.len(),
                other => return err(format!("len of {} {}", other.type_name(), other.print())),
            };
            Val::V(Value::from(n))
        }
        "index" => {
            if vals.is_empty() {
                return err("wrong number of args for index: want at least 1 got 0");
            }
            let mut v = vals[0].clone();
            for k in &vals[1..] {
                v = match (&v, k) {
                    (Val::V(Value::Array(a)), k) => {
                        let i = k.as_int("index")?;
                        match usize::try_from(i).ok().and_then(|i| a.get(i)) {
                            Some(e) => Val::V(e.clone()),
                            None => {
                                return err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Val::V(Value::Object(m)), k) => {
                        let key = k.as_str("index")?;
                        m.get(&key).cloned().map_or(Val::Missing, Val::V)
                    }
                    (Val::V(Value::String(t)), k) => {
                        let i = k.as_int("index")?;
                        match usize::try_from(i).ok().and_then(|i| t.as_bytes().get(i)) {
                            Some(b) => Val::V(Value::from(*b)),
                            None => {
                                return err(format!("error calling index: index out of range: {i}"))
                            }
                        }
                    }
                    (Val::Missing | Val::V(Value::Null), _) => {
                        return err("error calling index: index of untyped nil")
                    }
                    (other, _) => {
                        return err(format!(
                            "error calling index: can't index item of type {}",
                            other.type_name()
                        ))
                    }
                };
            }
            v
        }
        "slice" => {
            if vals.is_empty() || vals.len() > 3 {
                return err(format!(
                    "wrong number of args for slice: want 1 to 3 got {}",
                    vals.len()
                ));
            }
            let idx: Vec<i64> = vals[1..]
                .iter()
                .map(|v| v.as_int("slice"))
                .collect::<Result<_, _>>()?;
            let bounds = |len: usize| -> Result<(usize, usize), TemplateError> {
                let lo = idx.first().copied().unwrap_or(0);
                let hi = idx.get(1).copied().unwrap_or(len as i64);
                if lo < 0 || hi < lo || hi as usize > len {
                    return err(format!(
                        "error calling slice: index out of range: [{lo}:{hi}] with length {len}"
                    ));
                }
                Ok((lo as usize, hi as usize))
            };
            match &vals[0] {
                Val::V(Value::String(t)) => {
                    let (lo, hi) = bounds(t.len())?;
                    match t.get(lo..hi) {
                        Some(sub) => s(sub),
                        None => return err("error calling slice: slice splits a UTF-8 character"),
                    }
                }
                Val::V(Value::Array(a)) => {
                    let (lo, hi) = bounds(a.len())?;
                    Val::V(Value::Array(a[lo..hi].to_vec()))
                }
                other => {
                    return err(format!(
                        "error calling slice: can't slice item of type {}",
                        other.type_name()
                    ))
                }
            }
        }
        "print" => s(sprint(vals)),
        "println" => {
            let parts: Vec<String> = vals.iter().map(Val::print).collect();
            s(parts.join(" ") + "\n")
        }
        "printf" => {
            if vals.is_empty() {
                return err("wrong number of args for printf: want at least 1 got 0");
            }
            s(sprintf(&vals[0].as_str("printf")?, &vals[1..]))
        }
        "eq" => {
            if vals.len() < 2 {
                return err(format!(
                    "wrong number of args for eq: want at least 2 got {}",
                    vals.len()
                ));
            }
            let mut any = false;
            for other in &vals[1..] {
                if compare(&vals[0], other, name)? == Some(std::cmp::Ordering::Equal) {
                    any = true;
                    break;
                }
            }
            Val::V(Value::Bool(any))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want(name, vals, 2)?;
            let ord = compare(&vals[0], &vals[1], name)?;
            use std::cmp::Ordering::*;
            let r = match name {
                "ne" => ord != Some(Equal),
                _ => {
                    let Some(o) = ord else {
                        return err(format!("error calling {name}: invalid type for comparison"));
                    };
                    match name {
                        "lt" => o == Less,
                        "le" => o != Greater,
                        "gt" => o == Greater,
                        _ => o != Less,
                    }
                }
            };
            Val::V(Value::Bool(r))
        }
        "html" => s(html_escape(&sprint(vals))),
        "urlquery" => s(query_escape(&sprint(vals))),
        "json" => {
            want(name, vals, 1)?;
            s(serde_json::to_string(&vals[0].value()).expect("JSON values serialise"))
        }
        "join" => {
            want(name, vals, 2)?;
            let sep = vals[1].as_str("join")?;
            match &vals[0] {
                Val::V(Value::Array(a)) => {
                    let seps = sep.len().saturating_mul(a.len().saturating_sub(1));
                    let items: Vec<String> = a.iter().map(format_value).collect();
                    let len = items.iter().map(String::len).sum::<usize>();
                    if len.saturating_add(seps) > MAX_OUTPUT {
                        return Err(too_long());
                    }
                    s(items.join(&sep))
                }
                Val::Missing | Val::V(Value::Null) => s(""),
                other => {
                    return err(format!(
                        "join: expected a list, got {} {}",
                        other.type_name(),
                        other.print()
                    ))
                }
            }
        }
        "split" => {
            want(name, vals, 2)?;
            let t = vals[0].as_str("split")?;
            let sep = vals[1].as_str("split")?;
            let parts: Vec<Value> = if sep.is_empty() {
                t.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                t.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Val::V(Value::Array(parts))
        }
        "lower" => {
            want(name, vals, 1)?;
            s(vals[0].as_str(name)?.to_lowercase())
        }
        "upper" => {
            want(name, vals, 1)?;
            s(vals[0].as_str(name)?.to_uppercase())
        }
        "title" => {
            want(name, vals, 1)?;
            s(title(&vals[0].as_str(name)?))
        }
        "pad" => {
            want(name, vals, 3)?;
            let t = vals[0].as_str(name)?;
            let pre = vals[1].as_int(name)?.max(0) as u64;
            let post = vals[2].as_int(name)?.max(0) as u64;
            if pre.saturating_add(post).saturating_add(t.len() as u64) > MAX_OUTPUT as u64 {
                return Err(too_long());
            }
            let (pre, post) = (pre as usize, post as usize);
            s(format!("{}{t}{}", " ".repeat(pre), " ".repeat(post)))
        }
        "truncate" => {
            want(name, vals, 2)?;
            let t = vals[0].as_str(name)?;
            let n = vals[1].as_int(name)?.max(0) as usize;
            s(t.chars().take(n).collect::<String>())
        }
        _ => return err(format!("function {name:?} not defined")),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(vals: &[Val]) -> String {
    let mut out = String::new();
    for (i, v) in vals.iter().enumerate() {
        let is_str = |v: &Val| matches!(v, Val::V(Value::String(_)));
        if i > 0 && !is_str(v) && !is_str(&vals[i - 1]) {
            out.push(' ');
        }
        out.push_str(&v.print());
    }
    out
}

fn compare(a: &Val, b: &Val, f: &str) -> Result<Option<std::cmp::Ordering>, TemplateError> {
    use Value::*;
    let (x, y) = (a.value(), b.value());
    Ok(match (&x, &y) {
        (Null, Null) => Some(std::cmp::Ordering::Equal),
        (Null, _) | (_, Null) if f == "eq" || f == "ne" => None,
        (Bool(p), Bool(q)) if f == "eq" || f == "ne" => Some(p.cmp(q)),
        (Number(p), Number(q)) => match (p.as_i64(), q.as_i64()) {
            (Some(i), Some(j)) => Some(i.cmp(&j)),
            _ => p.as_f64().partial_cmp(&q.as_f64()),
        },
        (String(p), String(q)) => Some(p.cmp(q)),
        (Array(_) | Object(_), _) | (_, Array(_) | Object(_)) => {
            return err(format!("error calling {f}: non-comparable type"))
        }
        _ => {
            return err(format!(
                "error calling {f}: incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            ))
        }
    })
}

/// Go's `strings.Title`: the first letter of each word in upper case.
fn title(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut prev_sep = true;
    for c in t.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn html_escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(t: &str) -> String {
    let mut out = String::new();
    for b in t.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The largest width or precision Go's fmt takes.
const TOO_LARGE: i64 = 1_000_000;

/// Go's `fmt.Sprintf` for the verbs templates use: %v %s %q %d %x %X %o %b %c %f %e %g %t %%,
/// with flags `-+0 #`, width and precision.
fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        // Go's fmt refuses a width or precision over a million (`tooLarge`): a longer number
        // in the format ends it (`%!(NOVERB)`), and a `*` argument that is too large or not an
        // integer is `%!(BADWIDTH)` or `%!(BADPREC)`.
        enum Num {
            Given(Option<usize>),
            Bad,
            TooLong,
        }
        let mut number = |chars: &mut std::iter::Peekable<std::str::Chars>| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = args.get(next).and_then(|a| a.as_int("printf").ok());
                next += 1;
                return match v {
                    Some(v) if v.abs() <= TOO_LARGE => Num::Given(Some(v.max(0) as usize)),
                    _ => Num::Bad,
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                if n.is_some_and(|n| n > TOO_LARGE as usize) {
                    return Num::TooLong;
                }
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            Num::Given(n)
        };
        let width = match number(&mut chars) {
            Num::Given(w) => w,
            Num::Bad => {
                out.push_str("%!(BADWIDTH)");
                None
            }
            Num::TooLong => {
                out.push_str("%!(NOVERB)");
                break;
            }
        };
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            match number(&mut chars) {
                Num::Given(p) => Some(p.unwrap_or(0)),
                Num::Bad => {
                    out.push_str("%!(BADPREC)");
                    None
                }
                Num::TooLong => {
                    out.push_str("%!(NOVERB)");
                    break;
                }
            }
        } else {
            None
        };
        if out.len() > MAX_OUTPUT {
            break; // The caller refuses the result.
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let v = arg.value();
        let numeric = matches!(v, Value::Number(_));
        let body = match (verb, &v) {
            ('v', _) => {
                if sharp {
                    serde_json::to_string(&v).expect("JSON values serialise")
                } else {
                    let mut t = arg.print();
                    if plus && numeric && !t.starts_with('-') {
                        t.insert(0, '+');
                    }
                    t
                }
            }
            ('s', Value::String(t)) => match prec {
                Some(p) => t.chars().take(p).collect(),
                None => t.clone(),
            },
            ('s', _) => arg.print(),
            ('q', Value::String(t)) => serde_json::to_string(t).expect("strings serialise"),
            ('q', Value::Number(n))
                if n.as_u64().and_then(|u| char::from_u32(u as u32)).is_some() =>
            {
                let c = char::from_u32(n.as_u64().unwrap_or(0) as u32).unwrap_or('?');
                format!("'{c}'")
            }
            ('t', Value::Bool(b)) => b.to_string(),
            ('c', Value::Number(n)) if n.as_u64().is_some() => {
                char::from_u32(n.as_u64().unwrap_or(0) as u32)
                    .map_or("\u{FFFD}".into(), String::from)
            }
            ('d' | 'x' | 'X' | 'o' | 'b', Value::Number(n)) if n.as_i64().is_some() => {
                let i = n.as_i64().unwrap_or(0);
                let mag = i.unsigned_abs();
                let digits = match verb {
                    'd' => mag.to_string(),
                    'x' => format!("{}{mag:x}", if sharp { "0x" } else { "" }),
                    'X' => format!("{}{mag:X}", if sharp { "0X" } else { "" }),
                    'o' => format!("{}{mag:o}", if sharp { "0" } else { "" }),
                    _ => format!("{mag:b}"),
                };
                let sign = if i < 0 {
                    "-"
                } else if plus {
                    "+"
                } else if space {
                    " "
                } else {
                    ""
                };
                format!("{sign}{digits}")
            }
            ('x' | 'X', Value::String(t)) => {
                let mut h = String::new();
                for b in t.bytes() {
                    let _ = if verb == 'x' {
                        write!(h, "{b:02x}")
                    } else {
                        write!(h, "{b:02X}")
                    };
                }
                h
            }
            ('f' | 'F' | 'e' | 'E' | 'g' | 'G', Value::Number(n)) => {
                let f = n.as_f64().unwrap_or(0.0);
                let t = match verb {
                    'f' | 'F' => format!("{f:.*}", prec.unwrap_or(6)),
                    'e' | 'E' => {
                        let t = format!("{f:.*e}", prec.unwrap_or(6));
                        let (m, e) = t.split_once('e').expect("exponent");
                        let e: i32 = e.parse().unwrap_or(0);
                        let t = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                        if verb == 'E' {
                            t.to_uppercase()
                        } else {
                            t
                        }
                    }
                    _ => format_float(f),
                };
                if plus && f >= 0.0 {
                    format!("+{t}")
                } else {
                    t
                }
            }
            _ => format!("%!{verb}({}={})", arg.type_name(), arg.print()),
        };
        let len = body.chars().count();
        match width {
            Some(w) if w > len => {
                let fill = w - len;
                if minus {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(fill));
                } else if zero && numeric {
                    let (sign, digits) = match body.strip_prefix(['-', '+']) {
                        Some(d) => (&body[..1], d),
                        None => ("", body.as_str()),
                    };
                    out.push_str(sign);
                    out.push_str(&"0".repeat(fill));
                    out.push_str(digits);
                } else {
                    out.push_str(&" ".repeat(fill));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.print()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn object(pairs: &[(&str, Value)]) -> Value {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(k.to_string(), v.clone());
        }
        Value::Object(m)
    }

    fn run(t: &str, data: Value) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("parse {t:?}: {e}"))
            .render(&data)
            .unwrap_or_else(|e| panic!("render {t:?}: {e}"))
    }

    fn fails(t: &str, data: Value) -> String {
        match Template::parse(t) {
            Err(e) => e.to_string(),
            Ok(tpl) => match tpl.render(&data) {
                Err(e) => e.to_string(),
                Ok(out) => panic!("{t:?} should fail, printed {out:?}"),
            },
        }
    }

    fn data() -> Value {
        json!({
            "Id": "sha256:abc",
            "RepoTags": ["busybox:latest", "busybox:1"],
            "Size": 4261550,
            "Ratio": 0.5,
            "Big": 1e21,
            "Os": "linux",
            "Empty": "",
            "None": null,
            "Zero": 0,
            "T": true,
            "F": false,
            "Config": {
                "Cmd": ["sh"],
                "Env": ["PATH=/bin", "A=b c"],
                "Labels": {"com.example.v": "1", "b": "2", "a": "x"},
                "Entrypoint": null,
                "ExposedPorts": {}
            },
            "RootFS": {"Type": "layers", "Layers": ["sha256:1", "sha256:2"]},
            "Nums": [3, 1, 2]
        })
    }

    // The table: template, expected output, all against data().
    const CASES: &[(&str, &str)] = &[
        // Text and fields.
        ("plain text", "plain text"),
        ("", ""),
        ("{{.Os}}", "linux"),
        ("{{.RepoTags}}", "[busybox:latest busybox:1]"),
        ("{{.Size}}", "4261550"),
        ("{{.Ratio}}", "0.5"),
        ("{{.Big}}", "1e+21"),
        ("{{.None}}", "<nil>"),
        ("{{.Nope}}", "<no value>"),
        ("{{.Nope.Deeper}}", "<no value>"),
        ("{{.Config.Cmd}}", "[sh]"),
        ("{{.Config.Labels}}", "map[a:x b:2 com.example.v:1]"),
        ("{{.Config.ExposedPorts}}", "map[]"),
        ("{{.RootFS.Type}}/{{.Os}}", "layers/linux"),
        ("{{ .Os }}", "linux"),
        ("{{.T}} {{.F}}", "true false"),
        // Docker's functions.
        (
            "{{json .RootFS}}",
            r#"{"Type":"layers","Layers":["sha256:1","sha256:2"]}"#,
        ),
        ("{{json .Os}}", r#""linux""#),
        ("{{json .Nope}}", "null"),
        ("{{json .Config.Entrypoint}}", "null"),
        ("{{join .RepoTags \", \"}}", "busybox:latest, busybox:1"),
        ("{{join .Config.Cmd \" \"}}", "sh"),
        ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
        ("{{index (split .Id \":\") 1}}", "abc"),
        ("{{lower \"ABC\"}} {{upper .Os}}", "abc LINUX"),
        ("{{title \"hello wide-world\"}}", "Hello Wide-World"),
        ("[{{pad .Os 2 1}}]", "[  linux ]"),
        ("{{truncate .Id 6}}", "sha256"),
        ("{{truncate .Os 10}}", "linux"),
        ("{{3 | printf \"%d-%d\" 2}}", "2-3"),
        // Go's built-ins.
        (
            "{{len .RepoTags}} {{len .Os}} {{len .Config.Labels}}",
            "2 5 3",
        ),
        ("{{index .RepoTags 0}}", "busybox:latest"),
        ("{{index .Config.Labels \"com.example.v\"}}", "1"),
        ("{{index .Config.Labels \"missing\"}}", "<no value>"),
        ("{{slice .Os 1 3}} {{slice .Nums 1}}", "in [1 2]"),
        ("{{print .Os .Size}}", "linux4261550"),
        ("{{print 1 2 \"x\" 3}}", "1 2x3"),
        ("{{println .Os 1}}", "linux 1\n"),
        ("{{printf \"%s-%d\" .Os .Size}}", "linux-4261550"),
        ("{{printf \"%-8s|\" .Os}}", "linux   |"),
        ("{{printf \"%8s|\" .Os}}", "   linux|"),
        ("{{printf \"%05d\" 42}}", "00042"),
        ("{{printf \"%.2f\" .Ratio}}", "0.50"),
        ("{{printf \"%q\" .Os}}", "\"linux\""),
        ("{{printf \"%v\" .RepoTags}}", "[busybox:latest busybox:1]"),
        ("{{printf \"%x %X\" 255 255}}", "ff FF"),
        ("{{printf \"%t\" .T}}", "true"),
        ("{{printf \"100%%\"}}", "100%"),
        ("{{printf \"%d\"}}", "%!d(MISSING)"),
        ("{{printf \"%d\" .Os}}", "%!d(string=linux)"),
        ("{{printf \"%.3s\" .Os}}", "lin"),
        ("{{printf \"%e\" 1234.5}}", "1.234500e+03"),
        ("{{.Os | printf \"<%s>\"}}", "<linux>"),
        (
            "{{html \"<a href='x'>&</a>\"}}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;",
        ),
        ("{{urlquery \"a b&c\"}}", "a+b%26c"),
        // Comparisons and logic.
        (
            "{{eq .Os \"linux\"}} {{eq .Os \"x\" \"linux\"}} {{ne .Size 1}}",
            "true true true",
        ),
        (
            "{{lt 1 2}} {{le 2 2}} {{gt 1.5 2}} {{ge \"b\" \"a\"}}",
            "true true false true",
        ),
        ("{{eq .Size 4261550}}", "true"),
        ("{{eq .None nil}}", "true"),
        (
            "{{and 1 0 2}} {{and 1 2}} {{or 0 \"\" 3}} {{or 0 \"\"}}",
            "0 2 3 ",
        ),
        ("{{not .Empty}} {{not .Os}}", "true false"),
        ("{{and .T .Nope.X}}", "<no value>"),
        // Control structures.
        ("{{if .T}}yes{{end}}", "yes"),
        ("{{if .F}}yes{{else}}no{{end}}", "no"),
        (
            "{{if .Empty}}a{{else if .Zero}}b{{else if .Os}}c{{else}}d{{end}}",
            "c",
        ),
        ("{{if .Config.Entrypoint}}e{{else}}none{{end}}", "none"),
        (
            "{{if .Config.ExposedPorts}}p{{else}}no ports{{end}}",
            "no ports",
        ),
        ("{{if and .T (eq .Os \"linux\")}}ok{{end}}", "ok"),
        (
            "{{range .RepoTags}}[{{.}}]{{end}}",
            "[busybox:latest][busybox:1]",
        ),
        (
            "{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}",
            "0=busybox:latest;1=busybox:1;",
        ),
        (
            "{{range $t := .RepoTags}}{{$t}} {{end}}",
            "busybox:latest busybox:1 ",
        ),
        (
            "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
            "a=x,b=2,com.example.v=1,",
        ),
        ("{{range .Config.Labels}}{{.}}{{end}}", "x21"),
        ("{{range .Nope}}x{{else}}empty{{end}}", "empty"),
        ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
        (
            "{{range .Nums}}{{if eq . 1}}{{break}}{{end}}{{.}}{{end}}",
            "3",
        ),
        (
            "{{range .Nums}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}",
            "32",
        ),
        ("{{range 3}}{{.}}{{end}}", "012"),
        (
            "{{range .RepoTags}}{{$.Os}}:{{.}} {{end}}",
            "linux:busybox:latest linux:busybox:1 ",
        ),
        ("{{with .RootFS}}{{.Type}}{{end}}", "layers"),
        ("{{with .Nope}}x{{else}}no{{end}}", "no"),
        ("{{with .Empty}}x{{else with .Os}}{{.}}{{end}}", "linux"),
        // Variables.
        ("{{$x := .Os}}{{$x}}", "linux"),
        ("{{$x := 1}}{{if .T}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{$x := .Config}}{{$x.Cmd}}", "[sh]"),
        ("{{$.RootFS.Type}}", "layers"),
        ("{{$.Os}}", "linux"),
        ("{{(index .RepoTags 1)}}", "busybox:1"),
        ("{{(.RootFS).Type}}", "layers"),
        // Literals.
        ("{{\"a\\tb\"}}", "a\tb"),
        ("{{`raw\\n`}}", "raw\\n"),
        ("{{-3}} {{0x1F}} {{1e3}} {{'a'}}", "-3 31 1000 97"),
        ("{{nil | print}}", "<nil>"),
        // Trim markers and comments.
        ("a  {{- .Os -}}  b", "alinuxb"),
        ("a \n {{- .Os}}", "alinux"),
        ("x{{/* a comment */}}y", "xy"),
        ("x {{- /* c */ -}} y", "xy"),
        // define / template / block.
        (
            "{{define \"t\"}}<{{.}}>{{end}}{{template \"t\" .Os}}",
            "<linux>",
        ),
        ("{{block \"b\" .Size}}[{{.}}]{{end}}", "[4261550]"),
        // Strings that look like delimiters.
        ("{{printf \"}}\"}}", "}}"),
    ];

    #[test]
    fn table() {
        let d = data();
        let mut failures = Vec::new();
        for (t, want) in CASES {
            let got = Template::parse(t).and_then(|tpl| tpl.render(&d));
            match got {
                Ok(g) if g == *want => {}
                Ok(g) => failures.push(format!("{t:?}: got {g:?}, want {want:?}")),
                Err(e) => failures.push(format!("{t:?}: error {e}")),
            }
        }
        assert!(CASES.len() >= 60, "the table has {} cases", CASES.len());
        assert!(
            failures.is_empty(),
            "{} failures:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn the_root_is_printed_as_go_prints_it() {
        assert_eq!(
            run("{{.}}", json!(["a", 1, null, true])),
            "[a 1 <nil> true]"
        );
        assert_eq!(
            run("{{.}}", json!({"b": [1], "a": {"c": 2}})),
            "map[a:map[c:2] b:[1]]"
        );
        assert_eq!(run("{{.}}", json!(1.5e-7)), "1.5e-07");
        assert_eq!(run("{{.}}", json!(123456.0)), "123456");
        assert_eq!(run("{{$}}", json!("s")), "s");
    }

    // The error table: template, a piece of the message.
    const ERRORS: &[(&str, &str)] = &[
        ("{{.Os", "unclosed action"),
        ("{{if .T}}x", "{{end}}"),
        ("{{end}}", "unexpected"),
        ("{{else}}", "unexpected"),
        ("{{nosuch .Os}}", "function \"nosuch\" not defined"),
        (
            "{{.Os.Deeper}}",
            "can't evaluate field Deeper in type string",
        ),
        ("{{.None.X}}", "nil pointer evaluating .X"),
        ("{{$y}}", "undefined variable: $y"),
        (
            "{{if .T}}{{$y := 1}}{{end}}{{$y}}",
            "undefined variable: $y",
        ),
        ("{{index .RepoTags 5}}", "index out of range: 5"),
        ("{{index .Os \"k\"}}", "expected an integer"),
        ("{{len .Size}}", "len of int"),
        ("{{lt .RepoTags 1}}", "non-comparable"),
        ("{{eq .Os 1}}", "incompatible types"),
        ("{{break}}", "outside {{range}}"),
        ("{{\"unterminated}}", "unterminated quoted string"),
        ("{{/* open comment }}", "unclosed comment"),
        ("{{template \"none\"}}", "no such template"),
        ("{{.Os .Size}}", "can't give argument to non-function"),
        ("{{.Os | .Size}}", "non-function"),
        ("{{join .Os \",\"}}", "expected a list"),
        ("{{truncate .Os}}", "wrong number of args for truncate"),
        ("{{range .Os}}x{{end}}", "range can't iterate over string"),
        ("{{%}}", "unexpected '%'"),
        ("line1\n{{.Os | }}", "2:"),
    ];

    #[test]
    fn errors_say_what_is_wrong() {
        let d = data();
        for (t, want) in ERRORS {
            let e = fails(t, d.clone());
            assert!(
                e.contains(want),
                "{t:?}: error {e:?} should contain {want:?}"
            );
            assert!(e.starts_with("template: "), "{e}");
        }
    }

    #[test]
    fn variables_end_with_their_block() {
        assert_eq!(
            run("{{range $i, $e := .}}{{$i}}{{end}}", json!([1, 2])),
            "01"
        );
        let e = fails("{{range $i, $e := .}}{{end}}{{$i}}", json!([1]));
        assert!(e.contains("undefined variable: $i"), "{e}");
    }

    #[test]
    fn table_prefix_and_escapes() {
        assert_eq!(
            split_table("table {{.ID}}\\t{{.Tag}}"),
            (true, "{{.ID}}\t{{.Tag}}".into())
        );
        assert_eq!(split_table("table"), (true, String::new()));
        assert_eq!(split_table("tablet"), (false, "tablet".into()));
        assert_eq!(split_table("{{.ID}}\\n"), (false, "{{.ID}}\n".into()));
    }

    #[test]
    fn format_value_matches_go() {
        assert_eq!(format_value(&json!(["a", ["b"]])), "[a [b]]");
        assert_eq!(format_value(&json!({})), "map[]");
        assert_eq!(format_value(&json!(1e6)), "1e+06");
        assert_eq!(format_value(&json!(1000000)), "1000000");
        assert_eq!(format_value(&json!(-0.25)), "-0.25");
        assert_eq!(format_value(&object(&[("k", json!(null))])), "map[k:<nil>]");
    }

    #[test]
    fn one_template_renders_many_rows() {
        let t = Template::parse("{{.A}}-{{.B}}").unwrap();
        assert_eq!(t.render(&json!({"A": 1, "B": "x"})).unwrap(), "1-x");
        assert_eq!(t.render(&json!({"A": 2})).unwrap(), "2-<no value>");
    }

    // Found by fuzz/fuzz_targets/template.rs: a printf width of 709 trillion asked for that many
    // bytes (out of memory). Go's fmt takes no width over a million: the rest of the format
    // is `%!(NOVERB)`.
    #[test]
    fn printf_width_over_a_million_is_no_verb() {
        let crash: &[u8] =
            b"{{printf \"%-000000709551615~000000000000000000000000000000020v\" .eS.izonfig}}";
        let out = run(std::str::from_utf8(crash).unwrap(), data());
        assert!(out.starts_with("%!(NOVERB)"), "{out:?}");
        assert!(out.len() < 100, "{out:?}");
        assert_eq!(
            run("{{printf \"%.99999999999f|\" 1.5}}", data()),
            "%!(NOVERB)%!(EXTRA float64=1.5)"
        );
        assert_eq!(
            run("{{printf \"%*d|\" 2000000 7}}", data()),
            "%!(BADWIDTH)7|"
        );
        assert_eq!(
            run("{{printf \"%.*s|\" 2000000 .Os}}", data()),
            "%!(BADPREC)linux|"
        );
        assert_eq!(run("{{printf \"%.*s|\" 3 .Os}}", data()), "lin|");
        // A million is still a width, as in Go.
        assert_eq!(run("{{printf \"%1000000d\" 7}}", data()).len(), 1_000_000);
    }

    // The whole class: whatever a template asks for, memory stays bounded and a loop or a
    // recursion without end stops with an error.
    #[test]
    fn hostile_templates_fail_instead_of_exhausting_memory_or_time() {
        let cases = [
            // Output past the limit, by one function or by many actions.
            (
                "{{pad .Os 9223372036854775807 9223372036854775807}}",
                "exceed 4 MiB",
            ),
            ("{{printf \"%9999999d%9999999d\" 1 2}}", "exceed 4 MiB"),
            (
                "{{range 100000}}{{printf \"%1000d\" 1}}{{end}}",
                "exceed 4 MiB",
            ),
            (
                "{{$x := \"ab\"}}{{range 64}}{{$x = printf \"%s%s\" $x $x}}{{end}}",
                "exceed 4 MiB",
            ),
            (
                "{{join (split (printf \"%999999d\" 1) \"\") (printf \"%999999d\" 1)}}",
                "exceed 4 MiB",
            ),
            // Loops and recursion without end.
            ("{{range 1000000000000}}{{end}}", "steps"),
            ("{{range 100000}}{{range 100000}}{{end}}{{end}}", "steps"),
            (
                "{{define \"a\"}}{{template \"a\"}}{{template \"a\"}}{{end}}{{template \"a\"}}",
                "depth",
            ),
        ];
        for (t, want) in cases {
            let e = fails(t, data());
            assert!(e.contains(want), "{t:?}: {e}");
        }
        // Nesting deep enough to overflow the stack, in the parser or when running.
        let deep_parens = format!("{{{{{}1{}}}}}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(fails(&deep_parens, data()).contains("nested more than 100 deep"));
        let deep_ifs = format!(
            "{}x{}",
            "{{if 1}}".repeat(100_000),
            "{{end}}".repeat(100_000)
        );
        assert!(fails(&deep_ifs, data()).contains("nested more than 100 deep"));
        let deep_else = format!("{{{{if 0}}}}{}{{{{end}}}}", "{{else if 0}}".repeat(100_000));
        assert!(fails(&deep_else, data()).contains("nested more than 100 deep"));
        let ifs = |n| format!("{}x{}", "{{if 1}}".repeat(n), "{{end}}".repeat(n));
        assert_eq!(run(&ifs(99), data()), "x");
        // What real templates do is far from the limits.
        assert_eq!(run("{{range 3}}{{.}}{{end}}", data()).as_str(), "012");
        assert_eq!(
            run("{{range 0}}x{{else}}none{{end}}", data()).as_str(),
            "none"
        );
        assert_eq!(run("{{pad .Os 2 1}}|", data()).as_str(), "  linux |");
    }
}
