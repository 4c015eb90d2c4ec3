//! `.dockerignore` files, read and matched exactly as Docker and BuildKit do.
//!
//! Reading follows moby/patternmatcher's `ignorefile.ReadAll`: a UTF-8 BOM is dropped, lines
//! starting with `#` are comments, blank lines are skipped, each line is trimmed, a leading `!`
//! marks an exception, the rest goes through Go's `filepath.Clean` and loses one leading `/`.
//!
//! Matching follows `patternmatcher.PatternMatcher.MatchesOrParentMatches`: Go's `filepath.Match`
//! syntax (`*` and `?` never cross a `/`, `[...]` classes with `^` negation, `\` escapes) plus `**`
//! for any number of directories; a pattern that matches a parent directory matches everything
//! below it; the last matching pattern wins, so a later `!pattern` re-includes. Patterns are
//! checked as `filepath.Match` checks them, and also for what Docker's regexp compiler rejects
//! (a reversed range such as `[z-a]`), so a bad pattern is an error naming its line, not a
//! surprise in the middle of a build.
//!
//! [`Matcher::can_skip_dir`] is BuildKit's (fsutil's) walk optimisation: an excluded directory is
//! skipped whole unless an exception could re-include something inside it.
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One pattern line of an ignore file, as `ignorefile.ReadAll` yields it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the file.
    pub line: usize,
    /// The cleaned pattern, with its leading `!` if it is an exception.
    pub pattern: String,
}

/// Reads an ignore file's text as moby/patternmatcher's `ignorefile.ReadAll`.
pub fn read_all(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, raw) in text.split('\n').enumerate() {
        // bufio.ScanLines: the last line may be empty (no line), a trailing \r is dropped.
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with('#') {
            continue;
        }
        let mut pattern = raw.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut p = String::new();
        if !pattern.is_empty() {
            p = clean(pattern);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        if invert {
            p.insert(0, '!');
        }
        out.push(Line {
            line: i + 1,
            pattern: p,
        });
    }
    out
}

