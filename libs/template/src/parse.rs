//! The parser: tokens into a tree of nodes.

use std::collections::HashMap;

use serde_json::Value;

use crate::lex::{line_col, Tok, Token};
use crate::{err, TemplateError};

#[derive(Debug, Clone)]
pub(crate) enum Node {
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
pub(crate) struct Pipe {
    pub(crate) decl: Vec<String>,
    pub(crate) assign: bool,
    pub(crate) cmds: Vec<Vec<Arg>>,
    /// Where it starts, for error messages.
    pub(crate) src: String,
    /// Where it is, as Go's execution errors say it: `1:2` (the line, the byte in the line).
    pub(crate) place: String,
}

#[derive(Debug, Clone)]
pub(crate) enum Arg {
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
pub(crate) enum Stop {
    End,
    Else,
}

/// A list of nodes and what ended it (`{{end}}` or `{{else`, with its offset), if not the input's end.
pub(crate) type Parsed = (Vec<Node>, Option<(Stop, usize)>);

pub(crate) struct Parser<'a> {
    pub(crate) toks: Vec<Token>,
    pub(crate) pos: usize,
    pub(crate) src: &'a str,
    pub(crate) defines: HashMap<String, Vec<Node>>,
    pub(crate) range_depth: usize,
    /// Blocks and parentheses open around the current token, at most [`MAX_NESTING`].
    pub(crate) nesting: usize,
}

/// How deep blocks (`if`, `range`, `with`, `else if` chains) and parentheses may nest in a
/// template, and blocks and template calls when it runs: the parser and the executor recurse,
/// and a deeper template would overflow the stack. Docker's templates nest a few levels.
pub(crate) const MAX_NESTING: usize = 100;

impl Parser<'_> {
    pub(crate) fn at(&self, at: usize) -> String {
        line_col(self.src, at)
    }

    pub(crate) fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    pub(crate) fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |t| t.at)
    }

    pub(crate) fn next(&mut self) -> Result<Token, TemplateError> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t.ok_or_else(|| {
            TemplateError(format!(
                "{}: unexpected end of template",
                self.at(self.src.len())
            ))
        })
    }

    pub(crate) fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
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
    pub(crate) fn list(&mut self, top: bool) -> Result<Parsed, TemplateError> {
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

    pub(crate) fn template_name(&mut self, kw: &str) -> Result<String, TemplateError> {
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
    pub(crate) fn nest(&mut self, at: usize) -> Result<(), TemplateError> {
        if self.nesting >= MAX_NESTING {
            return err(format!(
                "{}: blocks or parentheses nested more than {MAX_NESTING} deep",
                self.at(at)
            ));
        }
        self.nesting += 1;
        Ok(())
    }

    pub(crate) fn control(&mut self, kw: &str, at: usize) -> Result<Node, TemplateError> {
        self.nest(at)?;
        let r = self.control_block(kw, at);
        self.nesting -= 1;
        r
    }

    pub(crate) fn control_block(&mut self, kw: &str, at: usize) -> Result<Node, TemplateError> {
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
    pub(crate) fn pipeline(&mut self, allow_decl: bool, ctx: &str) -> Result<Pipe, TemplateError> {
        self.pipeline_until(allow_decl, ctx, Tok::Close)
    }

    pub(crate) fn pipeline_until(
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
            // Go takes a `|` just before the end as nothing: `{{.Os | }}` prints `.Os`.
            if args.is_empty() && !cmds.is_empty() && self.peek() == Some(&end) {
                break;
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
            place: go_position(self.src, start),
        })
    }

    /// Collects fields that follow a term with no space: `$x.A.B`, `(…).A`, `.A.B`.
    pub(crate) fn chain(&mut self, mut fields: Vec<String>) -> Vec<String> {
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

/// Go's place of a node in an execution error: the line, and the byte offset in that line
/// (from 0, where parse errors count columns from 1).
fn go_position(src: &str, at: usize) -> String {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1);
    format!("{line}:{col}")
}

pub(crate) fn describe(t: &Tok) -> String {
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

pub(crate) const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "urlquery", "json", "join", "split", "lower", "upper", "title",
    "pad", "truncate",
];

pub(crate) fn is_func(name: &str) -> bool {
    FUNCS.contains(&name)
}
