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

/// The man page of `cmd`, in roff.
pub fn man_page(cmd: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("1")
        .source("berth")
        .manual("berth manual")
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
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
