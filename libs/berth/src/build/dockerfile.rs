//! A Dockerfile parser and the word expansion of ARG/ENV variables, following BuildKit's
//! `frontend/dockerfile/parser` and `frontend/dockerfile/shell/lex.go`.
//!
//! [`parse`] turns the text into a [`Dockerfile`]: the parser directives (`# escape=`, `# syntax=`,
//! …) read at the top, and the instructions in order, each with its 1-based start line, its flags
//! (`--from=x`, `--mount=…`, in order, as written) and its arguments, typed by instruction
//! ([`Kind`]). Values stay as written (quotes and escapes included) where BuildKit expands them
//! later: the builder calls [`expand`] on them with the ARG/ENV values in scope. Heredocs
//! (`RUN <<EOF`, `COPY <<EOF /dest`) are read with their contents ([`Heredoc`]).
//!
//! [`expand`] is BuildKit's `ProcessWord` (one word, quotes removed), [`expand_words`] its
//! `ProcessWords` (word splitting, for COPY/ADD sources in shell form).
//!
//! Errors say `Dockerfile:LINE: problem`. Unlike BuildKit's parser (which leaves them to
//! dispatch), an unknown instruction and the argument counts of FROM/ENV/COPY/… are parse errors
//! here; HEALTHCHECK types other than CMD/NONE are left to the builder.

use std::fmt;

/// A parse error: the 1-based line of the instruction (or directive) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Dockerfile:{line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// An expansion error, as BuildKit's lexer words it (`bad substitution`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(pub String);

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives, names lowercased, in the order written (`("syntax", "docker/dockerfile:1")`).
    pub directives: Vec<(String, String)>,
    /// The escape character: `\` unless `# escape=` said `` ` ``.
    pub escape: char,
    /// Every instruction in order (the `FROM`s start the stages; see [`Dockerfile::stages`]).
    pub instructions: Vec<Instruction>,
}

impl Dockerfile {
    /// The value of a directive (`syntax`, `escape`, `check`), by lowercase name.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The instructions before the first FROM (only ARGs are allowed there by Docker), and the
    /// stages: each a slice starting with its FROM.
    pub fn stages(&self) -> (&[Instruction], Vec<&[Instruction]>) {
        let starts: Vec<usize> = (0..self.instructions.len())
            .filter(|&i| matches!(self.instructions[i].kind, Kind::From { .. }))
            .collect();
        let first = starts.first().copied().unwrap_or(self.instructions.len());
        let mut stages = Vec::new();
        for (n, &s) in starts.iter().enumerate() {
            let end = starts
                .get(n + 1)
                .copied()
                .unwrap_or(self.instructions.len());
            stages.push(&self.instructions[s..end]);
        }
        (&self.instructions[..first], stages)
    }
}

/// One instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line where the instruction starts.
    pub line: usize,
    /// 1-based line where it ends (its last continuation line or heredoc terminator).
    pub end_line: usize,
    /// The keyword, uppercased (`RUN`).
    pub keyword: String,
    /// The instruction's text after continuations were joined (without heredoc bodies).
    pub original: String,
    /// Flags before the arguments, in order: `--from=x` is `("from", Some("x"))`, `--link` is
    /// `("link", None)`. Values are as written (not expanded).
    pub flags: Vec<(String, Option<String>)>,
    /// The arguments by instruction.
    pub kind: Kind,
    /// Heredocs of RUN/COPY/ADD, in the order their `<<` markers appear.
    pub heredocs: Vec<Heredoc>,
}

impl Instruction {
    /// The values of a flag (a flag may be repeated: `--mount`).
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Option<&'a str>> + 'a {
        self.flags
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }
}

/// Exec (JSON array) or shell form of RUN/CMD/ENTRYPOINT/COPY/ADD/VOLUME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`: JSON-decoded strings.
    Exec(Vec<String>),
    /// The text as written (leading/trailing whitespace trimmed).
    Shell(String),
}

impl Args {
    /// For COPY/ADD/VOLUME: the words (exec form as is, shell form split on whitespace, quotes kept
    /// for [`expand`] to remove).
    pub fn words(&self, escape: char) -> Vec<String> {
        match self {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) => split_words(s, escape),
        }
    }
}

