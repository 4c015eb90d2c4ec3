//! Golden tests: each case in `testdata/golden.json` was rendered by Go's text/template with
//! Docker's template functions (`testdata/gen`, see `testdata/README.md`); berth must print the
//! same bytes, or fail where Go failed. Error messages are not compared, only that there is one.

use berth_template::Template;
use serde_json::Value;

/// Where berth prints otherwise than Go on purpose, with what berth prints. Go's input here is
/// `encoding/json`'s decoding, where a null is a nil interface (`<no value>`); in berth a null
/// stands for what Docker's structs hold as a nil pointer, slice or map, which Go prints as
/// `<nil>`, as DESIGN.md and the unit tests say. Go must still differ on each (checked below).
const KNOWN: &[(&str, &str)] = &[
    ("field-null", "<nil>"),
    ("nested-null", "<nil>"),
    ("index-null-entry", "<nil>"),
    ("range-mixed", "<1><a><true><<nil>><1.5><map[k:v]><[1 2]>"),
];

#[test]
fn berth_prints_what_go_printed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/golden.json");
    let text = std::fs::read_to_string(path).expect("read testdata/golden.json");
    let golden: Value = serde_json::from_str(&text).expect("golden.json is JSON");
    let default = &golden["data"];
    let cases = golden["cases"].as_array().expect("cases");
    assert!(cases.len() > 200, "only {} cases", cases.len());
    let mut wrong = Vec::new();
    for c in cases {
        let name = c["name"].as_str().expect("name");
        let template = c["template"].as_str().expect("template");
        let data = c.get("data").unwrap_or(default);
        let got = Template::parse(template).and_then(|t| t.render(data));
        if let Some((_, berth)) = KNOWN.iter().find(|(n, _)| *n == name) {
            assert_ne!(
                c.get("output").and_then(Value::as_str),
                Some(*berth),
                "{name}"
            );
            assert_eq!(got.as_deref().ok(), Some(*berth), "{name}");
            continue;
        }
        match (&got, c.get("output").and_then(Value::as_str)) {
            (Ok(out), Some(want)) if out == want => {}
            (Err(_), None) => {}
            (got, want) => wrong.push(format!(
                "{name}: {template:?}\n   go: {}\n  berth: {got:?}",
                match want {
                    Some(w) => format!("{w:?}"),
                    None => format!("error {}", c["error"]),
                }
            )),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases differ from Go:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}
