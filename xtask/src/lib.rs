//! The clap definitions of every tool, and what is generated from them: man pages (`man/`) and
//! shell completions. The same `command()` that parses a tool's arguments feeds both, so help,
//! man page and completion never drift apart.

use std::path::Path;

/// Every tool's command, in name order: those of the multicall binary's table (a test checks
/// that it lists every crate under `tools/`).
pub fn commands() -> Vec<clap::Command> {
    berth_multicall::TOOLS
        .iter()
        .map(|t| (t.command)())
        .collect()
}

/// The man page of `cmd`, in roff: NAME, SYNOPSIS, DESCRIPTION (the about text, then the prose of
/// the after-help), OPTIONS, EXAMPLES (the after-help's `Examples:` block, lines kept as written),
/// VERSION.
pub fn man_page(cmd: &clap::Command) -> Vec<u8> {
    use clap_mangen::roff::{roman, Roff};
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let (prose, examples) = split_examples(&after);
    let about = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let description = [about, prose]
        .into_iter()
        .filter(|s| !s.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    let cmd = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>)
        .long_about(description);
    let man = clap_mangen::Man::new(cmd.clone())
        .section("1")
        .source("berth")
        .manual("berth manual");
    let mut out = Vec::new();
    let mut sections = || -> std::io::Result<()> {
        man.render_title(&mut out)?;
        man.render_name_section(&mut out)?;
        man.render_synopsis_section(&mut out)?;
        man.render_description_section(&mut out)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut out)?;
        }
        if !examples.is_empty() {
            let mut roff = Roff::default();
            roff.control("SH", ["EXAMPLES"]);
            roff.control("nf", []);
            for line in &examples {
                roff.text([roman(line.as_str())]);
            }
            roff.control("fi", []);
            roff.to_writer(&mut out)?;
        }
        if cmd.get_version().is_some() {
            man.render_version_section(&mut out)?;
        }
        Ok(())
    };
    sections().expect("rendering to memory cannot fail");
    out
}

/// Splits a tool's after-help into its prose and the lines of its `Examples:` block (the indented
/// lines after an `Examples:` or `Example:` line, up to the next unindented one).
fn split_examples(text: &str) -> (String, Vec<String>) {
    let mut prose: Vec<&str> = Vec::new();
    let mut examples: Vec<String> = Vec::new();
    let mut in_examples = false;
    for line in text.lines() {
        let heading = matches!(line.trim_end(), "Examples:" | "Example:");
        if heading {
            in_examples = true;
            continue;
        }
        if in_examples && (line.starts_with(' ') || line.trim().is_empty()) {
            examples.push(line.strip_prefix("  ").unwrap_or(line).to_string());
            continue;
        }
        in_examples = false;
        prose.push(line);
    }
    while examples.last().is_some_and(|l| l.trim().is_empty()) {
        examples.pop();
    }
    let prose = prose.join("\n").trim().to_string();
    (prose, examples)
}

/// Writes `DIR/<tool>.1` for every tool.
pub fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for cmd in commands() {
        std::fs::write(dir.join(format!("{}.1", cmd.get_name())), man_page(&cmd))?;
    }
    Ok(())
}

/// The tools whose man page in `dir` is missing or differs from what their definition makes.
pub fn stale_man_pages(dir: &Path) -> Vec<String> {
    commands()
        .iter()
        .filter(|cmd| {
            let path = dir.join(format!("{}.1", cmd.get_name()));
            std::fs::read(path).ok() != Some(man_page(cmd))
        })
        .map(|cmd| cmd.get_name().to_string())
        .collect()
}

/// Writes bash, zsh and fish completions for every tool into `dir` (as `berth --completions`).
pub fn write_completions(dir: &Path) -> std::io::Result<()> {
    berth_multicall::write_completions(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_split_from_the_prose_wherever_they_are() {
        let (prose, ex) = split_examples(
            "Examples:\n  a --x\n  b | c\n\nProse one.\nMore prose.\n\nExample:\n  d\n",
        );
        assert_eq!(ex, ["a --x", "b | c", "", "d"]);
        assert_eq!(prose, "Prose one.\nMore prose.");
        let (prose, ex) = split_examples("Only prose.\n  indented prose\n");
        assert!(ex.is_empty());
        assert_eq!(prose, "Only prose.\n  indented prose");
    }

    #[test]
    fn every_page_has_examples_not_extra() {
        let cmd = commands()
            .into_iter()
            .find(|c| c.get_name() == "ctr-run")
            .expect("ctr-run is a tool");
        let page = String::from_utf8(man_page(&cmd)).unwrap();
        assert!(page.contains(".SH EXAMPLES\n.nf\n"), "{page}");
        assert!(!page.contains(".SH EXTRA"));
        assert!(
            page.contains("ctr\\-run \\-\\-rm busybox echo hi\n"),
            "{page}"
        );
        assert!(page.contains("Creates the container as ctr\\-create does"));
    }
}