/// A heredoc: `<<EOF`, `<<-EOF` (leading tabs stripped from the content and the terminator),
/// `<<"EOF"` / `<<'EOF'` (some part quoted: the content is not expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter, quotes removed.
    pub name: String,
    /// The content as written: every line up to the terminator, with its newline (for `<<-`,
    /// [`Heredoc::text`] strips the tabs, as BuildKit's `ChompHeredocContent` at dispatch).
    pub content: String,
    /// False when the delimiter was quoted.
    pub expand: bool,
    /// `<<-`.
    pub chomp: bool,
    /// `3<<EOF`: the file descriptor (0 when none was written).
    pub fd: u32,
}

impl Heredoc {
    /// The content, leading tabs of every line stripped when `chomp`.
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The arguments of each instruction. Strings are as written: the builder expands them with
/// [`expand`] where Docker does (see [`Kind::expands`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        image: String,
        name: Option<String>,
    },
    Run(Args),
    Cmd(Args),
    Entrypoint(Args),
    /// `SHELL ["sh", "-c"]`: JSON form only.
    Shell(Vec<String>),
    Copy(Args),
    Add(Args),
    Volume(Args),
    /// `ENV k=v k2="v 2"` or `ENV k v w` (then one pair, the value being the rest of the line).
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    /// `ARG name[=default] …`.
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    StopSignal(String),
    Maintainer(String),
    /// `HEALTHCHECK [flags] TYPE [command]`: `test` is the type uppercased (`CMD`, `NONE`, or
    /// anything written, even empty), `cmd` what follows it.
    Healthcheck {
        test: String,
        cmd: Option<Args>,
    },
    /// `ONBUILD INSTR …`: the trigger, parsed (its line is the ONBUILD's).
    Onbuild(Box<Instruction>),
}

