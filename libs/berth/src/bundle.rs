//! OCI runtime bundles: a `config.json` made from an image config, for the root filesystem
//! beside it, that `runc run` (and later berth's own runtime) accepts.

use std::path::Path;

use oci_spec::runtime::{ProcessBuilder, RootBuilder, Spec, UserBuilder};

use crate::config::list;
use crate::error::{Error, Result};
use crate::image::Image;
use crate::unpack::Dest;

/// The PATH Docker gives a container whose image sets none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A user and its groups, as the container's `/etc/passwd` and `/etc/group` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

impl User {
    /// The supplementary groups Docker's daemon gives the user (moby `getUser`): the primary
    /// group, the groups of /etc/group that list the user, then `extra` (`--group-add`).
    pub fn docker_groups(&self, extra: &[u32]) -> Vec<u32> {
        let mut out = vec![self.gid];
        for &g in self.additional_gids.iter().chain(extra) {
            if !out.contains(&g) {
                out.push(g);
            }
        }
        out
    }
}

/// Resolves Docker's `USER` (`name`, `uid`, `name:group`, `uid:gid`, empty for root) against the
/// files of the root filesystem, read inside it (a symlinked /etc/passwd cannot lead outside).
pub fn resolve_user(spec: &str, rootfs: &Dest) -> Result<User> {
    let read = |p: &str| {
        rootfs
            .read_file(Path::new(p), 4 << 20)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    resolve_user_in(spec, &read("etc/passwd"), &read("etc/group"))
}

/// [`resolve_user`], and the supplementary groups Docker gives that user with `group_add`
/// (`--group-add`): see [`User::docker_groups`].
pub fn resolve_docker_user(
    spec: &str,
    rootfs: &Dest,
    group_add: &[String],
) -> Result<(User, Vec<u32>)> {
    let user = resolve_user(spec, rootfs)?;
    let group = rootfs
        .read_file(Path::new("etc/group"), 4 << 20)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let groups = user.docker_groups(&resolve_groups(group_add, &group)?);
    Ok((user, groups))
}

/// [`resolve_user`] over the text of `/etc/passwd` and `/etc/group`.
pub fn resolve_user_in(spec: &str, passwd: &str, group: &str) -> Result<User> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let found = entries
        .iter()
        .find(|f| f[0] == user)
        .or_else(|| entries.iter().find(|f| f[2] == user));
    let (uid, mut gid, name, home) = match (found, user.parse::<u32>()) {
        (Some(f), _) => (
            f[2].parse::<u32>()
                .map_err(|_| bad_file("/etc/passwd", f[0]))?,
            f[3].parse::<u32>()
                .map_err(|_| bad_file("/etc/passwd", f[0]))?,
            Some(f[0]),
            f[5].to_string(),
        ),
        (None, Ok(uid)) => (uid, 0, None, "/".to_string()),
        (None, Err(_)) => {
            return Err(Error::InvalidInput(format!(
                "unable to find user {user}: no matching entries in passwd file"
            )))
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if let Some(g) = grp.filter(|g| !g.is_empty()) {
        gid = match groups.iter().find(|f| f[0] == g) {
            Some(f) => f[2].parse().map_err(|_| bad_file("/etc/group", f[0]))?,
            None => g.parse().map_err(|_| {
                Error::InvalidInput(format!(
                    "unable to find group {g}: no matching entries in group file"
                ))
            })?,
        };
    }
    // As libcontainer's GetExecUser: when no group was named, every group of /etc/group that
    // lists the user (a uid:gid or user:group gets none). Docker adds the primary group to these
    // ([`User::docker_groups`]).
    let mut additional_gids = Vec::new();
    if let Some(name) = name.filter(|_| grp.is_none_or(str::is_empty)) {
        for f in &groups {
            if f[3].split(',').any(|m| m == name) {
                if let Ok(g) = f[2].parse::<u32>() {
                    if g != gid && !additional_gids.contains(&g) {
                        additional_gids.push(g);
                    }
                }
            }
        }
    }
    Ok(User {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// `--group-add`'s groups: names of `/etc/group` (its text in `group`) or numbers, as
/// libcontainer's GetAdditionalGroups.
pub fn resolve_groups(names: &[String], group: &str) -> Result<Vec<u32>> {
    let entries: Vec<Vec<&str>> = group
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 3)
        .collect();
    names
        .iter()
        .map(|n| match entries.iter().find(|f| f[0] == n) {
            Some(f) => f[2].parse().map_err(|_| bad_file("/etc/group", f[0])),
            None => n.parse::<u32>().map_err(|_| {
                Error::InvalidInput(format!(
                    "unable to find group {n}: no matching entries in group file"
                ))
            }),
        })
        .collect()
}

fn bad_file(file: &str, entry: &str) -> Error {
    Error::InvalidInput(format!("{file}: the entry for {entry} has a bad number"))
}

/// A runtime spec for `image` whose root filesystem is `rootfs` (named `rootfs` in the bundle):
/// the image's entrypoint and command, environment, working directory and user, with the
/// defaults of `runc spec` for namespaces, mounts and capabilities. An image with neither
/// Entrypoint nor Cmd gets `sh`.
pub fn runtime_spec(image: &Image, rootfs: &Dest) -> Result<Spec> {
    let cfg = image.run_config();
    let mut args = list(&cfg.entrypoint).to_vec();
    args.extend_from_slice(list(&cfg.cmd));
    if args.is_empty() {
        // As `runc spec`: a shell, so that the bundle runs; the caller warns.
        args.push("sh".to_string());
    }
    let mut env = list(&cfg.env).to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    let user = resolve_user(cfg.user.as_deref().unwrap_or(""), rootfs)?;
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let cwd = cfg
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_string();
    let err = |e: oci_spec::OciSpecError| Error::InvalidInput(format!("runtime spec: {e}"));
    let process = ProcessBuilder::default()
        .terminal(false)
        .args(args)
        .env(env)
        .cwd(cwd)
        .user(
            UserBuilder::default()
                .uid(user.uid)
                .gid(user.gid)
                .additional_gids(user.additional_gids)
                .build()
                .map_err(err)?,
        )
        .no_new_privileges(false)
        .build()
        .map_err(err)?;
    let mut spec = Spec::default();
    spec.set_process(Some(process));
    spec.set_root(Some(
        RootBuilder::default()
            .path("rootfs")
            .readonly(false)
            .build()
            .map_err(err)?,
    ));
    spec.set_hostname(Some("berth".to_string()));
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www,bob\nadm:x:4:www\n";

    #[test]
    fn users_resolve_as_docker_resolves_them() {
        let u = |s| resolve_user_in(s, PASSWD, GROUP);
        assert_eq!(u("").unwrap().uid, 0);
        let www = u("www").unwrap();
        assert_eq!((www.uid, www.gid, www.home.as_str()), (33, 33, "/var/www"));
        assert_eq!(www.additional_gids, vec![50, 4]);
        assert_eq!(www.docker_groups(&[]), vec![33, 50, 4]);
        assert_eq!(u("33").unwrap().gid, 33);
        assert_eq!(u("33").unwrap().additional_gids, vec![50, 4]);
        // A group named: that group alone, as Docker (no /etc/group membership).
        assert_eq!(u("www:staff").unwrap().gid, 50);
        assert_eq!(u("www:staff").unwrap().docker_groups(&[]), vec![50]);
        assert_eq!(u("33:33").unwrap().docker_groups(&[7, 33]), vec![33, 7]);
        // A uid with no passwd entry: group 0, as Docker.
        assert_eq!(u("2000").unwrap().docker_groups(&[]), vec![0]);
        assert_eq!(
            u("1000:1000").unwrap(),
            User {
                uid: 1000,
                gid: 1000,
                additional_gids: vec![],
                home: "/".into()
            }
        );
        let g = |n: &[&str]| {
            resolve_groups(&n.iter().map(|s| s.to_string()).collect::<Vec<_>>(), GROUP)
        };
        assert_eq!(g(&["staff", "77", "root"]).unwrap(), vec![50, 77, 0]);
        assert!(g(&["nosuch"])
            .unwrap_err()
            .to_string()
            .contains("unable to find group nosuch"));
        assert!(u("nobody")
            .unwrap_err()
            .to_string()
            .contains("unable to find user nobody"));
        assert!(u("www:nogroup")
            .unwrap_err()
            .to_string()
            .contains("unable to find group"));
    }
}
