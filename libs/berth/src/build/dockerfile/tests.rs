//! Tests ported from BuildKit: `frontend/dockerfile/shell/envVarTest` (kept as is in
//! `testdata/envVarTest`), the parser's `testfiles` and its heredoc and directive tests.

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "PWD" => Some("/home".into()),
        "SHELL" => Some("bash".into()),
        "KOREAN" => Some("한국어".into()),
        "NULL" => Some(String::new()),
        _ => None,
    }
}

#[test]
fn env_var_test() {
    let table = include_str!("../testdata/envVarTest");
    let mut n = 0;
    for (i, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.trim().split('|').collect();
        assert_eq!(parts.len(), 3, "line {}", i + 1);
        let (platform, source, expected) = (parts[0].trim(), parts[1].trim(), parts[2].trim());
        if platform == "W" {
            continue;
        }
        n += 1;
        let got = expand(source, env);
        if expected == "error" {
            assert!(got.is_err(), "line {}: {source:?} gave {got:?}", i + 1);
        } else {
            assert_eq!(got.as_deref(), Ok(expected), "line {}: {source:?}", i + 1);
        }
    }
    assert!(n > 200, "{n} cases");
}

fn shell(s: &str) -> Args {
    Args::Shell(s.into())
}

fn kinds(text: &str) -> Vec<Kind> {
    parse(text)
        .unwrap()
        .instructions
        .into_iter()
        .map(|i| i.kind)
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

// testfiles/continueIndent
#[test]
fn continue_indent() {
    let text = "FROM ubuntu:14.04\n\nRUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\nRUN echo hello  \\\n  world\nRUN echo hello  \\\nworld\nRUN echo hello \\\ngoodbye\\\nfrog\nRUN echo hello  \\  \nworld\nRUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\nRUN echo goodbye\\\nfrog\nRUN echo good\\\nbye\\\nfrog\n\nRUN echo hello \\\n# this is a comment\n\n# this is a comment with a blank line surrounding it\n\nthis is some more useful stuff\n";
    let k = kinds(text);
    let want = [
        "echo hello  world  goodnight    moon  lightning",
        "echo hello    world",
        "echo hello  world",
        "echo hello goodbyefrog",
        "echo hello  world",
        "echo hi   world  goodnight",
        "echo goodbyefrog",
        "echo goodbyefrog",
        "echo hello this is some more useful stuff",
    ];
    assert_eq!(k.len(), want.len() + 1);
    for (got, want) in k[1..].iter().zip(want) {
        assert_eq!(got, &Kind::Run(shell(want)));
    }
    let d = parse(text).unwrap();
    assert_eq!(d.instructions[1].line, 3);
    assert_eq!(d.instructions[9].line, 31);
}

// testfiles/env
#[test]
fn env_forms() {
    let text = r#"FROM ubuntu
ENV name value
ENV name=value
ENV name=value name2=value2
ENV name="value value1"
ENV name=value\ value2
ENV name="value'quote space'value2"
ENV name='value"double quote"value2'
ENV name=value\ value2 name2=value2\ value3
ENV name="a\"b"
ENV name="a\'b"
ENV name='a\'b'
ENV name='a\'b''
ENV name='a\"b'
ENV name="''"
ENV name=value \
    name1=value1 \
    name2="value2a \
           value2b" \
    name3="value3a\n\"value3b\"" \
	name4="value4a\\nvalue4b" \
"#;
    let k = kinds(text);
    let want: Vec<Vec<(&str, &str)>> = vec![
        vec![("name", "value")],
        vec![("name", "value")],
        vec![("name", "value"), ("name2", "value2")],
        vec![("name", "\"value value1\"")],
        vec![("name", "value\\ value2")],
        vec![("name", "\"value'quote space'value2\"")],
        vec![("name", "'value\"double quote\"value2'")],
        vec![("name", "value\\ value2"), ("name2", "value2\\ value3")],
        vec![("name", "\"a\\\"b\"")],
        vec![("name", "\"a\\'b\"")],
        vec![("name", "'a\\'b'")],
        vec![("name", "'a\\'b''")],
        vec![("name", "'a\\\"b'")],
        vec![("name", "\"''\"")],
        vec![
            ("name", "value"),
            ("name1", "value1"),
            ("name2", "\"value2a            value2b\""),
            ("name3", "\"value3a\\n\\\"value3b\\\"\""),
            ("name4", "\"value4a\\\\nvalue4b\""),
        ],
    ];
    assert_eq!(k.len(), want.len() + 1);
    for (got, want) in k[1..].iter().zip(want) {
        assert_eq!(got, &Kind::Env(pairs(&want)));
    }
    // Expanded as the builder does: quotes go.
    let Kind::Env(p) = &k[4] else { panic!() };
    assert_eq!(expand(&p[0].1, env).unwrap(), "value value1");
}

// testfiles/escape, escape-nonewline, escape-after-comment
#[test]
fn escape_directive() {
    let d = parse("#escape = `\n\nFROM image\nLABEL maintainer foo@bar.com\nENV GOPATH `\n\\go")
        .unwrap();
    assert_eq!(d.escape, '`');
    assert_eq!(d.directive("escape"), Some("`"));
    assert_eq!(
        d.instructions[1].kind,
        Kind::Label(pairs(&[("maintainer", "foo@bar.com")]))
    );
    assert_eq!(
        d.instructions[2].kind,
        Kind::Env(pairs(&[("GOPATH", "\\go")]))
    );
    let d = parse("# escape = `\n# There is no white space line after the directives.\nFROM image\nENV GOPATH `\n\\go\n").unwrap();
    assert_eq!(
        d.instructions[1].kind,
        Kind::Env(pairs(&[("GOPATH", "\\go")]))
    );
    let d = parse("# Comment here.\n# escape = `\n\nFROM image\nENV GOPATH \\\n\\go").unwrap();
    assert_eq!(d.escape, '\\');
    assert!(d.directives.is_empty());
    assert_eq!(
        d.instructions[1].kind,
        Kind::Env(pairs(&[("GOPATH", "\\go")]))
    );
    let d = parse("# syntax=docker/dockerfile:1\n# ESCAPE=`\nFROM x\n").unwrap();
    assert_eq!(d.directive("syntax"), Some("docker/dockerfile:1"));
    assert_eq!(d.escape, '`');
    assert!(parse("# escape=x\nFROM x")
        .unwrap_err()
        .to_string()
        .starts_with("Dockerfile:1:"));
    assert!(parse("# escape=`\n# escape=\\\nFROM x").is_err());
}

// testfiles/continue-at-eof, trailing-backslash
#[test]
fn trailing_backslash() {
    assert_eq!(
        kinds("FROM alpine:3.5\n\nRUN something \\")[1],
        Kind::Run(shell("something"))
    );
    let k = kinds("FROM hello-world\n\nENV A path\nENV B another\\\\path\nENV C trailing\\\\backslash\\\\\nENV D This should not be appended to C\nENV E hello\\\n\\\nworld\nENV F hello\\\n \\\nworld\nENV G hello \\\n\\\nworld\n");
    let want = [
        ("A", "path"),
        ("B", "another\\\\path"),
        ("C", "trailing\\\\backslash\\\\"),
        ("D", "This should not be appended to C"),
        ("E", "helloworld"),
        ("F", "hello world"),
        ("G", "hello world"),
    ];
    assert_eq!(k.len(), 8);
    for (got, want) in k[1..].iter().zip(want) {
        assert_eq!(got, &Kind::Env(pairs(&[want])));
    }
}

// testfiles/flags
#[test]
fn flags() {
    let d = parse("FROM scratch\nCOPY foo /tmp/\nCOPY --user=me foo /tmp/\nCOPY --user=me --doit=true foo /tmp/\nCOPY --doit=true -- foo /tmp/\nCOPY -- foo /tmp/\nCMD --doit [ \"a\", \"b\" ]\nCMD --doit -- [ ]\nRUN --mount=type=cache,target=/c --mount=type=secret,id=s --network=none make\n").unwrap();
    let f = |i: usize| d.instructions[i].flags.clone();
    let fl = |v: &[(&str, Option<&str>)]| -> Vec<(String, Option<String>)> {
        v.iter()
            .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
            .collect()
    };
    assert_eq!(f(1), fl(&[]));
    assert_eq!(f(2), fl(&[("user", Some("me"))]));
    assert_eq!(f(3), fl(&[("user", Some("me")), ("doit", Some("true"))]));
    assert_eq!(f(4), fl(&[("doit", Some("true"))]));
    assert_eq!(d.instructions[4].kind, Kind::Copy(shell("foo /tmp/")));
    assert_eq!(d.instructions[5].kind, Kind::Copy(shell("foo /tmp/")));
    assert_eq!(f(6), fl(&[("doit", None)]));
    assert_eq!(
        d.instructions[6].kind,
        Kind::Cmd(Args::Exec(vec!["a".into(), "b".into()]))
    );
    assert_eq!(d.instructions[7].kind, Kind::Cmd(Args::Exec(vec![])));
    let run = &d.instructions[8];
    let mounts: Vec<_> = run.flag_values("mount").collect();
    assert_eq!(
        mounts,
        [Some("type=cache,target=/c"), Some("type=secret,id=s")]
    );
    assert_eq!(run.kind, Kind::Run(shell("make")));
}

// testfiles/json and the jeztah-invalid-json ones (fall back to shell form)
#[test]
fn json_forms() {
    let k = kinds("CMD []\nCMD [\"\"]\nCMD [\"a\",\"b\"]\nCMD [\t\"a\",\t\"b\"\t]\nCMD\t[\t\"a\",\t\"b\"\t]\t\nCMD [\"abc 123\", \"♥\", \"\\\" \\\\ \\/ \\n \\u0000\"]\nCMD [ \"echo\", \"[\"]'\nCMD ['echo','x']\nCMD [\"echo\", \"x\"\n");
    let ex = |v: &[&str]| Kind::Cmd(Args::Exec(v.iter().map(|s| s.to_string()).collect()));
    assert_eq!(k[0], ex(&[]));
    assert_eq!(k[1], ex(&[""]));
    assert_eq!(k[2], ex(&["a", "b"]));
    assert_eq!(k[3], ex(&["a", "b"]));
    assert_eq!(k[4], ex(&["a", "b"]));
    assert_eq!(k[5], ex(&["abc 123", "♥", "\" \\ / \n \u{0}"]));
    assert_eq!(k[6], Kind::Cmd(shell("[ \"echo\", \"[\"]'")));
    assert_eq!(k[7], Kind::Cmd(shell("['echo','x']")));
    assert_eq!(k[8], Kind::Cmd(shell("[\"echo\", \"x\"")));
    assert!(parse("FROM x\nSHELL /bin/sh -c").is_err());
    assert_eq!(
        kinds("SHELL [\"sh\", \"-c\"]")[0],
        Kind::Shell(vec!["sh".into(), "-c".into()])
    );
}

#[test]
fn from_arg_label_misc() {
    let d = parse("ARG V=3.18\nARG A B=\"x y\"\nfrom --platform=$BUILDPLATFORM alpine:${V} as Build\nFROM build\nLABEL a=b \"c d\"=e\nEXPOSE 80/tcp 443\nHEALTHCHECK --interval=5s CMD [\"true\"]\nHEALTHCHECK NONE\nONBUILD RUN echo hi\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nUSER me\nWORKDIR /w\nSTOPSIGNAL SIGTERM\nENTRYPOINT exec x\n").unwrap();
    let (pre, stages) = d.stages();
    assert_eq!(pre.len(), 2);
    assert_eq!(stages.len(), 2);
    let k: Vec<&Kind> = d.instructions.iter().map(|i| &i.kind).collect();
    assert_eq!(*k[0], Kind::Arg(vec![("V".into(), Some("3.18".into()))]));
    assert_eq!(
        *k[1],
        Kind::Arg(vec![
            ("A".into(), None),
            ("B".into(), Some("\"x y\"".into()))
        ])
    );
    assert_eq!(
        *k[2],
        Kind::From {
            image: "alpine:${V}".into(),
            name: Some("Build".into())
        }
    );
    assert_eq!(d.instructions[2].keyword, "FROM");
    assert_eq!(
        d.instructions[2].flags,
        vec![("platform".into(), Some("$BUILDPLATFORM".into()))]
    );
    assert_eq!(*k[4], Kind::Label(pairs(&[("a", "b"), ("\"c d\"", "e")])));
    assert_eq!(*k[5], Kind::Expose(vec!["80/tcp".into(), "443".into()]));
    assert_eq!(
        *k[6],
        Kind::Healthcheck {
            test: "CMD".into(),
            cmd: Some(Args::Exec(vec!["true".into()]))
        }
    );
    assert_eq!(
        d.instructions[6].flags,
        vec![("interval".into(), Some("5s".into()))]
    );
    assert_eq!(
        *k[7],
        Kind::Healthcheck {
            test: "NONE".into(),
            cmd: None
        }
    );
    let Kind::Onbuild(t) = k[8] else { panic!() };
    assert_eq!(t.kind, Kind::Run(shell("echo hi")));
    assert_eq!(
        k[9].clone(),
        Kind::Volume(Args::Exec(vec!["/a".into(), "/b".into()]))
    );
    let Kind::Volume(v) = k[10] else { panic!() };
    assert_eq!(v.words('\\'), ["/c", "/d"]);
    assert_eq!(*k[14], Kind::Entrypoint(shell("exec x")));
    assert!(k[2].expands() && !k[14].expands());
}

#[test]
fn errors_name_the_line() {
    let e = |t: &str| parse(t).unwrap_err().to_string();
    assert_eq!(
        e("FROM x\n\nFROBNICATE y"),
        "Dockerfile:3: unknown instruction: FROBNICATE"
    );
    assert_eq!(
        e("FROM x\nENV\n"),
        "Dockerfile:2: ENV requires at least one argument"
    );
    assert_eq!(
        e("FROM x y\n"),
        "Dockerfile:1: FROM requires either one or three arguments"
    );
    assert!(e("FROM x\nENV a=b c\n").starts_with("Dockerfile:2: Syntax error - can't find = in"));
    assert!(e("FROM x\nENV a\n").starts_with("Dockerfile:2:"));
    assert!(e("FROM x\nCOPY a\n").starts_with("Dockerfile:2:"));
    assert!(e("FROM x\nONBUILD ONBUILD RUN x\n").starts_with("Dockerfile:2:"));
    // testfiles-negative: empty and comment-only files.
    assert!(e("").contains("file with no instructions"));
    assert!(e("# comment\n\n# another\n").contains("file with no instructions"));
    assert_eq!(
        e("FROM x\nRUN <<EOF\nabc\n"),
        "Dockerfile:2: unterminated heredoc"
    );
}

// parser_heredoc_test.go
#[test]
fn heredocs() {
    let d = parse("FROM busybox\nRUN <<EOF\necho hello\necho world\nEOF\nRUN <<-EOF\n\techo tabs\n\tEOF\nRUN <<\"EOF\" bash\necho $HOME\nEOF\nRUN 3<<A cat - <<'B' /dev/fd/3\na\nA\nb\nB\nCOPY <<EOF /dest\ncontent\nEOF\nCOPY <<EOF1 <<EOF2 /dest/\n1\nEOF1\n2\nEOF2\nRUN cat <<EOF > file\nx\n\nEOF\nRUN echo a<<b\nRUN x\n").unwrap();
    let docs = |i: usize| d.instructions[i].heredocs.clone();
    let h = &docs(1)[0];
    assert_eq!(
        (h.name.as_str(), h.content.as_str(), h.expand, h.chomp),
        ("EOF", "echo hello\necho world\n", true, false)
    );
    assert_eq!(d.instructions[1].kind, Kind::Run(shell("<<EOF")));
    assert_eq!(d.instructions[1].end_line, 5);
    let h = &docs(2)[0];
    assert_eq!(
        (h.content.as_str(), h.text().as_str(), h.chomp),
        ("\techo tabs\n", "echo tabs\n", true)
    );
    let h = &docs(3)[0];
    assert_eq!((h.name.as_str(), h.expand), ("EOF", false));
    let h = docs(4);
    assert_eq!(h.len(), 2);
    assert_eq!(
        (h[0].fd, h[0].name.as_str(), h[0].content.as_str()),
        (3, "A", "a\n")
    );
    assert_eq!(
        (h[1].name.as_str(), h[1].content.as_str(), h[1].expand),
        ("B", "b\n", false)
    );
    assert_eq!(d.instructions[5].kind, Kind::Copy(shell("<<EOF /dest")));
    assert_eq!(docs(5)[0].content, "content\n");
    let h = docs(6);
    assert_eq!(
        (h[0].content.as_str(), h[1].content.as_str()),
        ("1\n", "2\n")
    );
    assert_eq!(docs(7)[0].content, "x\n\n");
    // `a<<b` is one word not starting with `<<`: no heredoc.
    assert!(docs(8).is_empty());
    assert_eq!(d.instructions[9].line, 30);
}

#[test]
fn expand_with_backtick() {
    let lookup = |n: &str| (n == "A").then(|| "1".to_string());
    assert_eq!(expand_with("a`$A\\x$A", '`', &lookup).unwrap(), "a$A\\x1");
    assert_eq!(expand("${A:-x}${B:-y}${A+z}${B+w}", lookup).unwrap(), "1yz");
    assert_eq!(expand("${B-d}", |_| Some(String::new())).unwrap(), "");
}

/// Every BuildKit parser testfile: the same instructions (keyword, count) as its `result`; the
/// negative ones fail.
#[test]
fn buildkit_testfiles() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/build/testdata/parser");
    let mut n = 0;
    for dir in std::fs::read_dir(root.join("testfiles")).unwrap() {
        let dir = dir.unwrap().path();
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let result = std::fs::read_to_string(dir.join("result")).unwrap();
        let d = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let want: Vec<String> = result
            .lines()
            .filter(|l| l.starts_with('('))
            .map(|l| l[1..].split([' ', ')']).next().unwrap().to_string())
            .collect();
        let got: Vec<String> = d
            .instructions
            .iter()
            .map(|i| i.keyword.to_ascii_lowercase())
            .collect();
        assert_eq!(got, want, "{}", dir.display());
        n += 1;
    }
    assert!(n >= 30, "{n} testfiles");
    for dir in std::fs::read_dir(root.join("testfiles-negative")).unwrap() {
        let dir = dir.unwrap().path();
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        assert!(parse(&text).is_err(), "{} parsed", dir.display());
    }
}