impl Kind {
    /// Whether Docker expands ARG/ENV variables in this instruction's arguments (RUN, CMD,
    /// ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD leave them to the shell or the child build).
    pub fn expands(&self) -> bool {
        matches!(
            self,
            Kind::From { .. }
                | Kind::Copy(_)
                | Kind::Add(_)
                | Kind::Volume(_)
                | Kind::Env(_)
                | Kind::Label(_)
                | Kind::Arg(_)
                | Kind::Workdir(_)
                | Kind::User(_)
                | Kind::Expose(_)
                | Kind::StopSignal(_)
        )
    }
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Parses a parser directive line (`#name = value`, `#` first on the line, `syntax`, `escape` or
/// `check`), or None.
fn directive_of(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let value = value.trim();
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic())
        || !name.chars().all(|c| c.is_ascii_alphanumeric())
        || value.is_empty()
    {
        return None;
    }
    // Only the directives BuildKit knows; any other line ends them.
    if !["syntax", "escape", "check"].contains(&name.to_ascii_lowercase().as_str()) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips the escape character ending a line (and blanks after it): Some(rest) when the line
/// continues. As BuildKit's regex, two escape characters at the end (`a\\`) do not continue.
fn continues(line: &str, escape: char) -> Option<&str> {
    let t = line.trim_end_matches([' ', '\t']);
    let rest = t.strip_suffix(escape)?;
    if rest.ends_with(escape) {
        return None;
    }
    Some(rest)
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut directives: Vec<(String, String)> = Vec::new();
    let mut escape = '\\';
    let mut i = 0;
    // Directives: only at the very top, until any other line.
    while i < lines.len() {
        let Some((name, value)) = directive_of(lines[i]) else {
            break;
        };
        if directives.iter().any(|(n, _)| *n == name) {
            return Err(err(
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(err(
                        i + 1,
                        format!("invalid escape token '{value}' does not match ` or \\"),
                    ))
                }
            };
        }
        directives.push((name, value));
        i += 1;
    }

    let mut instructions = Vec::new();
    while i < lines.len() {
        let first = lines[i].trim_start();
        let start = i + 1;
        i += 1;
        if first.is_empty() || is_comment(first) {
            continue;
        }
        let mut buf = String::new();
        let mut cur = first;
        loop {
            match continues(cur, escape) {
                Some(rest) => {
                    buf.push_str(rest);
                    // Next non-comment, non-empty line continues the instruction.
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        if is_comment(l) || l.trim().is_empty() {
                            continue;
                        }
                        next = Some(l);
                        break;
                    }
                    match next {
                        Some(l) => cur = l,
                        None => break,
                    }
                }
                None => {
                    buf.push_str(cur);
                    break;
                }
            }
        }
        let mut ins = instruction(&buf, start, escape)?;
        let heredocs = matches!(
            ins.kind,
            Kind::Run(Args::Shell(_)) | Kind::Copy(Args::Shell(_)) | Kind::Add(Args::Shell(_))
        );
        if heredocs && buf.contains("<<") {
            for mut doc in heredocs_of(&buf, start)? {
                let mut content = String::new();
                let mut done = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let t = if doc.chomp {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if t == doc.name {
                        done = true;
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                if !done {
                    return Err(err(start, "unterminated heredoc"));
                }
                doc.content = content;
                ins.heredocs.push(doc);
            }
        }
        ins.end_line = i.max(start);
        instructions.push(ins);
    }
    if instructions.is_empty() {
        return Err(err(lines.len().max(1), "file with no instructions"));
    }
    Ok(Dockerfile {
        directives,
        escape,
        instructions,
    })
}

/// The heredocs of a joined instruction line, as BuildKit's `heredocsFromLine`.
fn heredocs_of(line: &str, lineno: usize) -> Result<Vec<Heredoc>, ParseError> {
    let mut docs = Vec::new();
    let words = split_words(line, '\\');
    for (n, word) in words.iter().enumerate() {
        // `<<  EOF`: the marker and its word apart.
        let joined;
        let word = if word
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('-')
            == "<<"
        {
            let Some(next) = words.get(n + 1) else {
                continue;
            };
            joined = format!("{word}{next}");
            &joined
        } else {
            word
        };
        let digits: String = word.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Some(rest) = word[digits.len()..].strip_prefix("<<") else {
            continue;
        };
        let (chomp, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let rest = rest.trim_start();
        if rest.is_empty() || rest.contains('<') {
            continue;
        }
        let chars: Vec<char> = rest.chars().collect();
        let none = |_: &str| None;
        let mut lx = Lexer {
            c: &chars,
            pos: 0,
            escape: '\\',
            lookup: &none,
            keep_unset: true,
            quoted: false,
            raw_escapes: false,
        };
        let name = lx.word(None).map_err(|e| err(lineno, e.0))?;
        let quoted = lx.quoted;
        docs.push(Heredoc {
            name,
            content: String::new(),
            expand: !quoted,
            chomp,
            fd: digits.parse().unwrap_or(0),
        });
    }
    Ok(docs)
}

/// Splits on whitespace outside quotes, keeping quotes and escapes (BuildKit's `parseWords`).
fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if quote.is_none() && c.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        word.push(c);
        if c == escape && quote != Some('\'') {
            if let Some(n) = chars.next() {
                word.push(n);
            }
            continue;
        }
        match quote {
            None if c == '"' || c == '\'' => quote = Some(c),
            Some(q) if c == q => quote = None,
            _ => {}
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// Takes the leading `--flags` off the arguments.
fn take_flags(rest: &str, escape: char) -> (Vec<(String, Option<String>)>, String) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    loop {
        if !rest.starts_with("--") {
            break;
        }
        let words = split_words(rest, escape);
        let Some(word) = words.first() else { break };
        rest = rest[word.len()..].trim_start();
        if word == "--" {
            break;
        }
        let body = &word[2..];
        match body.split_once('=') {
            Some((n, v)) => flags.push((n.to_ascii_lowercase(), Some(v.to_string()))),
            None => flags.push((body.to_ascii_lowercase(), None)),
        }
    }
    (flags, rest.to_string())
}

/// Exec form when the text is a JSON array of strings, shell form when it is not JSON; a JSON
/// array holding anything but strings is an error, as in BuildKit.
fn json_or_shell(rest: &str, line: usize) -> Result<Args, ParseError> {
    let rest = rest.trim();
    if rest.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<serde_json::Value>>(rest) {
            let mut out = Vec::with_capacity(v.len());
            for item in v {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Err(err(
                        line,
                        "when using JSON array syntax, arrays must be comprised of strings only",
                    )),
                }
            }
            return Ok(Args::Exec(out));
        }
    }
    Ok(Args::Shell(rest.to_string()))
}

/// `k=v k2=v2` or the old `k v` form (ENV, LABEL).
fn name_values(
    kw: &str,
    rest: &str,
    escape: char,
    line: usize,
) -> Result<Vec<(String, String)>, ParseError> {
    let words = split_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(err(line, format!("{kw} requires at least one argument")));
    };
    if !first.contains('=') {
        // Old form: name, then the rest of the line.
        let value = rest.trim_start()[first.len()..].trim();
        if value.is_empty() {
            return Err(err(line, format!("{kw} names can not be blank")));
        }
        return Ok(vec![(first.clone(), value.to_string())]);
    }
    let mut pairs = Vec::new();
    for w in &words {
        let Some((n, v)) = w.split_once('=') else {
            return Err(err(
                line,
                format!("Syntax error - can't find = in {w:?}. Must be of the form: name=value"),
            ));
        };
        if n.is_empty() {
            return Err(err(line, format!("{kw} names can not be blank")));
        }
        pairs.push((n.to_string(), v.to_string()));
    }
    Ok(pairs)
}

/// Parses one joined instruction line.
fn instruction(text: &str, line: usize, escape: char) -> Result<Instruction, ParseError> {
    let text = text.trim();
    let (kw, rest) = match text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start()),
        None => (text, ""),
    };
    let keyword = kw.to_ascii_uppercase();
    let (flags, rest) = take_flags(rest, escape);
    let rest = rest.as_str();
    let need = |what: &str| -> Result<(), ParseError> {
        if rest.trim().is_empty() {
            Err(err(line, format!("{keyword} requires {what}")))
        } else {
            Ok(())
        }
    };
    let kind = match keyword.as_str() {
        "FROM" => {
            let w: Vec<&str> = rest.split_whitespace().collect();
            match w.as_slice() {
                [image] => Kind::From {
                    image: image.to_string(),
                    name: None,
                },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => Kind::From {
                    image: image.to_string(),
                    name: Some(name.to_string()),
                },
                _ => return Err(err(line, "FROM requires either one or three arguments")),
            }
        }
        "RUN" => {
            need("at least one argument")?;
            Kind::Run(json_or_shell(rest, line)?)
        }
        "CMD" => Kind::Cmd(json_or_shell(rest, line)?),
        "ENTRYPOINT" => Kind::Entrypoint(json_or_shell(rest, line)?),
        "SHELL" => match json_or_shell(rest, line)? {
            Args::Exec(v) if !v.is_empty() => Kind::Shell(v),
            _ => return Err(err(line, "SHELL requires the arguments to be in JSON form")),
        },
        "COPY" | "ADD" => {
            need("at least two arguments")?;
            let a = json_or_shell(rest, line)?;
            let heredoc = rest.contains("<<");
            if !heredoc && matches!(&a, Args::Shell(t) if t.split_whitespace().count() < 2) {
                return Err(err(
                    line,
                    format!("{keyword} requires at least two arguments"),
                ));
            }
            if keyword == "COPY" {
                Kind::Copy(a)
            } else {
                Kind::Add(a)
            }
        }
        "VOLUME" => {
            need("at least one argument")?;
            Kind::Volume(json_or_shell(rest, line)?)
        }
        "ENV" => Kind::Env(name_values("ENV", rest, escape, line)?),
        "LABEL" => Kind::Label(name_values("LABEL", rest, escape, line)?),
        "ARG" => {
            let words = split_words(rest, escape);
            if words.is_empty() {
                return Err(err(line, "ARG requires at least one argument"));
            }
            Kind::Arg(
                words
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((n, v)) => (n.to_string(), Some(v.to_string())),
                        None => (w, None),
                    })
                    .collect(),
            )
        }
        "WORKDIR" => {
            need("exactly one argument")?;
            Kind::Workdir(rest.trim().to_string())
        }
        "USER" => {
            need("exactly one argument")?;
            Kind::User(rest.trim().to_string())
        }
        "EXPOSE" => {
            need("at least one argument")?;
            Kind::Expose(rest.split_whitespace().map(str::to_string).collect())
        }
        "STOPSIGNAL" => {
            need("exactly one argument")?;
            Kind::StopSignal(rest.trim().to_string())
        }
        "MAINTAINER" => {
            need("exactly one argument")?;
            Kind::Maintainer(rest.trim().to_string())
        }
        "HEALTHCHECK" => {
            let t = rest.trim();
            let (word, cmd) = match t.split_once(char::is_whitespace) {
                Some((w, c)) => (w, c.trim_start()),
                None => (t, ""),
            };
            let cmd = if cmd.is_empty() {
                None
            } else {
                Some(json_or_shell(cmd, line)?)
            };
            // As BuildKit's parser, any type is read; the builder rejects all but CMD and NONE
            // (and NONE with arguments, CMD without).
            Kind::Healthcheck {
                test: word.to_ascii_uppercase(),
                cmd,
            }
        }
        "ONBUILD" => {
            need("at least one argument")?;
            let inner = instruction(rest, line, escape)?;
            match inner.keyword.as_str() {
                "ONBUILD" => {
                    return Err(err(
                        line,
                        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                    ))
                }
                "FROM" | "MAINTAINER" => {
                    return Err(err(
                        line,
                        format!("{} isn't allowed as an ONBUILD trigger", inner.keyword),
                    ))
                }
                _ => {}
            }
            Kind::Onbuild(Box::new(inner))
        }
        _ => return Err(err(line, format!("unknown instruction: {kw}"))),
    };
    Ok(Instruction {
        line,
        end_line: line,
        keyword,
        original: text.to_string(),
        flags,
        kind,
        heredocs: Vec::new(),
    })
}

