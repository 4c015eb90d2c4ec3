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
//! Known differences, all in patterns no one writes: Docker turns a pattern into a Go regexp
//! character by character, so inside `[...]` a `*` or `?` becomes regexp text, and `\d`, `\w`
//! or `[[:alpha:]]` take their RE2 meaning; here those are plain characters, as in
//! `filepath.Match`. A bad pattern is refused when the file is read, where Docker only fails
//! when a path is matched against it.
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
        // "a/b/c" -> ["a", "a/b"]: the parents each pattern is also tried on.
        let parents: Vec<&str> = if parent == "." {
            Vec::new()
        } else {
            let mut v: Vec<&str> = parent
                .match_indices('/')
                .map(|(i, _)| &parent[..i])
                .collect();
            v.push(&parent);
            v
        };
        let mut matched = false;
        for pat in &self.patterns {
            if pat.exclusion != matched {
                continue;
            }
            let mut hit = pat.matches(&file);
            if !hit {
                hit = parents.iter().any(|p| pat.matches(p));
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
    // The context's own file is read inside the context: a `.dockerignore` that is a symlink
    // (in a tar given on stdin, say) does not make the build read a file outside it.
    let text = match path.strip_prefix(context) {
        Ok(rel) => {
            use std::io::Read;
            let dest = crate::unpack::Dest::open(context)?;
            let fd = dest
                .open_in(rel, rustix::fs::OFlags::RDONLY)
                .map_err(|source| Error::io("read", &path, source))?;
            let mut text = Vec::new();
            std::fs::File::from(fd)
                .read_to_end(&mut text)
                .map_err(|source| Error::io("read", &path, source))?;
            text
        }
        Err(_) => std::fs::read(&path).map_err(|source| Error::Io {
            action: "read",
            path: path.clone(),
            source,
        })?,
    };
    Matcher::parse(&path.display().to_string(), &String::from_utf8_lossy(&text))
}

#[cfg(test)]
mod tests {
    //! Ported from moby/patternmatcher's patternmatcher_test.go and ignorefile_test.go.
    use super::*;

    fn m(patterns: &[&str], path: &str) -> bool {
        Matcher::new(patterns).unwrap().matches(path)
    }

    #[test]
    fn simple_cases() {
        assert!(m(&["*"], "fileutils.go"));
        assert!(m(&["*.go"], "fileutils.go"));
        assert!(m(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!m(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!m(&["docs/", "!docs/README.md"], "docs/README.md"));
        assert!(!m(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(!m(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(!m(&["*.go"], "."));
        assert!(!m(&[], "/any/path/there"));
        assert!(Matcher::new(&["!"]).is_err());
        assert!(Matcher::new(&["["]).is_err());
    }

    const MATCHES: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
    ];

    #[test]
    fn matches_table() {
        for (pattern, text, pass) in MATCHES {
            assert_eq!(
                m(&[pattern], text),
                *pass,
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    #[test]
    fn multi_pattern_table() {
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", &format!("!{whl}")], whl, false),
            (&["**", "!dist/*.whl"], whl, false),
        ];
        for (patterns, text, pass) in cases {
            assert_eq!(
                m(patterns, text),
                *pass,
                "patterns {patterns:?} text {text:?}"
            );
        }
    }

    /// Go's filepath.Match tests, as patternmatcher runs them (Some = match result, None = bad).
    const MATCH_TESTS: &[(&str, &str, Option<bool>)] = &[
        ("abc", "abc", Some(true)),
        ("*", "abc", Some(true)),
        ("*c", "abc", Some(true)),
        ("a*", "a", Some(true)),
        ("a*", "abc", Some(true)),
        ("a*", "ab/c", Some(true)),
        ("a*/b", "abc/b", Some(true)),
        ("a*/b", "a/c/b", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
        ("ab[c]", "abc", Some(true)),
        ("ab[b-d]", "abc", Some(true)),
        ("ab[e-g]", "abc", Some(false)),
        ("ab[^c]", "abc", Some(false)),
        ("ab[^b-d]", "abc", Some(false)),
        ("ab[^e-g]", "abc", Some(true)),
        ("a\\*b", "a*b", Some(true)),
        ("a\\*b", "ab", Some(false)),
        ("a?b", "a☺b", Some(true)),
        ("a[^a]b", "a☺b", Some(true)),
        ("a???b", "a☺b", Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false)),
        ("[a-ζ]*", "α", Some(true)),
        ("*[a-ζ]", "A", Some(false)),
        ("a?b", "a/b", Some(false)),
        ("a*b", "a/b", Some(false)),
        ("[\\]a]", "]", Some(true)),
        ("[\\-]", "-", Some(true)),
        ("[x\\-]", "x", Some(true)),
        ("[x\\-]", "-", Some(true)),
        ("[x\\-]", "z", Some(false)),
        ("[\\-x]", "x", Some(true)),
        ("[\\-x]", "-", Some(true)),
        ("[\\-x]", "a", Some(false)),
        ("[]a]", "]", None),
        ("[-]", "-", None),
        ("[x-]", "x", None),
        ("[x-]", "-", None),
        ("[x-]", "z", None),
        ("[-x]", "x", None),
        ("[-x]", "-", None),
        ("[-x]", "a", None),
        ("\\", "a", None),
        ("[a-b-c]", "a", None),
        ("[", "a", None),
        ("[^", "a", None),
        ("[^bc", "a", None),
        ("a[", "a", None),
        ("a[", "ab", None),
        ("*x", "xxx", Some(true)),
    ];

    #[test]
    fn filepath_match_table() {
        for (pattern, s, want) in MATCH_TESTS {
            match (Matcher::new(&[pattern]), want) {
                (Ok(pm), Some(w)) => assert_eq!(pm.matches(s), *w, "{pattern:?} {s:?}"),
                (Err(_), None) => {}
                (r, w) => panic!("{pattern:?} {s:?}: got {r:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn compile_table() {
        use Kind::*;
        let re = || Tokens(Vec::new());
        let cases: &[(&str, Kind)] = &[
            ("*", re()),
            ("file*", re()),
            ("*file", re()),
            ("a*/b", re()),
            ("**", Suffix),
            ("**/**", re()),
            ("dir/**", Prefix),
            ("**/dir", Suffix),
            ("**/dir2/*", re()),
            ("**/dir2/**", re()),
            ("**file", Suffix),
            ("**/file*txt", re()),
            ("**/**/*.txt", re()),
            ("a[b-d]e", re()),
            (".*", re()),
            ("abc.def", Exact),
            ("abc?def", re()),
            ("**/foo/bar", Suffix),
            ("a(b)c/def", Exact),
            ("a.|)$(}+{bc", Exact),
            (
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                Exact,
            ),
        ];
        for (pattern, want) in cases {
            let got = compile(&clean(pattern));
            let same = matches!(
                (&got, want),
                (Exact, Exact) | (Prefix, Prefix) | (Suffix, Suffix) | (Tokens(_), Tokens(_))
            );
            assert!(same, "{pattern:?}: {got:?}");
        }
        // `^(.*/)?(.*/)?[^/]*\.txt$` and `^(.*/)?dir2/.*$`
        assert_eq!(
            compile("**/**/*.txt"),
            Tokens(
                [Tok::Dirs, Tok::Dirs, Tok::Star]
                    .into_iter()
                    .chain(".txt".chars().map(Tok::Lit))
                    .collect()
            )
        );
        assert_eq!(
            compile("**/dir2/**"),
            Tokens(
                std::iter::once(Tok::Dirs)
                    .chain("dir2/".chars().map(Tok::Lit))
                    .chain(std::iter::once(Tok::All))
                    .collect()
            )
        );
    }

    #[test]
    fn clean_patterns() {
        let pm = Matcher::new(&["docs", "config", ""]).unwrap();
        assert_eq!(pm.patterns().len(), 2);
        assert!(!pm.has_exclusions());
        for p in [
            &["docs", "!docs/README.md"][..],
            &["docs", "  !docs/README.md"],
            &["docs", "!docs/README.md  "],
        ] {
            let pm = Matcher::new(p).unwrap();
            assert!(pm.has_exclusions());
            assert_eq!(pm.patterns()[1].as_str(), "docs/README.md");
        }
    }

    #[test]
    fn malformed_pattern_is_an_error_at_parse_time() {
        // Docker accepts it and fails on every match (moby/moby#52203); we refuse it up front.
        let err = Matcher::parse(".dockerignore", "a\n\n[Local-Only]/\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".dockerignore:3"), "{err}");
        assert!(err.contains("[Local-Only]"), "{err}");
        let err = Matcher::parse("x.dockerignore", "# c\nfoo[\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.dockerignore:2") && err.contains("foo["),
            "{err}"
        );
        let err = Matcher::parse(".dockerignore", "a\n!\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(".dockerignore:2"), "{err}");
    }

    #[test]
    fn read_all_table() {
        assert!(read_all("").is_empty());
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        let got: Vec<String> = read_all(content).into_iter().map(|l| l.pattern).collect();
        assert_eq!(
            got,
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        let lines: Vec<usize> = read_all(content).into_iter().map(|l| l.line).collect();
        assert_eq!(lines, [1, 2, 3, 5, 7, 8, 9]);
        // BOM, CRLF, cleaning, `#` only at the very start of a line.
        let got: Vec<String> = read_all("\u{feff}a/./b/../c\r\n  # not a comment\r\n//x//\n")
            .into_iter()
            .map(|l| l.pattern)
            .collect();
        assert_eq!(got, ["a/c", "# not a comment", "x"]);
    }

    #[test]
    fn clean_is_go_clean() {
        for (i, o) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/..", "."),
            ("../a", "../a"),
            ("a/../../b", "../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/b/./c/..", "a/b"),
        ] {
            assert_eq!(clean(i), o, "{i:?}");
        }
    }

    #[test]
    fn last_match_wins_and_directories() {
        let pm = Matcher::parse(
            ".dockerignore",
            "*.md\n!README.md\nnode_modules\n**/*.tmp\n!keep/**\n",
        )
        .unwrap();
        assert!(pm.matches("CHANGES.md"));
        assert!(!pm.matches("README.md"));
        assert!(!pm.matches("docs/a.md")); // `*` does not cross `/`
        assert!(pm.matches("node_modules"));
        assert!(pm.matches("node_modules/x/y.js"));
        assert!(pm.matches("a/b/c.tmp"));
        assert!(pm.matches("c.tmp"));
        assert!(!pm.matches("keep/c.tmp"));
        assert!(!pm.matches("src/main.rs"));
        assert!(!pm.matches("."));
    }

    /// The examples of Docker's `.dockerignore` reference.
    #[test]
    fn docker_reference_examples() {
        let pm = Matcher::parse(".dockerignore", "# comment\n*/temp*\n*/*/temp*\ntemp?\n").unwrap();
        assert!(pm.matches("somedir/temporary.txt"));
        assert!(pm.matches("somedir/temp"));
        assert!(!pm.matches("temporary.txt"));
        assert!(pm.matches("somedir/subdir/temporary.txt"));
        assert!(pm.matches("tempa"));
        assert!(!pm.matches("tempab"));
        let pm = Matcher::parse(".dockerignore", "*.md\n!README*.md\nREADME-secret.md\n").unwrap();
        assert!(pm.matches("CHANGES.md"));
        assert!(!pm.matches("README-public.md"));
        assert!(pm.matches("README-secret.md"));
        let pm = Matcher::parse(".dockerignore", "*.md\nREADME-secret.md\n!README*.md\n").unwrap();
        assert!(!pm.matches("README-secret.md"));
        let pm = Matcher::parse(".dockerignore", "**/*.go\n").unwrap();
        assert!(pm.matches("main.go") && pm.matches("a/b/c.go") && !pm.matches("a/go"));
    }

    #[test]
    fn skip_dir_as_fsutil() {
        let pm = Matcher::new(&["docs", "!docs/README.md", "build"]).unwrap();
        assert!(!pm.can_skip_dir("docs")); // an exception lies under it
        assert!(pm.matches("docs"));
        assert!(pm.matches("docs/other.md"));
        assert!(!pm.matches("docs/README.md"));
        assert!(pm.can_skip_dir("build"));
        assert!(!pm.can_skip_dir("src")); // not excluded at all

        let pm = Matcher::new(&["vendor", "!vendor/keep/**"]).unwrap();
        assert!(!pm.can_skip_dir("vendor"));
        assert!(!pm.matches("vendor/keep/a"));
        assert!(pm.matches("vendor/other/a"));

        // A wildcard exception anywhere: no excluded directory can be skipped.
        let pm = Matcher::new(&["tmp", "out", "!**/*.keep"]).unwrap();
        assert!(!pm.can_skip_dir("tmp"));
        assert!(!pm.matches("tmp/a/x.keep"));
        assert!(pm.matches("tmp/a/x"));

        let pm = Matcher::new(&["**"]).unwrap();
        assert!(pm.can_skip_dir("anything"));
    }

    #[test]
    fn ignore_file_lookup() {
        let tmp = std::env::temp_dir().join(format!("berth-dockerignore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("sub")).unwrap();
        let df = tmp.join("sub/Dockerfile.test");
        assert_eq!(ignore_file_path(&tmp, Some(&df)), None);
        assert!(load(&tmp, Some(&df)).unwrap().patterns().is_empty());
        std::fs::write(tmp.join(".dockerignore"), "a\n").unwrap();
        assert_eq!(
            ignore_file_path(&tmp, Some(&df)),
            Some(tmp.join(".dockerignore"))
        );
        assert_eq!(
            ignore_file_path(&tmp, None),
            Some(tmp.join(".dockerignore"))
        );
        std::fs::write(tmp.join("sub/Dockerfile.test.dockerignore"), "b\n[\n").unwrap();
        assert_eq!(
            ignore_file_path(&tmp, Some(&df)),
            Some(tmp.join("sub/Dockerfile.test.dockerignore"))
        );
        let err = load(&tmp, Some(&df)).unwrap_err().to_string();
        assert!(err.contains("Dockerfile.test.dockerignore:2"), "{err}");
        assert!(load(&tmp, None).unwrap().matches("a/x"));
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
