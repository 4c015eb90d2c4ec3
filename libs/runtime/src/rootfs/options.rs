//! The `options` of an OCI mount: mount(2) flags, propagation, data.

use nix::mount::MsFlags;

/// A spec mount's `options`, split as runc's parseMountOptions does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// `mount(2)` flags (ro, nosuid, nodev, noexec, bind, rec, …).
    pub flags: MsFlags,
    /// Propagation changes, applied in order after the mount (private, rslave, …).
    pub propagation: Vec<MsFlags>,
    /// Everything else, comma-joined: the file system's own data (`size=65536k,mode=755`).
    pub data: String,
}

/// Splits OCI mount options into flags, propagation changes and the data string.
pub fn parse_mount_options<S: AsRef<str>>(options: &[S]) -> MountOptions {
    let mut flags = MsFlags::empty();
    let mut propagation = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let option = option.as_ref();
        // (clear?, flag)
        let flag = match option {
            "defaults" => Some((false, MsFlags::empty())),
            "ro" => Some((false, MsFlags::MS_RDONLY)),
            "rw" => Some((true, MsFlags::MS_RDONLY)),
            "nosuid" => Some((false, MsFlags::MS_NOSUID)),
            "suid" => Some((true, MsFlags::MS_NOSUID)),
            "nodev" => Some((false, MsFlags::MS_NODEV)),
            "dev" => Some((true, MsFlags::MS_NODEV)),
            "noexec" => Some((false, MsFlags::MS_NOEXEC)),
            "exec" => Some((true, MsFlags::MS_NOEXEC)),
            "sync" => Some((false, MsFlags::MS_SYNCHRONOUS)),
            "async" => Some((true, MsFlags::MS_SYNCHRONOUS)),
            "dirsync" => Some((false, MsFlags::MS_DIRSYNC)),
            "remount" => Some((false, MsFlags::MS_REMOUNT)),
            "mand" => Some((false, MsFlags::MS_MANDLOCK)),
            "nomand" => Some((true, MsFlags::MS_MANDLOCK)),
            "noatime" => Some((false, MsFlags::MS_NOATIME)),
            "atime" => Some((true, MsFlags::MS_NOATIME)),
            "nodiratime" => Some((false, MsFlags::MS_NODIRATIME)),
            "diratime" => Some((true, MsFlags::MS_NODIRATIME)),
            "relatime" => Some((false, MsFlags::MS_RELATIME)),
            "norelatime" => Some((true, MsFlags::MS_RELATIME)),
            "strictatime" => Some((false, MsFlags::MS_STRICTATIME)),
            "nostrictatime" => Some((true, MsFlags::MS_STRICTATIME)),
            "bind" => Some((false, MsFlags::MS_BIND)),
            "rbind" => Some((false, MsFlags::MS_BIND | MsFlags::MS_REC)),
            _ => None,
        };
        if let Some((clear, flag)) = flag {
            if clear {
                flags.remove(flag);
            } else {
                flags.insert(flag);
            }
            continue;
        }
        if let Some(p) = propagation_flags(option) {
            propagation.push(p);
            continue;
        }
        // runc's own extensions that are not file system data.
        if option == "tmpcopyup" || option.starts_with("idmap") || option.starts_with("ridmap") {
            continue;
        }
        data.push(option);
    }
    MountOptions {
        flags,
        propagation,
        data: data.join(","),
    }
}

/// The `mount(2)` flags of a propagation option (`rprivate` is private and recursive).
pub(super) fn propagation_flags(option: &str) -> Option<MsFlags> {
    Some(match option {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}