/// Expands `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`, `${V:?m}`, `${V?m}`, `${V#pat}`,
/// `${V##pat}`, `${V%pat}`, `${V%%pat}`, `${V/pat/repl}`, `${V//pat/repl}` in one word
/// and removes its quotes, as BuildKit's `ProcessWord` with `\` as the escape character. `lookup`
/// gives a variable's value (None: unset).
pub fn expand(word: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    expand_with(word, '\\', &lookup)
}

/// [`expand`] with the Dockerfile's escape character.
pub fn expand_with(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let chars: Vec<char> = word.chars().collect();
    let mut lx = Lexer {
        c: &chars,
        pos: 0,
        escape,
        lookup,
        keep_unset: false,
        quoted: false,
        raw_escapes: false,
    };
    lx.word(None)
}

/// Expands a line into words, as BuildKit's `ProcessWords` (COPY/ADD sources in shell form):
/// unquoted blanks separate words, and so do blanks in the value of an unquoted variable.
pub fn expand_words(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ExpandError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lx = Lexer {
        c: &chars,
        pos: 0,
        escape,
        lookup,
        keep_unset: false,
        quoted: false,
        raw_escapes: false,
    };
    lx.words()
}

struct Lexer<'a> {
    c: &'a [char],
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Leave unset variables as written (BuildKit's `SkipUnsetEnv`, for heredoc names).
    keep_unset: bool,
    /// Whether a quote was met (a quoted heredoc name means no expansion).
    quoted: bool,
    /// Keep escape characters in the result (BuildKit's `rawEscapes`, for `#`/`%`/`/` patterns).
    raw_escapes: bool,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.c.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn words(&mut self) -> Result<Vec<String>, ExpandError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        fn flush(cur: &mut String, words: &mut Vec<String>) {
            if !cur.is_empty() {
                words.push(std::mem::take(cur));
            }
        }
        while let Some(c) = self.next() {
            if c.is_whitespace() {
                flush(&mut cur, &mut words);
            } else if c == '\'' {
                cur.push_str(&self.single()?);
            } else if c == '"' {
                cur.push_str(&self.double()?);
            } else if c == '$' {
                for ch in self.dollar()?.chars() {
                    if ch.is_whitespace() {
                        flush(&mut cur, &mut words);
                    } else {
                        cur.push(ch);
                    }
                }
            } else if c == self.escape {
                if let Some(n) = self.next() {
                    cur.push(n);
                }
            } else {
                cur.push(c);
            }
        }
        flush(&mut cur, &mut words);
        Ok(words)
    }

    /// Reads up to `stop` (consumed) or the end (None).
    fn word(&mut self, stop: Option<char>) -> Result<String, ExpandError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            self.pos += 1;
            if c == '\'' {
                out.push_str(&self.single()?);
            } else if c == '"' {
                out.push_str(&self.double()?);
            } else if c == '$' {
                out.push_str(&self.dollar()?);
            } else if c == self.escape {
                if self.raw_escapes {
                    out.push(c);
                }
                // An escape at the end is dropped.
                if let Some(n) = self.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        match stop {
            Some('/') => return Err(ExpandError("syntax error: missing '/' in ${}".into())),
            Some(_) => return Err(ExpandError("syntax error: missing '}'".into())),
            None => {}
        }
        Ok(out)
    }

    fn single(&mut self) -> Result<String, ExpandError> {
        self.quoted = true;
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ))
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double(&mut self) -> Result<String, ExpandError> {
        self.quoted = true;
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    ))
                }
                Some('"') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => {
                    if self.raw_escapes {
                        out.push(c);
                    }
                    match self.peek() {
                        Some(n) if n == '"' || n == '$' || n == self.escape => {
                            self.pos += 1;
                            out.push(n);
                        }
                        _ => out.push(c),
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            // Positional parameters: all the digits.
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            // Special parameters: one character (never set in a Dockerfile).
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                return c.to_string();
            }
            _ => {}
        }
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                name.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        name
    }

    /// [`Lexer::word`] up to `stop` with raw escapes on or off (BuildKit's `processStopOn(stop,
    /// rawEscapes)`: a pattern keeps its escape characters for the glob), restored after.
    fn word_raw(&mut self, stop: char, raw: bool) -> Result<String, ExpandError> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw);
        let r = self.word(Some(stop));
        self.raw_escapes = saved;
        r
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        let start = self.pos - 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match (self.lookup)(&name) {
                Some(v) => v,
                None if self.keep_unset => self.c[start..self.pos].iter().collect(),
                None => String::new(),
            });
        }
        self.pos += 1;
        if matches!(self.peek(), Some('{' | '}' | ':')) {
            return Err(ExpandError("syntax error: bad substitution".into()));
        }
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError("bad substitution".into()));
        }
        let value = (self.lookup)(&name);
        let (colon, op) = match self.next() {
            Some('}') => {
                return Ok(match value {
                    Some(v) => v,
                    None if self.keep_unset => self.c[start..self.pos].iter().collect(),
                    None => String::new(),
                })
            }
            Some(':') => (true, self.next()),
            Some(c @ ('-' | '+' | '?' | '#' | '%')) => (false, Some(c)),
            Some('/') => return self.replace(&name, value),
            None => return Err(ExpandError("syntax error: missing '}'".into())),
            Some(c) => {
                return Err(ExpandError(format!(
                    "unsupported modifier ({c}) in substitution"
                )))
            }
        };
        let chs = format!(
            "{}{}",
            if colon { ":" } else { "" },
            op.map(String::from).unwrap_or_default()
        );
        let trim = matches!(op, Some('#' | '%'));
        if colon && trim {
            return Err(ExpandError(format!(
                "unsupported modifier ({chs}) in substitution"
            )));
        }
        let word = self.word_raw('}', trim)?;
        if value.is_none() && self.keep_unset {
            return Ok(format!("${{{name}{chs}{word}}}"));
        }
        // With a colon, an empty value counts as unset.
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            Some('-') => Ok(if set { value.unwrap_or_default() } else { word }),
            Some('+') => Ok(if set { word } else { String::new() }),
            Some('?') => {
                if set {
                    Ok(value.unwrap_or_default())
                } else if !word.is_empty() {
                    Err(ExpandError(format!("{name}: {word}")))
                } else if colon && value.is_some() {
                    Err(ExpandError(format!("{name}: is not allowed to be empty")))
                } else {
                    Err(ExpandError(format!("{name}: is not allowed to be unset")))
                }
            }
            Some(c @ ('#' | '%')) => {
                // `#`/`%` remove the shortest match, `##`/`%%` the longest.
                let (greedy, pattern) = match word.strip_prefix(c) {
                    Some(p) => (true, p),
                    None => (false, word.as_str()),
                };
                let value = value.unwrap_or_default();
                if c == '#' {
                    trim_prefix(pattern, &value, greedy)
                } else {
                    trim_suffix(pattern, &value, greedy)
                }
            }
            _ => Err(ExpandError(format!(
                "unsupported modifier ({chs}) in substitution"
            ))),
        }
    }

    /// `${V/pat/repl}` and `${V//pat/repl}` (the first `/` is read): BuildKit replaces the
    /// leftmost longest match of the glob, or every match (with Go's `ReplaceAllString`).
    fn replace(&mut self, name: &str, value: Option<String>) -> Result<String, ExpandError> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let pattern = self.word_raw('/', true)?;
        let repl = self.word_raw('}', true)?;
        if value.is_none() && self.keep_unset {
            return Ok(format!("${{{name}/{pattern}/{repl}}}"));
        }
        // An unset value is matched as empty: an empty pattern still inserts `repl`.
        replace_in(&pattern, &value.unwrap_or_default(), &repl, all)
    }
}