/// Go's `%q` for the characters these files hold.
fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// BuildKit's `Node.Dump` of one instruction, rebuilt from ours.
fn dump(i: &Instruction) -> String {
    let mut out = format!("({}", i.keyword.to_ascii_lowercase());
    if !i.flags.is_empty() {
        let f: Vec<String> = i
            .flags
            .iter()
            .map(|(n, v)| match v {
                Some(v) => q(&format!("--{n}={v}")),
                None => q(&format!("--{n}")),
            })
            .collect();
        out.push_str(&format!(" [{}]", f.join(" ")));
    }
    let args = |a: &Args, split: bool| -> Vec<String> {
        match a {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) if split => s.split_whitespace().map(str::to_string).collect(),
            Args::Shell(s) => vec![s.clone()],
        }
    };
    let words: Vec<String> = match &i.kind {
        Kind::From { .. } => {
            let rest = i.original.split_once(char::is_whitespace).unwrap().1;
            rest.split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .map(str::to_string)
                .collect()
        }
        Kind::Run(a) | Kind::Cmd(a) | Kind::Entrypoint(a) => args(a, false),
        Kind::Copy(a) | Kind::Add(a) | Kind::Volume(a) => args(a, true),
        Kind::Shell(v) | Kind::Expose(v) => v.clone(),
        Kind::Env(p) | Kind::Label(p) => {
            let rest = i.original.split_once(char::is_whitespace).unwrap().1;
            let old = !split_words(rest, '\\')[0].contains('=');
            p.iter()
                .flat_map(|(n, v)| [n.clone(), v.clone(), if old { "" } else { "=" }.to_string()])
                .collect()
        }
        Kind::Arg(p) => p
            .iter()
            .map(|(n, v)| match v {
                Some(v) => format!("{n}={v}"),
                None => n.clone(),
            })
            .collect(),
        Kind::Workdir(s) | Kind::User(s) | Kind::StopSignal(s) | Kind::Maintainer(s) => {
            vec![s.clone()]
        }
        Kind::Healthcheck { test, cmd } => {
            let mut w = if test.is_empty() {
                vec![]
            } else {
                vec![test.clone()]
            };
            if let Some(c) = cmd {
                w.extend(args(c, false));
            }
            w
        }
        Kind::Onbuild(inner) => return format!("{out} {})", dump(inner)),
    };
    for w in words {
        out.push(' ');
        out.push_str(&q(&w));
    }
    out.push(')');
    out
}

