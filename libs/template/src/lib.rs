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
//!
//! [`Template::render`] takes its data as Go's maps: a missing key prints `<no value>`, as
//! `docker inspect` does. [`Template::render_struct`] takes it as the struct that Docker's listing
//! formatters give a template (`*formatter.ContainerContext`): a field it does not have is an
//! error, as Go's `can't evaluate field Foo in type …`, and it may have methods that take
//! arguments (`{{.Label "com.example"}}`).

mod exec;
mod fmt;
mod funcs;
mod json;
mod lex;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::Value;

use exec::{State, Val, MAX_STEPS};
pub use fmt::format_value;
use lex::lex;
use parse::{Node, Parser};

/// A template that failed to parse or to execute, with what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(pub(crate) String);

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// A Go struct as data: its fields (a JSON object: Docker's formatters' methods without
/// arguments, `ID`, `Names`, …), its methods with arguments, and its type's name for errors.
pub struct Struct<'a> {
    /// As Go prints it in errors: `*formatter.ContainerContext`.
    pub type_name: &'a str,
    /// A JSON object.
    pub fields: &'a Value,
    /// What only its methods read (Go's unexported fields), given to each.
    pub private: &'a Value,
    pub methods: &'a [Method<'a>],
}

/// A method of a [`Struct`] that takes arguments, such as `Label` of Docker's container
/// formatter: `{{.Label "k"}}`.
#[derive(Debug, Clone, Copy)]
pub struct Method<'a> {
    pub name: &'a str,
    /// How many arguments it takes.
    pub args: usize,
    /// The method, given the struct's [`Struct::private`] and the arguments; an error is a
    /// message.
    pub call: fn(&Value, &[Value]) -> Result<Value, String>,
}

/// What [`Template::render_typed`] knows of a document's Go types.
#[derive(Debug, Clone, Copy)]
pub struct Typed<'a> {
    /// The fields whose objects are structs that the document always has whole (`State`).
    pub structs: &'a [&'a str],
    /// Fields that the JSON leaves out when they are nil (`Health`, `Node`): `<nil>`, not an
    /// error.
    pub optional: &'a [&'a str],
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
        self.execute(Val::V(data.clone()), None, None)
    }

    /// Executes the template with `data` as dot, a document of Go structs as Docker's inspect
    /// tools give one: a key that the document itself, or an object under one of
    /// [`Typed::structs`], does not have is an error (`map has no entry for key "Foo"`), as
    /// Docker's inspect says; any other object may be a Go map, where it prints `<no value>`.
    pub fn render_typed(&self, data: &Value, typed: &Typed) -> Result<String, TemplateError> {
        self.execute(Val::V(data.clone()), None, Some(typed))
    }

    /// Executes the template with the struct `data` as dot: a field it does not have is an
    /// error, as Go's for a struct (where [`Template::render`]'s maps print `<no value>`).
    pub fn render_struct(&self, data: &Struct) -> Result<String, TemplateError> {
        self.execute(Val::Struct(data.fields.clone()), Some(data), None)
    }

    fn execute(
        &self,
        root: Val,
        strukt: Option<&Struct>,
        typed: Option<&Typed>,
    ) -> Result<String, TemplateError> {
        let mut st = State {
            strukt,
            typed,
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