/// One element of a shell pattern as BuildKit's `convertShellPatternToRegex` makes it.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Glob {
    /// `*`: any run of characters but a newline (Go's `.` without the `s` flag).
    Star,
    /// `?`: one character but a newline.
    Any,
    Lit(char),
}

/// Parses a pattern: `*`, `?`, `\*`, `\?`, `\\` (literal), `\}` and `\/` (the escape dropped);
/// any other escape is an error, as in BuildKit.
fn glob(pattern: &str) -> Result<Vec<Glob>, ExpandError> {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = Vec::with_capacity(p.len());
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => out.push(Glob::Star),
            '?' => out.push(Glob::Any),
            '\\' => match p.get(i + 1) {
                Some('}' | '/') => {}
                Some(&c @ ('*' | '?' | '\\')) => {
                    out.push(Glob::Lit(c));
                    i += 1;
                }
                other => {
                    let what = other.map_or("at the end".to_string(), |c| format!("'\\{c}'"));
                    return Err(ExpandError(format!(
                        "invalid pattern ({pattern}) in substitution: invalid escape {what}"
                    )));
                }
            },
            c => out.push(Glob::Lit(c)),
        }
        i += 1;
    }
    Ok(out)
}

/// Where the first match (Go's leftmost-first preference: lazy stars take as little as they
/// can, greedy ones as much) of `g` starting at `at` in `v` ends. Memoised: O(|g|·|v|²).
fn match_at(g: &[Glob], v: &[char], at: usize, greedy: bool) -> Option<usize> {
    fn go(
        g: &[Glob],
        v: &[char],
        pi: usize,
        vi: usize,
        greedy: bool,
        memo: &mut [Option<Option<usize>>],
    ) -> Option<usize> {
        let slot = pi * (v.len() + 1) + vi;
        if let Some(r) = memo[slot] {
            return r;
        }
        let r = match g.get(pi) {
            None => Some(vi),
            Some(Glob::Lit(c)) => (v.get(vi) == Some(c))
                .then(|| go(g, v, pi + 1, vi + 1, greedy, memo))
                .flatten(),
            Some(Glob::Any) => v
                .get(vi)
                .filter(|&&c| c != '\n')
                .and_then(|_| go(g, v, pi + 1, vi + 1, greedy, memo)),
            Some(Glob::Star) => {
                let max = v[vi..].iter().take_while(|&&c| c != '\n').count();
                let mut found = None;
                for k in 0..=max {
                    let k = if greedy { max - k } else { k };
                    if let Some(e) = go(g, v, pi + 1, vi + k, greedy, memo) {
                        found = Some(e);
                        break;
                    }
                }
                found
            }
        };
        memo[slot] = Some(r);
        r
    }
    let mut memo = vec![None; (g.len() + 1) * (v.len() + 1)];
    go(g, v, 0, at, greedy, &mut memo)
}

