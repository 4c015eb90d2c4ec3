//! Whether a container the record calls running still is: the one rule every tool uses.
//!
//! A record says `running` (or `paused`) while its monitor lives: the monitor writes the exit
//! when the init ends. If the monitor is gone and so is the init (or their pids now belong to
//! other processes: the start time, `/proc/PID/stat` field 22, differs from the recorded one),
//! the container has ended without anyone recording it (the monitor was killed): it is shown as
//! exited.

use super::{Container, Containers, Status, ZERO_TIME};
use crate::root::Root;

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

/// Whether the record says the container is running, paused or restarting.
pub fn says_live(s: &super::State) -> bool {
    s.running
        || s.paused
        || matches!(
            s.status,
            Status::Running | Status::Paused | Status::Restarting
        )
}

/// The record as it really is now: a running or paused container whose monitor and init are
/// gone is exited. Nothing is written; callers that hold the lock may save the result.
pub fn refresh(c: &Container) -> Container {
    let mut c = c.clone();
    let s = &c.state;
    let live_status = says_live(s);
    if live_status && !is_live(&c) {
        let st = &mut c.state;
        st.status = Status::Exited;
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

/// Whether the record names a container that has run and whose monitor and init are both gone
/// without the monitor finishing its work: a monitor killed (SIGKILL, OOM, a reboot) before it
/// recorded the exit, or, for `--rm`, before it removed the container (an `--rm` record names
/// its monitor until it is removed). A container being created or started is never abandoned:
/// its record says `created` (or an earlier exit) until its monitor has started it, and then
/// names that monitor, all under the containers' lock.
pub fn abandoned(c: &Container) -> bool {
    let s = &c.state;
    let live_status = says_live(s);
    let ended_rm =
        super::lifecycle::auto_remove(c) && matches!(s.status, Status::Exited | Status::Dead);
    (live_status || ended_rm) && !is_live(c)
}

/// Finishes what dead monitors left undone, as their monitors would have: an abandoned `--rm`
/// container is removed (runtime state and cgroup, network lease, mount, anonymous volumes,
/// directory); any other abandoned container is recorded as exited (what `refresh` shows; its
/// mount and lease stay until it is started again or removed, as before). Each container is
/// checked again under the lock before it is touched. Best effort: what fails is left for the
/// next command (or `ctr-rm -f`). The container tools call it first.
pub fn reconcile(root: &Root) {
    let Ok(store) = Containers::open(root.containers_dir()) else {
        return;
    };
    // Only the containers whose monitor and init are gone (by the store's index: their
    // records are not read otherwise).
    let Ok(suspects) = store.suspects() else {
        return;
    };
    for id in suspects {
        let rec = {
            let Ok(_lock) = store.lock() else { return };
            // Read again under the lock: a monitor may have started it, another command reaped
            // it meanwhile.
            let now = store.load(&id).ok();
            store.settle(&id, now.as_ref());
            let Some(now) = now.filter(abandoned) else {
                continue;
            };
            if !super::lifecycle::auto_remove(&now) {
                let mut exited = refresh(&now);
                exited.state.pid_start = 0;
                exited.state.monitor_start = 0;
                exited.network_settings = exited
                    .network_settings
                    .as_ref()
                    .map(super::NetworkSettings::stopped);
                if store.save(&exited).is_err() {
                    continue;
                }
            }
            now
        };
        if super::lifecycle::auto_remove(&rec) {
            let _ = super::orchestrate::remove_with_volumes(root, &rec.id);
        }
    }
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
        c.state.status = Status::Running;
        c.state.running = true;
        c.state.pid = me;
        c.state.pid_start = start;
        assert_eq!(refresh(&c).state.status, Status::Running);
        c.state.pid_start = start + 7;
        let r = refresh(&c);
        assert_eq!(r.state.status, Status::Exited);
        assert!(!r.state.running);
        assert_eq!(r.state.exit_code, LOST_EXIT_CODE);
        // The monitor alive is enough: it has not recorded the exit yet.
        c.state.monitor_pid = me;
        c.state.monitor_start = start;
        assert_eq!(refresh(&c).state.status, Status::Running);
        let created = Container {
            state: crate::container::State {
                status: Status::Created,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(refresh(&created), created);
    }

    #[test]
    fn abandoned_is_a_container_that_ran_with_its_monitor_and_init_gone() {
        let me = std::process::id() as i32;
        let start = pid_start_time(me).expect("our own stat");
        let rec = |status: Status, rm: bool, monitor: (i32, u64)| Container {
            state: crate::container::State {
                status,
                running: status == Status::Running,
                monitor_pid: monitor.0,
                monitor_start: monitor.1,
                ..Default::default()
            },
            host_config: crate::container::HostConfig {
                auto_remove: rm,
                ..Default::default()
            },
            ..Default::default()
        };
        let dead = (me, start + 1);
        let live = (me, start);
        // Being created or started: never.
        assert!(!abandoned(&rec(Status::Created, true, (0, 0))));
        assert!(!abandoned(&rec(Status::Created, false, dead)));
        // Running with its monitor alive: no; gone: yes, with or without --rm.
        assert!(!abandoned(&rec(Status::Running, true, live)));
        assert!(abandoned(&rec(Status::Running, true, dead)));
        assert!(abandoned(&rec(Status::Running, false, dead)));
        // Exited: an --rm one whose monitor is still removing it is left to it; one whose
        // monitor died before it could is abandoned; an exited container without --rm is done.
        assert!(!abandoned(&rec(Status::Exited, true, live)));
        assert!(abandoned(&rec(Status::Exited, true, dead)));
        assert!(abandoned(&rec(Status::Exited, true, (0, 0))));
        assert!(!abandoned(&rec(Status::Exited, false, (0, 0))));
    }
}