/// The testfiles again, instruction by instruction against BuildKit's dump.
#[test]
fn buildkit_testfiles_dump() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/build/testdata/parser");
    let mut bad = Vec::new();
    let mut n = 0;
    for dir in std::fs::read_dir(root.join("testfiles")).unwrap() {
        let dir = dir.unwrap().path();
        let text = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let result = std::fs::read_to_string(dir.join("result")).unwrap();
        let d = parse(&text).unwrap();
        for (i, want) in d
            .instructions
            .iter()
            .zip(result.lines().filter(|l| l.starts_with('(')))
        {
            n += 1;
            let got = dump(i);
            if got != want {
                bad.push(format!(
                    "{}:{}\n  got  {got}\n  want {want}",
                    dir.display(),
                    i.line
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {n} differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
    assert!(n > 280, "{n} instructions");
}

/// BuildKit's `shell/wordsTest` (kept as is in `testdata/wordsTest`).
#[test]
fn words_test() {
    let table = include_str!("../testdata/wordsTest");
    let mut envs: Vec<(String, String)> = Vec::new();
    let mut n = 0;
    for line in table.lines() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(e) = line.strip_prefix("ENV ") {
            let (k, v) = e.split_once('=').unwrap();
            envs.push((k.into(), v.into()));
            continue;
        }
        let Some((test, want)) = line.split_once('|') else {
            continue;
        };
        let lookup = |name: &str| {
            envs.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let got = expand_words(test.trim(), '\\', &lookup);
        let want = want.trim_start_matches(' ');
        if want == "error" {
            assert!(got.is_err(), "{test:?}: {got:?}");
        } else {
            let want: Vec<&str> = want.split(',').collect();
            assert_eq!(got.unwrap(), want, "{test:?}");
        }
        n += 1;
    }
    assert!(n >= 24, "{n}");
}

/// parser_heredoc_test.go: TestParseExtractsHeredoc and TestParseJSONHeredoc.
#[test]
fn buildkit_heredoc_cases() {
    let text = "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nUSER <<INVALID\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\nRUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\nRUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COPY\necho hello world\necho foo bar\nCOPY\n\nRUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\nCOPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\nRUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nCOPY <<file.txt /dest\nhello world\nfile.txt\n\nRUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\nRUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF\nEOF\n\nRUN <<  EOF  > foo\nEOF\n\t";
    // (name, content, expand, chomp, fd) per heredoc, per instruction after FROM.
    type H = (&'static str, &'static str, bool, bool, u32);
    let t = |n, c, e| -> H { (n, c, e, false, 0) };
    let want: Vec<Vec<H>> = vec![
        vec![],
        vec![],
        vec![], // USER <<INVALID (BuildKit's own case has an INVALID line next: ours rejects it)
        vec![t("EMPTY", "", true)],
        vec![("EMPTY2", "", true, false, 3)],
        vec![],
        vec![t("INDENT", "\tfoo\n\tbar\n", true)],
        vec![("UNINDENT", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("UNINDENT2", "\tbaz\n\tquux\n", true, true, 0)],
        vec![("EXPAND", "\texpand $NAME\n", true, true, 0)],
        vec![("NOEXPAND", "\tdon't expand $NAME\n", false, true, 0)],
        vec![t("COPY", "echo hello world\necho foo bar\n", true)],
        vec![t(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
        )],
        vec![t("MOUNT", "echo hello\n", true)],
        vec![
            t("FILE1", "content 1\n", true),
            t("FILE2", "content 2\n", true),
        ],
        vec![t("EOF", "\"foo\"\n'bar'\n", true)],
        vec![t("X", "Y\n", true), t("Y", "X\n", true)],
        vec![t("COMPLEX", "print('hello world')\n", true)],
        vec![t("file.txt", "hello world\n", true)],
        vec![t("eof", "echo foo\n", false)],
        vec![t("eo'f", "echo foo\n", true)],
        vec![t("eo'f", "echo foo\n", false)],
        vec![t("one two", "echo bar\n", false)],
        vec![t("$EOF", "", true)],
        vec![t("EOF", "", true)],
        vec![t("EOF", "", true)],
    ];
    let d = parse(text).unwrap();
    assert_eq!(d.instructions.len(), want.len() + 1);
    for (i, w) in d.instructions[1..].iter().zip(want) {
        let got: Vec<H> = i
            .heredocs
            .iter()
            .map(|h| {
                let name: &'static str = Box::leak(h.name.clone().into_boxed_str());
                let content: &'static str = Box::leak(h.content.clone().into_boxed_str());
                (name, content, h.expand, h.chomp, h.fd)
            })
            .collect();
        assert_eq!(got, w, "line {}", i.line);
    }
    let d = parse("\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t")
        .unwrap();
    assert!(d.instructions.iter().all(|i| i.heredocs.is_empty()));
}

/// directives.go: `#` first on the line, known names only, any other line ends them.
#[test]
fn directive_rules() {
    let d = parse("# check=skip=all\n#Syntax = x/y \n FROM a").unwrap();
    assert_eq!(
        d.directives,
        pairs(&[("check", "skip=all"), ("syntax", "x/y")])
    );
    let d = parse(" # escape=`\nFROM a").unwrap();
    assert_eq!(d.escape, '\\');
    let d = parse("# foo=bar\n# escape=`\nFROM a").unwrap();
    assert!(d.directives.is_empty());
    let d = parse("\n# escape=`\nFROM a").unwrap();
    assert!(d.directives.is_empty());
    assert_eq!(parse("# Escape=`\n#escape=`\nFROM a").unwrap_err().line, 2);
}

/// Variables as (name, value).
type Vars<'a> = &'a [(&'a str, &'a str)];

/// Expands `input` with the variables `vars`.
fn expand_vars(input: &str, vars: &[(&str, &str)]) -> Result<String, ExpandError> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expand(input, |n| {
        vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    })
}

/// BuildKit's `TestProcessWithMatches` cases for `#`, `%`, `/` (shell/lex_test.go), and its
/// `=` / `:#` errors.
#[test]
fn pattern_modifiers_buildkit_cases() {
    let ok: &[(&str, Vars, &str)] = &[
        (
            r"${FOO#()[]{\}^$.\*\?|\\}",
            &[("FOO", r"()[]{}^$.*?|\x")],
            "x",
        ),
        (r"${FOO%%\**}", &[("FOO", "xx**")], "xx"),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], "y"),
        ("${FOO#*}", &[("FOO", "xxyy")], "xxyy"),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], "xyy"),
        ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "")], "xxyy"),
        ("${FOO#}", &[("FOO", "xxyy")], "xxyy"),
        ("${FOO##*x}", &[("FOO", "xxyy")], "yy"),
        ("${FOO##}", &[("FOO", "xxyy")], "xxyy"),
        (r"${FOO#?\?}", &[("FOO", "???y")], "?y"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", &[("FOO", "xxyy")], ".xxyy."),
        (r"${FOO%%\**\*}", &[("FOO", "a***yy*")], "a"),
        ("${FOO%}", &[("FOO", "xxyy")], "xxyy"),
        ("${FOO%%$BAR}", &[("FOO", "xxyy"), ("BAR", "")], "xxyy"),
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", r"\*/")],
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            "/tmp/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "/a/foo/b/c.txt"),
                ("NEEDLE", "/?/"),
                ("REPLACEMENT", "/"),
            ],
            "/foo/b/c.txt - /foo/c.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "http://google.de"),
                ("NEEDLE", "http://"),
                ("REPLACEMENT", "https://"),
            ],
            "https://google.de",
        ),
        (
            r"${FOO//\//\/}",
            &[("FOO", "/tmp/foo.txt")],
            r"\/tmp\/foo.txt",
        ),
        ("${FOO/$BAR/ww}", &[("FOO", "xxyy"), ("BAR", "")], "wwxxyy"),
        ("${FOO///}", &[("FOO", "xxyy")], "xxyy"),
        ("${FOO///}", &[], ""),
        // Beyond BuildKit's table: each result checked with BuildKit's own pattern functions (Go).
        ("${F%.*}", &[("F", "a.tar.gz")], "a.tar"),
        ("${F%%.*}", &[("F", "a.tar.gz")], "a"),
        ("${F#*/}", &[("F", "usr/local/bin")], "local/bin"),
        ("${F##*/}", &[("F", "usr/local/bin")], "bin"),
        ("${F/o/0}", &[("F", "foo")], "f0o"),
        ("${F//o/0}", &[("F", "foo")], "f00"),
        ("${F//?/x}", &[("F", "abc")], "xxx"),
        ("${F/b*/X}", &[("F", "abcabc")], "aX"),
        ("${F//*/X}", &[("F", "ab")], "X"),
        ("${F#\"*\"}", &[("F", "ab")], "ab"),
        ("${F//x*/}", &[("F", "ax1\nbx2")], "a\nb"),
        ("${F#한}", &[("F", "한국어")], "국어"),
        ("${F%어}", &[("F", "한국어")], "한국"),
        ("${U#x}${U%x}${U/x/y}", &[], ""),
        // Results of BuildKit's functions (Go regexp) on these inputs, run on this machine.
        ("${F///-}", &[("F", "abc")], "-a-b-c-"),
        ("${F//X*/-}", &[("F", "aXbXc")], "a-"),
        (r"${F//b*/<\$0\$\$>}", &[("F", "abc")], r"a<\bc\$\$>"),
        (r"${F//\?/x}", &[("F", "a.b.c")], "a.b.c"),
        (r"${F//\?/x}", &[("F", "a?b")], "axb"),
    ];
    for (input, vars, want) in ok {
        assert_eq!(
            expand_vars(input, vars).as_deref(),
            Ok(*want),
            "{input:?} with {vars:?}"
        );
    }
    let bad: &[(&str, Vars)] = &[
        ("${FOO=aaa}", &[("FOO", "xxx")]),
        ("${FOO=:aaa}", &[("FOO", "xxx")]),
        ("${FOO=}", &[]),
        ("${FOO:#}", &[]),
        ("${FOO:##}", &[]),
        ("${FOO:%}", &[]),
        ("${FOO:%%}", &[]),
        ("${FOO//ww}", &[("FOO", "xxyy")]),
        ("${FOO//}", &[("FOO", "xxyy")]),
        ("${FOO#a", &[("FOO", "xxyy")]),
        (r"${FOO#\x}", &[("FOO", "xxyy")]),
        ("${FOO#$B}", &[("FOO", "xxyy"), ("B", "\\")]),
    ];
    for (input, vars) in bad {
        assert!(expand_vars(input, vars).is_err(), "{input:?} should fail");
    }
    let e = expand_vars("${FOO//ww}", &[("FOO", "x")]).unwrap_err();
    assert_eq!(e.0, "syntax error: missing '/' in ${}");
    let e = expand_vars("${FOO:#x}", &[]).unwrap_err();
    assert_eq!(e.0, "unsupported modifier (:#) in substitution");
    let e = expand_vars(r"${FOO#\x}", &[("FOO", "a")]).unwrap_err();
    assert!(e.0.contains(r"invalid escape '\x'"), "{e:?}");
}

