//! Whether a container the record calls running still is: the one rule every tool uses.
//!
//! A record says `running` (or `paused`) while its monitor lives: the monitor writes the exit
//! when the init ends. If the monitor is gone and so is the init (or their pids now belong to
//! other processes: the start time, `/proc/PID/stat` field 22, differs from the recorded one),
//! the container has ended without anyone recording it (the monitor was killed): it is shown as
//! exited.

use super::{status, Container, ZERO_TIME};

/// The start time of process `pid` in clock ticks after boot, or None when there is none.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    berth_runtime::state::start_time(pid)
}

/// Whether `pid` is alive (not a zombie) and is the process that started at `start` (0: not
/// recorded, any process with that pid counts).
pub fn is_alive(pid: i32, start: u64) -> bool {
    berth_runtime::state::alive(pid, start)
}

/// The exit code shown for a container whose process vanished unrecorded.
pub const LOST_EXIT_CODE: i32 = 255;

/// Whether the container's monitor (or, without one, its init) is alive.
pub fn is_live(c: &Container) -> bool {
    let s = &c.state;
    (s.monitor_pid > 0 && is_alive(s.monitor_pid, s.monitor_start))
        || (s.pid > 0 && is_alive(s.pid, s.pid_start))
}

/// The record as it really is now: a running or paused container whose monitor and init are
/// gone is exited. Nothing is written; callers that hold the lock may save the result.
pub fn refresh(c: &Container) -> Container {
    let mut c = c.clone();
    let s = &c.state;
    let live_status = s.running
        || s.paused
        || matches!(
            s.status.as_str(),
            status::RUNNING | status::PAUSED | status::RESTARTING
        );
    if live_status && !is_live(&c) {
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
        if st.finished_at.is_empty() || st.finished_at == ZERO_TIME {
            st.finished_at = berth_runtime::now_rfc3339();
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
        // The monitor alive is enough: it has not recorded the exit yet.
        c.state.monitor_pid = me;
        c.state.monitor_start = start;
        assert_eq!(refresh(&c).state.status, status::RUNNING);
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
