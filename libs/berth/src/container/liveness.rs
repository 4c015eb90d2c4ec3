//! Whether a container the record calls running still is: the one rule every tool uses.
//!
//! A record says `running` (or `paused`) while its monitor lives. If the init's pid is gone, or
//! now belongs to another process (its start time, `/proc/PID/stat` field 22, differs from the
//! recorded `State.pid_start`), the container has exited without anyone recording it (the
//! monitor was killed): it is shown as exited.

use super::{status, Container};

/// The start time of process `pid` in clock ticks after boot (`/proc/PID/stat` field 22), or
/// None when there is no such process.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    // Fields from 3 on; field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `start` (0: not recorded, any
/// process with that pid counts).
pub fn is_alive(pid: i32, start: u64) -> bool {
    match pid_start_time(pid) {
        Some(t) => start == 0 || t == start,
        None => false,
    }
}

/// The exit code shown for a container whose process vanished unrecorded.
pub const LOST_EXIT_CODE: i32 = 255;

/// The record as it really is now: a running or paused container whose init is gone is
/// exited. Nothing is written; callers that hold the lock may save the result.
pub fn refresh(c: &Container) -> Container {
    let mut c = c.clone();
    let s = &c.state;
    let live_status =
        s.running || s.paused || s.status == status::RUNNING || s.status == status::PAUSED;
    if live_status && !is_alive(s.pid, s.pid_start) {
        let st = &mut c.state;
        st.status = status::EXITED.to_string();
        st.running = false;
        st.paused = false;
        st.restarting = false;
        st.pid = 0;
        st.monitor_pid = 0;
        if st.exit_code == 0 {
            st.exit_code = LOST_EXIT_CODE;
        }
        if st.error.is_empty() {
            st.error = "the container's process ended without its exit being recorded".into();
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_dead_pids_are_exited() {
        let me = std::process::id() as i32;
        let start = pid_start_time(me).expect("our own stat");
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start + 1));
        let mut c = Container::default();
        c.state.status = status::RUNNING.into();
        c.state.running = true;
        c.state.pid = me;
        c.state.pid_start = start;
        assert_eq!(refresh(&c).state.status, status::RUNNING);
        c.state.pid_start = start + 7;
        let r = refresh(&c);
        assert_eq!(r.state.status, status::EXITED);
        assert!(!r.state.running);
        assert_eq!(r.state.exit_code, LOST_EXIT_CODE);
        c.state.pid = i32::MAX;
        assert_eq!(refresh(&c).state.status, status::EXITED);
        let created = Container {
            state: crate::container::State {
                status: status::CREATED.into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(refresh(&created), created);
    }
}
