//! The processes of a running container (`ctr-top`), as `docker top`: `ps` runs on the host with
//! the given options (default `-ef`) and only the rows of the container's processes are kept.

use std::process::Command;

use serde::Serialize;

use super::{engine, liveness, Containers, Status};
use crate::error::{Error, Result};
use crate::root::Root;

/// `docker top`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Runs `ps ps_args` (`-ef` when empty) and keeps the container's processes.
pub fn top(root: &Root, name: &str, ps_args: &[String]) -> Result<Top> {
    let store = Containers::open(root.containers_dir())?;
    let c = liveness::refresh(&store.find(name)?);
    if c.state.status != Status::Running && c.state.status != Status::Paused {
        return Err(Error::InvalidInput(format!(
            "container {} is not running",
            c.id
        )));
    }
    let pids = engine::cgroup_of(&store.path(&c.id), &c.id)?
        .pids()
        .map_err(|e| Error::Runtime {
            message: format!("list the processes of container {}: {e}", c.id),
            code: 1,
        })?;
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::Runtime {
            message: format!("run ps: {e}"),
            code: 1,
        })?;
    if !out.status.success() {
        return Err(Error::InvalidInput(format!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

/// Docker's parsePSOutput: the header's words are the titles; each row is split on blanks with
/// the last column taking the rest of the line; rows whose PID is not in `pids` are dropped.
pub fn parse_ps(output: &str, pids: &[i32]) -> Result<Top> {
    let mut lines = output.lines().filter(|l| !l.trim().is_empty());
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        Error::InvalidInput("couldn't find PID field in ps output (add -o pid)".into())
    })?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let n = titles.len();
        let mut row: Vec<String> = fields[..n - 1].iter().map(|s| s.to_string()).collect();
        row.push(fields[n - 1..].join(" "));
        processes.push(row);
    }
    Ok(Top { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_filtered_and_cmd_keeps_spaces() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init splash\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 1000\n";
        let t = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0][1], "42");
        assert_eq!(t.processes[0][7], "sleep 1000");
        assert!(parse_ps("UID CMD\nroot x\n", &[1]).is_err());
    }
}
