//! The executor: walks the tree with dot and variables, within limits of output and steps.

use std::collections::HashMap;

use serde_json::Value;

use crate::fmt::format_value;
use crate::funcs::builtin;
use crate::parse::{Arg, Node, Pipe, MAX_NESTING};
use crate::{err, Struct, TemplateError};

/// A value, or the absence of one (a field a map does not have), which Go prints as `<no value>`,
/// or the struct a listing renders (its fields; its methods are the [`State`]'s).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    Missing,
    V(Value),
    Struct(Value),
}

impl Val {
    pub(crate) fn value(&self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::V(v) | Val::Struct(v) => v.clone(),
        }
    }

    pub(crate) fn truth(&self) -> bool {
        match self {
            Val::Missing | Val::V(Value::Null) => false,
            Val::Struct(_) => true,
            Val::V(Value::Bool(b)) => *b,
            Val::V(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
            Val::V(Value::String(s)) => !s.is_empty(),
            Val::V(Value::Array(a)) => !a.is_empty(),
            Val::V(Value::Object(m)) => !m.is_empty(),
        }
    }

    pub(crate) fn print(&self) -> String {
        match self {
            Val::Missing => "<no value>".into(),
            Val::V(v) | Val::Struct(v) => format_value(v),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Val::Missing => "<no value>",
            Val::V(Value::Null) => "nil",
            Val::V(Value::Bool(_)) => "bool",
            Val::V(Value::Number(n)) if n.is_f64() => "float64",
            Val::V(Value::Number(_)) => "int",
            Val::V(Value::String(_)) => "string",
            Val::V(Value::Array(_)) => "array",
            Val::V(Value::Object(_)) => "map",
            Val::Struct(_) => "struct",
        }
    }

    pub(crate) fn as_str(&self, f: &str) -> Result<String, TemplateError> {
        match self {
            Val::V(Value::String(s)) => Ok(s.clone()),
            other => err(format!(
                "{f}: expected a string, got {} {}",
                other.type_name(),
                other.print()
            )),
        }
    }

    pub(crate) fn as_int(&self, f: &str) -> Result<i64, TemplateError> {
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

pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// The most bytes a template may print, or one function make (`printf`, `pad`…): past it
/// rendering is an error, not an exhausted memory. Docker's templates print kilobytes.
pub(crate) const MAX_OUTPUT: usize = 4 << 20;
/// The most actions, text pieces and loop iterations one rendering may execute: a template
/// that loops or recurses without end (`{{range 1000000000000}}`, a template calling itself
/// twice) is an error, not a hang.
pub(crate) const MAX_STEPS: u64 = 10_000_000;

pub(crate) fn too_long() -> TemplateError {
    TemplateError(format!("the output would exceed {} MiB", MAX_OUTPUT >> 20))
}

pub(crate) struct State<'a> {
    /// The struct rendered, if the data is one ([`Val::Struct`]).
    pub(crate) strukt: Option<&'a Struct<'a>>,
    /// With [`crate::Template::render_typed`]: which objects are Go structs, where a missing
    /// key is an error.
    pub(crate) typed: Option<&'a crate::Typed<'a>>,
    pub(crate) vars: Vec<(String, Val)>,
    pub(crate) out: String,
    pub(crate) defines: &'a HashMap<String, Vec<Node>>,
    pub(crate) depth: usize,
    /// Steps left of [`MAX_STEPS`].
    pub(crate) steps: u64,
}

impl State<'_> {
    pub(crate) fn walk(&mut self, dot: &Val, nodes: &[Node]) -> Result<Flow, TemplateError> {
        for n in nodes {
            match self.node(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    pub(crate) fn block(&mut self, dot: &Val, nodes: &[Node]) -> Result<Flow, TemplateError> {
        let mark = self.vars.len();
        let r = self.walk(dot, nodes);
        self.vars.truncate(mark);
        r
    }

    /// Counts one step against [`MAX_STEPS`].
    pub(crate) fn step(&mut self) -> Result<(), TemplateError> {
        if self.steps == 0 {
            return err(format!(
                "more than {MAX_STEPS} steps executed (a loop or a recursion without end?)"
            ));
        }
        self.steps -= 1;
        Ok(())
    }

    /// Prints `t`, within [`MAX_OUTPUT`].
    pub(crate) fn print(&mut self, t: &str) -> Result<(), TemplateError> {
        if self.out.len() + t.len() > MAX_OUTPUT {
            return Err(too_long());
        }
        self.out.push_str(t);
        Ok(())
    }

    pub(crate) fn node(&mut self, dot: &Val, n: &Node) -> Result<Flow, TemplateError> {
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

    pub(crate) fn node_at_depth(&mut self, dot: &Val, n: &Node) -> Result<Flow, TemplateError> {
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

    pub(crate) fn pipe(&mut self, dot: &Val, p: &Pipe) -> Result<Val, TemplateError> {
        let mut value: Option<Val> = None;
        for cmd in &p.cmds {
            value = Some(
                self.command(dot, cmd, value)
                    .map_err(|e| in_context(e, p))?,
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

    pub(crate) fn command(
        &mut self,
        dot: &Val,
        args: &[Arg],
        fin: Option<Val>,
    ) -> Result<Val, TemplateError> {
        match &args[0] {
            Arg::Func(name) => self.call(dot, name, &args[1..], fin),
            Arg::Field(_) | Arg::Var(..) if args.len() > 1 || fin.is_some() => {
                match self.method(dot, args, &fin)? {
                    Some(v) => Ok(v),
                    None => err("can't give argument to non-function".to_string()),
                }
            }
            // Go: `{{nil}}` and `{{nil | f}}` fail; nil is only an argument.
            Arg::Lit(Value::Null) => err("nil is not a command"),
            _ if args.len() > 1 || fin.is_some() => {
                err("can't give argument to non-function".to_string())
            }
            a => self.arg(dot, a),
        }
    }

    pub(crate) fn arg(&mut self, dot: &Val, a: &Arg) -> Result<Val, TemplateError> {
        match a {
            Arg::Lit(v) => Ok(Val::V(v.clone())),
            Arg::Field(fields) => self.fields_of(dot.clone(), fields),
            Arg::Var(name, fields) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return err(format!("undefined variable: {name}"));
                };
                let v = v.clone();
                self.fields_of(v, fields)
            }
            Arg::Sub(p, fields) => {
                let mark = self.vars.len();
                let v = self.pipe(dot, p);
                self.vars.truncate(mark);
                self.fields_of(v?, fields)
            }
            Arg::Func(name) => self.call(dot, name, &[], None),
        }
    }

    pub(crate) fn call(
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
        // A function receives a missing value as nil, as Go passes the zero of its parameter:
        // `{{printf "%v" .Nope}}` prints `<nil>`.
        let nil = |v: Val| match v {
            Val::Missing => Val::V(Value::Null),
            // A function sees a struct's fields (`{{json .}}` prints them, as Docker's
            // formatters marshal their fields).
            Val::Struct(v) => Val::V(v),
            v => v,
        };
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(nil(self.arg(dot, a)?));
        }
        if let Some(f) = fin {
            vals.push(nil(f));
        }
        let v = builtin(name, &vals)?;
        match &v {
            Val::V(Value::String(t)) if t.len() > MAX_OUTPUT => Err(too_long()),
            _ => Ok(v),
        }
    }
}

/// A pipeline's error with where it happened, as Go's: `:1:2: executing "" at <.Foo>: …`
/// (once: a pipeline inside another keeps the innermost place).
fn in_context(e: TemplateError, p: &Pipe) -> TemplateError {
    if e.0.starts_with(':') {
        return e;
    }
    TemplateError(format!(
        ":{}: executing \"\" at <{}>: {}",
        p.place, p.src, e.0
    ))
}

impl State<'_> {
    /// `.A.B` of `v`: a map's missing key is [`Val::Missing`], a struct's missing field an error.
    pub(crate) fn fields_of(&self, mut v: Val, fields: &[String]) -> Result<Val, TemplateError> {
        for (i, f) in fields.iter().enumerate() {
            v = match v {
                Val::Struct(m) => match m.get(f) {
                    Some(x) => Val::V(x.clone()),
                    None => return Err(self.no_field(f)),
                },
                Val::V(Value::Object(m))
                    if !m.contains_key(f) && self.is_struct(&v, &fields[..i]) =>
                {
                    if self.typed.is_some_and(|t| t.optional.contains(&f.as_str())) {
                        // A field Docker's JSON leaves out when it is nil: Go prints `<nil>`.
                        Val::V(Value::Null)
                    } else {
                        return err(format!("map has no entry for key {f:?}"));
                    }
                }
                other => field_of(other, f)?,
            };
        }
        Ok(v)
    }

    /// Whether `v`, reached by `path` (the fields before it in one chain), is one of the Go
    /// structs [`crate::Template::render_typed`] was told of: the document itself, or an
    /// object under one of its `structs` fields.
    fn is_struct(&self, v: &Val, path: &[String]) -> bool {
        let Some(t) = self.typed else {
            return false;
        };
        match path.last() {
            Some(last) => t.structs.contains(&last.as_str()),
            // Dot or a variable: only the document itself is known.
            None => self.vars.first().is_some_and(|(_, root)| root == v),
        }
    }

    /// A struct's missing field, or a method called without its arguments, as Go says it.
    fn no_field(&self, f: &str) -> TemplateError {
        let Some(st) = self.strukt else {
            return TemplateError(format!("can't evaluate field {f} in type struct"));
        };
        match st.methods.iter().find(|m| m.name == f) {
            Some(m) => TemplateError(format!(
                "wrong number of args for {f}: want {} got 0",
                m.args
            )),
            None => TemplateError(format!("can't evaluate field {f} in type {}", st.type_name)),
        }
    }

    /// `{{.Label "k"}}`: a struct's method called with arguments, if `args[0]` names one.
    pub(crate) fn method(
        &mut self,
        dot: &Val,
        args: &[Arg],
        fin: &Option<Val>,
    ) -> Result<Option<Val>, TemplateError> {
        let Some(st) = self.strukt else {
            return Ok(None);
        };
        let (receiver, name) = match &args[0] {
            Arg::Field(fields) if !fields.is_empty() => {
                let (last, init) = fields.split_last().expect("not empty");
                (self.fields_of(dot.clone(), init)?, last)
            }
            Arg::Var(var, fields) if !fields.is_empty() => {
                let (last, init) = fields.split_last().expect("not empty");
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == var) else {
                    return err(format!("undefined variable: {var}"));
                };
                let v = v.clone();
                (self.fields_of(v, init)?, last)
            }
            _ => return Ok(None),
        };
        let Val::Struct(_) = receiver else {
            return Ok(None);
        };
        let Some(m) = st.methods.iter().find(|m| m.name == name) else {
            return Ok(None);
        };
        let mut vals = Vec::with_capacity(args.len());
        for a in &args[1..] {
            vals.push(self.arg(dot, a)?.value());
        }
        if let Some(f) = fin {
            vals.push(f.value());
        }
        if vals.len() != m.args {
            return err(format!(
                "wrong number of args for {name}: want {} got {}",
                m.args,
                vals.len()
            ));
        }
        (m.call)(st.private, &vals)
            .map(|v| Some(Val::V(v)))
            .map_err(TemplateError)
    }
}

fn field_of(v: Val, f: &str) -> Result<Val, TemplateError> {
    Ok(match v {
        Val::Missing => Val::Missing,
        Val::Struct(_) => unreachable!("structs are looked up by State::fields_of"),
        Val::V(Value::Object(m)) => m.get(f).cloned().map_or(Val::Missing, Val::V),
        Val::V(Value::Null) => return err(format!("nil pointer evaluating .{f}")),
        other => {
            return err(format!(
                "can't evaluate field {f} in type {}",
                other.type_name()
            ))
        }
    })
}

pub(crate) fn want(name: &str, vals: &[Val], n: usize) -> Result<(), TemplateError> {
    if vals.len() != n {
        return err(format!(
            "wrong number of args for {name}: want {n} got {}",
            vals.len()
        ));
    }
    Ok(())
}

pub(crate) fn s(v: impl Into<String>) -> Val {
    Val::V(Value::String(v.into()))
}
