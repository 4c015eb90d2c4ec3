//! The clap definitions of every tool, and what is generated from them: man pages (`man/`) and
//! shell completions. The same `command()` that parses a tool's arguments feeds both, so help,
//! man page and completion never drift apart.

use std::path::Path;

/// Every tool's command, in name order. A new tool is added here (a test checks that every
/// crate under `tools/` is).
pub fn commands() -> Vec<clap::Command> {
    vec![
        berth_monitor::command(),
        ctr_attach::command(),
        ctr_cp::command(),
        ctr_create::command(),
        ctr_diff::command(),
        ctr_exec::command(),
        ctr_export::command(),
        ctr_inspect::command(),
        ctr_kill::command(),
        ctr_logs::command(),
        ctr_ls::command(),
        ctr_pause::command(),
        ctr_port::command(),
        ctr_prune::command(),
        ctr_rename::command(),
        ctr_restart::command(),
        ctr_rm::command(),
        ctr_run::command(),
        ctr_start::command(),
        ctr_stats::command(),
        ctr_stop::command(),
        ctr_top::command(),
        ctr_unpause::command(),
        ctr_update::command(),
        ctr_wait::command(),
        img_commit::command(),
        img_history::command(),
        img_import::command(),
        img_inspect::command(),
        img_load::command(),
        img_login::command(),
        img_logout::command(),
        img_ls::command(),
        img_prune::command(),
        img_pull::command(),
        img_push::command(),
        img_rm::command(),
        img_save::command(),
        img_search::command(),
        img_tag::command(),
        img_unpack::command(),
        net_connect::command(),
        net_create::command(),
        net_disconnect::command(),
        net_inspect::command(),
        net_ls::command(),
        net_prune::command(),
        net_rm::command(),
        vol_create::command(),
        vol_inspect::command(),
        vol_ls::command(),
        vol_prune::command(),
        vol_rm::command(),
    ]
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

/// Writes bash, zsh and fish completions for every tool into `dir`.
pub fn write_completions(dir: &Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let sub = dir.join(shell.to_string());
        std::fs::create_dir_all(&sub)?;
        for mut cmd in commands() {
            let name = cmd.get_name().to_string();
            clap_complete::generate_to(shell, &mut cmd, name, &sub)?;
        }
    }
    Ok(())
}