/// `${V#pat}` / `${V##pat}`: removes the shortest / longest prefix matching `pattern`.
fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let g = glob(pattern)?;
    let v: Vec<char> = value.chars().collect();
    Ok(match match_at(&g, &v, 0, greedy) {
        Some(end) => v[end..].iter().collect(),
        None => value.to_string(),
    })
}

/// `${V%pat}` / `${V%%pat}`: as BuildKit, reverses the pattern (keeping `\x` pairs) and the
/// value, and trims a prefix.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, ExpandError> {
    let reversed: String = value.chars().rev().collect();
    let out = trim_prefix(&reverse_pattern(pattern), &reversed, greedy)?;
    Ok(out.chars().rev().collect())
}

/// BuildKit's `reversePattern`: `a\*c` → `c\*a`.
fn reverse_pattern(pattern: &str) -> String {
    let p: Vec<char> = pattern.chars().collect();
    let mut out = vec![' '; p.len()];
    let last = p.len().saturating_sub(1);
    let mut i = 0;
    while i < p.len() {
        let o = last - i;
        if p[i] == '\\' && i != last {
            out[o - 1] = '\\';
            out[o] = p[i + 1];
            i += 2;
        } else {
            out[o] = p[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// Replaces the leftmost match of `pattern` (greedy stars) in `value` by `repl`, or all matches
/// as Go's `Regexp.ReplaceAllString` (empty matches next to a previous match skipped, `$0` /
/// `$$` in `repl` expanded).
fn replace_in(pattern: &str, value: &str, repl: &str, all: bool) -> Result<String, ExpandError> {
    let g = glob(pattern)?;
    let v: Vec<char> = value.chars().collect();
    let find =
        |from: usize| (from..=v.len()).find_map(|s| match_at(&g, &v, s, true).map(|e| (s, e)));
    if !all {
        return Ok(match find(0) {
            Some((s, e)) => {
                let mut out: String = v[..s].iter().collect();
                out.push_str(repl);
                out.extend(&v[e..]);
                out
            }
            None => value.to_string(),
        });
    }
    let mut out = String::new();
    let (mut search, mut last_end) = (0, 0);
    while search <= v.len() {
        let Some((s, e)) = find(search) else { break };
        out.extend(&v[last_end..s]);
        if e > last_end || s == 0 {
            go_expand(&mut out, repl, &v[s..e]);
        }
        last_end = e;
        search = if search + 1 > e { search + 1 } else { e };
    }
    out.extend(&v[last_end.min(v.len())..]);
    Ok(out)
}

/// Go's `Regexp.expand` for a pattern without groups: `$$` is `$`, `$0`/`${0}` the match, any
/// other `$name`/`${name}` nothing, a `$` not followed by a name is kept.
fn go_expand(out: &mut String, repl: &str, matched: &[char]) {
    let r: Vec<char> = repl.chars().collect();
    let mut i = 0;
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    while i < r.len() {
        if r[i] != '$' {
            out.push(r[i]);
            i += 1;
            continue;
        }
        if r.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        let (name, next): (String, usize) = if r.get(i + 1) == Some(&'{') {
            match r[i + 2..].iter().position(|&c| c == '}') {
                Some(n) if n > 0 && r[i + 2..i + 2 + n].iter().all(|&c| is_name(c)) => {
                    (r[i + 2..i + 2 + n].iter().collect(), i + 3 + n)
                }
                _ => (String::new(), i + 1),
            }
        } else {
            let n = r[i + 1..].iter().take_while(|&&c| is_name(c)).count();
            (r[i + 1..i + 1 + n].iter().collect(), i + 1 + n)
        };
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        if name.chars().all(|c| c.is_ascii_digit()) && name.parse::<u64>() == Ok(0) {
            out.extend(matched);
        }
        i = next;
    }
}

#[cfg(test)]
mod tests;