/// Go's `path.Clean` (and `filepath.Clean` on Unix).
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(last) if *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`.
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: `[^/]*`
    Star,
    /// `?`: `[^/]`
    Quest,
    /// `**` followed by more: `(.*/)?`
    Dirs,
    /// trailing `**` after other wildcards: `.*`
    All,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    Prefix,
    Suffix,
    Tokens(Vec<Tok>),
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    cleaned: String,
    exclusion: bool,
    kind: Kind,
}

impl Pattern {
    /// The cleaned pattern, without its `!`.
    pub fn as_str(&self) -> &str {
        &self.cleaned
    }

    /// Whether this is an exception (`!pattern`).
    pub fn is_exclusion(&self) -> bool {
        self.exclusion
    }

    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.cleaned,
            Kind::Prefix => path.starts_with(&self.cleaned[..self.cleaned.len() - 2]),
            Kind::Suffix => {
                let suffix = &self.cleaned[2..];
                path.ends_with(suffix) || (suffix.starts_with('/') && path == &suffix[1..])
            }
            Kind::Tokens(toks) => {
                let s: Vec<char> = path.chars().collect();
                match_toks(toks, &s)
            }
        }
    }
}

fn match_toks(toks: &[Tok], s: &[char]) -> bool {
    let Some((first, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match first {
        Tok::Lit(c) => s.first() == Some(c) && match_toks(rest, &s[1..]),
        Tok::Quest => matches!(s.first(), Some(c) if *c != '/') && match_toks(rest, &s[1..]),
        Tok::Class { negated, ranges } => match s.first() {
            Some(c) => {
                let hit = ranges.iter().any(|(lo, hi)| lo <= c && c <= hi);
                hit != *negated && match_toks(rest, &s[1..])
            }
            None => false,
        },
        Tok::Star => {
            let mut i = 0;
            loop {
                if match_toks(rest, &s[i..]) {
                    return true;
                }
                if i >= s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::All => {
            let mut i = 0;
            loop {
                if match_toks(rest, &s[i..]) {
                    return true;
                }
                // Go's regexp `.` does not match a newline.
                if i >= s.len() || s[i] == '\n' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::Dirs => {
            if match_toks(rest, s) {
                return true;
            }
            for (j, c) in s.iter().enumerate() {
                if *c == '\n' {
                    return false;
                }
                if *c == '/' && match_toks(rest, &s[j + 1..]) {
                    return true;
                }
            }
            false
        }
    }
}

/// Checks `p` as Go's `filepath.Match` does (chunk by chunk, `getEsc`), and for reversed ranges,
/// which Docker's regexp compiler rejects. Returns why it is bad.
fn validate(p: &str) -> std::result::Result<(), &'static str> {
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                if i + 1 >= c.len() {
                    return Err("trailing backslash");
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut nrange = 0;
                loop {
                    if c.get(i) == Some(&']') && nrange > 0 {
                        i += 1;
                        break;
                    }
                    let (lo, ni) = get_esc(&c, i)?;
                    i = ni;
                    let mut hi = lo;
                    if c.get(i) == Some(&'-') {
                        let (h, ni) = get_esc(&c, i + 1)?;
                        hi = h;
                        i = ni;
                    }
                    if lo > hi {
                        return Err("reversed character class range");
                    }
                    nrange += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

fn get_esc(c: &[char], mut i: usize) -> std::result::Result<(char, usize), &'static str> {
    match c.get(i) {
        None => return Err("unclosed character class"),
        Some('-') | Some(']') => return Err("bad character class"),
        Some('\\') => {
            i += 1;
            if i >= c.len() {
                return Err("unclosed character class");
            }
        }
        _ => {}
    }
    let r = c[i];
    if i + 1 >= c.len() {
        return Err("unclosed character class");
    }
    Ok((r, i + 1))
}

/// Compiles a validated pattern as patternmatcher's `Pattern.compile`.
fn compile(p: &str) -> Kind {
    #[derive(PartialEq)]
    enum T {
        Exact,
        Prefix,
        Suffix,
        Re,
    }
    let c: Vec<char> = p.chars().collect();
    let mut toks = Vec::new();
    let mut ty = T::Exact;
    let mut i = 0;
    let mut iter = 0;
    while i < c.len() {
        let ch = c[i];
        i += 1;
        match ch {
            '*' if c.get(i) == Some(&'*') => {
                i += 1;
                if c.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= c.len() {
                    if ty == T::Exact {
                        ty = T::Prefix;
                    } else {
                        toks.push(Tok::All);
                        ty = T::Re;
                    }
                } else {
                    toks.push(Tok::Dirs);
                    ty = T::Re;
                }
                if iter == 0 {
                    ty = T::Suffix;
                }
            }
            '*' => {
                toks.push(Tok::Star);
                ty = T::Re;
            }
            '?' => {
                toks.push(Tok::Quest);
                ty = T::Re;
            }
            '\\' => {
                // validate() guarantees a following char.
                toks.push(Tok::Lit(c[i]));
                i += 1;
                ty = T::Re;
            }
            '[' => {
                let mut negated = false;
                if c.get(i) == Some(&'^') {
                    negated = true;
                    i += 1;
                }
                let mut ranges = Vec::new();
                loop {
                    if c[i] == ']' && !ranges.is_empty() {
                        i += 1;
                        break;
                    }
                    if c[i] == '\\' {
                        i += 1;
                    }
                    let lo = c[i];
                    i += 1;
                    let mut hi = lo;
                    if c[i] == '-' {
                        i += 1;
                        if c[i] == '\\' {
                            i += 1;
                        }
                        hi = c[i];
                        i += 1;
                    }
                    ranges.push((lo, hi));
                }
                toks.push(Tok::Class { negated, ranges });
                ty = T::Re;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                ty = T::Re;
            }
            other => toks.push(Tok::Lit(other)),
        }
        iter += 1;
    }
    match ty {
        T::Exact => Kind::Exact,
        T::Prefix => Kind::Prefix,
        T::Suffix => Kind::Suffix,
        T::Re => Kind::Tokens(toks),
    }
}

/// A list of ignore patterns, as patternmatcher's `PatternMatcher`.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

impl Matcher {
    /// Compiles patterns as `patternmatcher.New` (each trimmed, empty ones skipped, cleaned).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher> {
        let lines: Vec<(Option<usize>, &str)> =
            patterns.iter().map(|p| (None, p.as_ref())).collect();
        Self::build(".dockerignore", &lines)
    }

    /// Reads and compiles an ignore file's text; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Matcher> {
        let lines = read_all(text);
        let lines: Vec<(Option<usize>, &str)> = lines
            .iter()
            .map(|l| (Some(l.line), l.pattern.as_str()))
            .collect();
        Self::build(source, &lines)
    }

    fn build(source: &str, lines: &[(Option<usize>, &str)]) -> Result<Matcher> {
        let mut m = Matcher::default();
        for (line, raw) in lines {
            let at = match line {
                Some(n) => format!("{source}:{n}"),
                None => source.to_string(),
            };
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let mut p = clean(p);
            let mut exclusion = false;
            if let Some(rest) = p.strip_prefix('!') {
                if rest.is_empty() {
                    return Err(Error::InvalidInput(format!(
                        "{at}: illegal exclusion pattern: \"!\""
                    )));
                }
                exclusion = true;
                p = rest.to_string();
                m.exclusions = true;
            }
            if let Err(why) = validate(&p) {
                return Err(Error::InvalidInput(format!(
                    "{at}: bad pattern {raw:?}: syntax error in pattern ({why})"
                )));
            }
            let kind = compile(&p);
            m.patterns.push(Pattern {
                cleaned: p,
                exclusion,
                kind,
            });
        }
        Ok(m)
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Whether any pattern is an exception (`!`).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded, as
    /// `MatchesOrParentMatches`: the last pattern matching it or one of its parents wins. The
    /// context root itself (`.`) is never excluded.
    pub fn matches(&self, path: &str) -> bool {
        let file = clean(path);
        if file == "." {
            return false;
        }
        let parent = dir(&file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for pat in &self.patterns {
            if pat.exclusion != matched {
                continue;
            }
            let mut hit = pat.matches(&file);
            if !hit && parent != "." {
                for i in 0..parent_dirs.len() {
                    if pat.matches(&parent_dirs[..=i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !pat.exclusion;
            }
        }
        matched
    }

    /// Whether a walk of the context can skip directory `dir` and everything below it, as
    /// BuildKit's fsutil decides: the directory is excluded, and no exception can re-include
    /// anything inside it (if any exception has a wildcard other than a trailing `/**` or `/*`,
    /// every excluded directory must be walked).
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.matches(dir) {
            return false;
        }
        if !self.exclusions {
            return true;
        }
        const WILD: &[char] = &['*', '[', ']', '?', '^', '\\'];
        let dir_slash = format!("{}/", clean(dir));
        for pat in self.patterns.iter().filter(|p| p.exclusion) {
            let s = pat.cleaned.as_str();
            let s = s.strip_suffix("/**").unwrap_or(s);
            let s = s.strip_suffix("/*").unwrap_or(s);
            if s.contains(WILD) {
                return false;
            }
            if format!("{}/", pat.cleaned).starts_with(&dir_slash) {
                return false;
            }
        }
        true
    }
}

/// The ignore file that applies to a build: `FILE.dockerignore` next to the Dockerfile `FILE`
/// if it exists, else `.dockerignore` at the context root, else none. `dockerfile` is the
/// Dockerfile's path as the build resolved it (`None` for a Dockerfile read from stdin).
pub fn ignore_file_path(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    if let Some(df) = dockerfile {
        let mut name = df.as_os_str().to_os_string();
        name.push(".dockerignore");
        let specific = PathBuf::from(name);
        if specific.is_file() {
            return Some(specific);
        }
    }
    let root = context.join(".dockerignore");
    root.is_file().then_some(root)
}

/// Reads the ignore file that applies to a build ([`ignore_file_path`]); no file is no patterns.
pub fn load(context: &Path, dockerfile: Option<&Path>) -> Result<Matcher> {
    let Some(path) = ignore_file_path(context, dockerfile) else {
        return Ok(Matcher::default());
    };
    let text = std::fs::read(&path).map_err(|source| Error::Io {
        action: "read",
        path: path.clone(),
        source,
    })?;
    Matcher::parse(&path.display().to_string(), &String::from_utf8_lossy(&text))
}