/// BuildKit's `TestShellParserMandatoryEnvVars`.
#[test]
fn mandatory_vars_buildkit_cases() {
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";
    let set = [("VAR", "plain"), ("ARG", "x")];
    let empty = [("VAR", ""), ("ARG", "x")];
    let unset = [("ARG", "x")];
    assert_eq!(expand_vars(no_empty, &set).unwrap(), "plain");
    assert_eq!(
        expand_vars(no_empty, &empty).unwrap_err().0,
        "VAR: message herex"
    );
    assert_eq!(
        expand_vars(no_empty, &unset).unwrap_err().0,
        "VAR: message herex"
    );
    assert_eq!(expand_vars(no_unset, &set).unwrap(), "plain");
    assert_eq!(expand_vars(no_unset, &empty).unwrap(), "");
    assert_eq!(
        expand_vars(no_unset, &unset).unwrap_err().0,
        "VAR: message herex"
    );
    assert_eq!(
        expand_vars("${VAR:?}", &empty).unwrap_err().0,
        "VAR: is not allowed to be empty"
    );
    assert_eq!(
        expand_vars("${VAR?}", &[]).unwrap_err().0,
        "VAR: is not allowed to be unset"
    );
}

/// BuildKit's `TestConvertShellPatternToRegex` and `TestReversePattern`.
#[test]
fn glob_and_reverse_pattern() {
    assert_eq!(glob("*").unwrap(), vec![Glob::Star]);
    assert_eq!(glob("?").unwrap(), vec![Glob::Any]);
    assert_eq!(glob(r"\*").unwrap(), vec![Glob::Lit('*')]);
    let all: Vec<Glob> = r"(()[]{}^$.*?|\".chars().map(Glob::Lit).collect();
    assert_eq!(glob(r"(()[]{\}^$.\*\?|\\").unwrap(), all);
    for bad in [r"\", r"\x", r"\\\"] {
        assert!(glob(bad).is_err(), "{bad:?}");
    }
    for (p, want) in [
        (r"a\*c", r"c\*a"),
        (r"\\\ab", r"b\a\\"),
        (r"ab\", r"\ba"),
        (r"👽\🚀🖖", r"🖖\🚀👽"),
        (r"\\b", r"b\\"),
    ] {
        assert_eq!(reverse_pattern(p), want, "{p:?}");
    }
}

/// Modifiers as COPY sources split into words (ProcessWords) and with a backtick escape.
#[test]
fn pattern_modifiers_in_words_and_backtick() {
    let look = |n: &str| (n == "F").then(|| "a.tar.gz b.tgz".to_string());
    assert_eq!(
        expand_words("${F%.gz} x", '\\', &look).unwrap(),
        vec!["a.tar.gz", "b.tgz", "x"]
    );
    assert_eq!(
        expand_words("${F// /_}", '\\', &look).unwrap(),
        vec!["a.tar.gz_b.tgz"]
    );
    let look = |n: &str| (n == "F").then(|| "a*b".to_string());
    assert_eq!(expand_with("${F#a\\*}", '`', &look).unwrap(), "b");
}
