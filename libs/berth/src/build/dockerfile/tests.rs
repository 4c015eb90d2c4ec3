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
