//! Pausing and unpausing containers (`ctr-pause`, `ctr-unpause`, `img-commit --pause`): the
//! runtime freezes or thaws the container's cgroup and the record says `paused` meanwhile, under
//! the containers' lock so that the monitor's own updates are not lost.

use super::engine::Engine;
use super::{liveness, Container, Containers, Status};
use crate::error::{Error, Result};
use crate::root::Root;

/// Freezes every process of a running container, as `docker pause`.
pub fn pause(root: &Root, name: &str) -> Result<Container> {
    let store = Containers::open(root.containers_dir())?;
    let _lock = store.lock()?;
    let mut c = liveness::refresh(&store.find(name)?);
    match c.state.status {
        Status::Running => {}
        Status::Paused => {
            return Err(Error::InvalidInput(format!(
                "container {} is already paused",
                c.id
            )))
        }
        Status::Restarting => {
            return Err(Error::InvalidInput(super::restart::restarting_error(&c.id)))
        }
        _ => {
            return Err(Error::InvalidInput(format!(
                "container {} is not running",
                c.id
            )))
        }
    }
    Engine::of(root, &c)
        .pause(&c.id)
        .map_err(|e| Error::Runtime {
            message: format!("cannot pause container {}: {e}", c.id),
            code: 1,
        })?;
    c.state.status = Status::Paused;
    c.state.paused = true;
    c.state.running = true;
    store.save(&c)?;
    Ok(c)
}

/// Thaws a paused container, as `docker unpause`.
pub fn unpause(root: &Root, name: &str) -> Result<Container> {
    let store = Containers::open(root.containers_dir())?;
    let _lock = store.lock()?;
    let mut c = liveness::refresh(&store.find(name)?);
    if c.state.status != Status::Paused {
        return Err(Error::InvalidInput(format!(
            "container {} is not paused",
            c.id
        )));
    }
    Engine::of(root, &c)
        .resume(&c.id)
        .map_err(|e| Error::Runtime {
            message: format!("cannot unpause container {}: {e}", c.id),
            code: 1,
        })?;
    c.state.status = Status::Running;
    c.state.paused = false;
    c.state.running = true;
    store.save(&c)?;
    Ok(c)
}
