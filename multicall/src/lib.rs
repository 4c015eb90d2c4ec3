//! Every berth tool in one binary, as uutils' coreutils: the tool is chosen by the file name the
//! binary is run as (`img-ls`, a link to `berth`), or by the first argument (`berth img-ls …`).
//! Each tool stays its own crate with its own `command()` and `run()`; this crate only lists them.

use std::ffi::OsString;
use std::process::ExitCode;

/// One tool: its name (the command, the link's name), its clap definition (for man pages and
/// completions) and its entry point, which takes the command line with the tool's name first.
pub struct Tool {
    pub name: &'static str,
    pub command: fn() -> clap::Command,
    pub main: fn(Vec<OsString>) -> ExitCode,
}

macro_rules! tool {
    ($name:literal, $krate:ident, ctr_exec_main) => {
        Tool {
            name: $name,
            command: $krate::command,
            main: |args| {
                // The process that enters the container runs from a sealed copy of this binary,
                // so that nothing inside can write the binary through /proc/PID/exe
                // (CVE-2019-5736). The copy is run with the same arguments, so it is this tool
                // again.
                if let Err(e) = berth::container::protect_binary() {
                    eprintln!("{}: error: {e}", $name);
                    return ExitCode::from(125);
                }
                berth_cli::main_code($name, args, $krate::run)
            },
        }
    };
    ($name:literal, $krate:ident, $main:ident) => {
        Tool {
            name: $name,
            command: $krate::command,
            main: |args| berth_cli::$main($name, args, $krate::run),
        }
    };
}

/// Every tool, in name order. A new tool is added here (a test checks that every crate under
/// `tools/` is).
pub const TOOLS: &[Tool] = &[
    tool!("berth-monitor", berth_monitor, main),
    // runc's command line: its own errors and exit codes (containerd's shim reads them).
    Tool {
        name: "berth-runtime",
        command: berth_runtime_cli::command,
        main: |args| berth_runtime_cli::main("berth-runtime", args),
    },
    tool!("ctr-attach", ctr_attach, main_code),
    tool!("ctr-cp", ctr_cp, main),
    tool!("ctr-create", ctr_create, main_docker),
    tool!("ctr-diff", ctr_diff, main),
    tool!("ctr-exec", ctr_exec, ctr_exec_main),
    tool!("ctr-export", ctr_export, main),
    tool!("ctr-inspect", ctr_inspect, main),
    tool!("ctr-kill", ctr_kill, main),
    tool!("ctr-logs", ctr_logs, main),
    tool!("ctr-ls", ctr_ls, main),
    tool!("ctr-pause", ctr_pause, main),
    tool!("ctr-port", ctr_port, main),
    tool!("ctr-prune", ctr_prune, main),
    tool!("ctr-rename", ctr_rename, main),
    tool!("ctr-restart", ctr_restart, main),
    tool!("ctr-rm", ctr_rm, main),
    tool!("ctr-run", ctr_run, main_code_docker),
    tool!("ctr-start", ctr_start, main_code),
    tool!("ctr-stats", ctr_stats, main),
    tool!("ctr-stop", ctr_stop, main),
    tool!("ctr-top", ctr_top, main),
    tool!("ctr-unpause", ctr_unpause, main),
    tool!("ctr-update", ctr_update, main),
    tool!("ctr-wait", ctr_wait, main),
    tool!("img-add", img_add, main),
    tool!("img-build", img_build, main),
    tool!("img-commit", img_commit, main),
    tool!("img-config", img_config, main),
    tool!("img-history", img_history, main),
    tool!("img-import", img_import, main),
    tool!("img-inspect", img_inspect, main),
    tool!("img-load", img_load, main),
    tool!("img-login", img_login, main),
    tool!("img-logout", img_logout, main),
    tool!("img-ls", img_ls, main),
    tool!("img-prune", img_prune, main),
    tool!("img-pull", img_pull, main),
    tool!("img-push", img_push, main),
    tool!("img-rm", img_rm, main),
    tool!("img-run", img_run, main),
    tool!("img-save", img_save, main),
    tool!("img-search", img_search, main),
    tool!("img-tag", img_tag, main),
    tool!("img-unpack", img_unpack, main),
    tool!("net-connect", net_connect, main),
    tool!("net-create", net_create, main),
    tool!("net-disconnect", net_disconnect, main),
    tool!("net-inspect", net_inspect, main),
    tool!("net-ls", net_ls, main),
    tool!("net-prune", net_prune, main),
    tool!("net-rm", net_rm, main),
    tool!("vol-create", vol_create, main),
    tool!("vol-inspect", vol_inspect, main),
    tool!("vol-ls", vol_ls, main),
    tool!("vol-prune", vol_prune, main),
    tool!("vol-rm", vol_rm, main),
];

/// The tool called `name`.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// Writes bash, zsh and fish completions for every tool into `DIR/bash/TOOL.bash`,
/// `DIR/zsh/_TOOL` and `DIR/fish/TOOL.fish` (`berth --completions DIR`, `make install`).
pub fn write_completions(dir: &std::path::Path) -> std::io::Result<()> {
    use clap_complete::Shell;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let sub = dir.join(shell.to_string());
        std::fs::create_dir_all(&sub)?;
        for tool in TOOLS {
            let mut cmd = (tool.command)();
            clap_complete::generate_to(shell, &mut cmd, tool.name, &sub)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tool_is_named_as_its_command_once_in_order() {
        for t in TOOLS {
            assert_eq!(
                (t.command)().get_name(),
                t.name,
                "the link's name is the command's"
            );
        }
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted, "TOOLS is in name order, each once");
        assert!(find("img-ls").is_some() && find("berth").is_none());
    }
}
