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
    // Go gives a map of strings' missing key as "" (was <no value>), a field as <no value>.
    ("{{index .Config.Labels \"missing\"}}", ""),
    ("{{.Config.Labels.missing}}", "<no value>"),
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
        "{{lt 1 2}} {{le 2 2}} {{gt 1.5 2.0}} {{ge \"b\" \"a\"}}",
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
    ("{{print nil}}", "<nil>"),
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
    ("line1\n{{.Os | | upper}}", "2:"),
    ("{{nil | print}}", "nil is not a command"),
    ("{{gt 1.5 2}}", "incompatible types"),
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

/// Docker's container formatter, as `docker ps --format` sees it: a struct.
fn ps_row() -> Value {
    json!({"ID": "0123456789ab", "Names": "web", "Labels": "a=1,b=2", "Size": "0B"})
}

fn render_ps(t: &str) -> Result<String, TemplateError> {
    let labels = json!({"a": "1", "b": "2"});
    fn label(labels: &Value, args: &[Value]) -> Result<Value, String> {
        match &args[0] {
            Value::String(k) => Ok(labels.get(k).cloned().unwrap_or(json!(""))),
            other => Err(format!(
                "wrong type for value; expected string; got {other}"
            )),
        }
    }
    let methods = [Method {
        name: "Label",
        args: 1,
        call: label,
    }];
    let row = ps_row();
    Template::parse(t)?.render_struct(&Struct {
        type_name: "*formatter.ContainerContext",
        fields: &row,
        private: &labels,
        methods: &methods,
    })
}

#[test]
fn a_structs_missing_field_is_an_error_as_go_says_it() {
    assert_eq!(
        render_ps("{{.Foo}}").unwrap_err().to_string(),
        "template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type \
         *formatter.ContainerContext"
    );
    assert_eq!(
        render_ps("{{.ID}}\n  {{.Nope}}").unwrap_err().to_string(),
        "template: :2:4: executing \"\" at <.Nope>: can't evaluate field Nope in type \
         *formatter.ContainerContext"
    );
    for t in [
        "{{$.Foo}}",
        "{{with .}}{{.Foo}}{{end}}",
        "{{$x := .}}{{$x.Foo}}",
        "{{if .Foo}}{{end}}",
        "{{printf \"%s\" (.Foo)}}",
    ] {
        let e = render_ps(t).unwrap_err().to_string();
        assert!(
            e.contains("can't evaluate field Foo in type *formatter.ContainerContext"),
            "{t}: {e}"
        );
    }
    // Its fields are values as before: a field of a string is an error, of a map is not.
    assert!(render_ps("{{.Names.X}}")
        .unwrap_err()
        .to_string()
        .contains("can't evaluate field X in type string"));
    assert_eq!(render_ps("{{.ID}} {{.Names}}").unwrap(), "0123456789ab web");
    assert_eq!(render_ps("{{json .Names}}").unwrap(), "\"web\"");
    assert_eq!(
        render_ps("{{json .}}").unwrap(),
        r#"{"ID":"0123456789ab","Names":"web","Labels":"a=1,b=2","Size":"0B"}"#
    );
    // A map still prints a missing key as <no value>.
    assert_eq!(run("{{.Foo}}", ps_row()), "<no value>");
}

#[test]
fn struct_methods_take_arguments() {
    assert_eq!(render_ps("{{.Label \"a\"}}").unwrap(), "1");
    assert_eq!(render_ps("{{.Label \"zz\"}}").unwrap(), "");
    assert_eq!(render_ps("{{$.Label \"b\" | upper}}").unwrap(), "2");
    assert_eq!(render_ps("{{with .}}{{.Label \"b\"}}{{end}}").unwrap(), "2");
    assert_eq!(
        render_ps("{{if eq (.Label \"a\") \"1\"}}yes{{end}}").unwrap(),
        "yes"
    );
    let e = render_ps("{{.Label}}").unwrap_err().to_string();
    assert!(
        e.contains("wrong number of args for Label: want 1 got 0"),
        "{e}"
    );
    let e = render_ps("{{.Label \"a\" \"b\"}}").unwrap_err().to_string();
    assert!(
        e.contains("wrong number of args for Label: want 1 got 2"),
        "{e}"
    );
    let e = render_ps("{{.Label 1}}").unwrap_err().to_string();
    assert!(e.contains("expected string"), "{e}");
    let e = render_ps("{{.Names \"a\"}}").unwrap_err().to_string();
    assert!(e.contains("can't give argument to non-function"), "{e}");
}

#[test]
fn typed_documents_error_on_missing_struct_fields_not_map_keys() {
    let doc = json!({
        "Id": "x",
        "State": {"Status": "exited"},
        "Config": {"Labels": {"a": "1"}},
        "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
        "Mounts": [{"Name": "v"}],
    });
    let typed = Typed {
        structs: &["State"],
        optional: &["Health"],
    };
    let r = |t: &str| Template::parse(t).unwrap().render_typed(&doc, &typed);
    assert_eq!(r("{{.Id}} {{.State.Status}}").unwrap(), "x exited");
    assert_eq!(
        r("{{.Config.Labels.a}} {{.Config.Labels.b}}").unwrap(),
        "1 <no value>"
    );
    assert_eq!(
        r("{{.HostConfig.LogConfig.Config.max}}").unwrap(),
        "<no value>"
    );
    // Objects not known whole (maps, structs with left-out fields) and dot in a block.
    assert_eq!(r("{{.HostConfig.Nope}}").unwrap(), "<no value>");
    assert_eq!(
        r("{{range .Mounts}}{{.Driver}}{{end}}").unwrap(),
        "<no value>"
    );
    assert_eq!(r("{{.State.Health}}").unwrap(), "<nil>");
    assert!(r("{{.State.Health.Status}}").is_err(), "a nil pointer");
    assert_eq!(
        r("{{.Foo}}").unwrap_err().to_string(),
        "template: :1:2: executing \"\" at <.Foo>: map has no entry for key \"Foo\""
    );
    for t in ["{{.State.Foo}}", "{{$.Foo}}", "{{$x := .}}{{$x.Foo}}"] {
        let e = r(t).unwrap_err().to_string();
        assert!(e.contains("map has no entry for key \""), "{t}: {e}");
    }
    // Without types, as before: every object is a map.
    assert_eq!(
        run("{{.Foo}} {{.State.Foo}}", doc.clone()),
        "<no value> <no value>"
    );
}
