//! runc's `--systemd-cgroup` naming: a cgroupsPath `slice:prefix:name` (as containerd's CRI
//! plugin writes it when `SystemdCgroup = true`) is the scope `prefix-name.scope` inside the
//! slice, whose dashes nest (`kubepods-besteffort-pod1.slice` is
//! `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice`). berth has no
//! systemd connection: it makes the same directories through cgroupfs, so that the container
//! lands where systemd's tools and the kubelet look for it.

use crate::{Error, Result};

/// The cgroupfs path of `cgroups_path` (`slice:prefix:name`, or empty: `system.slice`, prefix
/// `runc`, the container's ID) as runc's systemd driver names it.
pub fn expand(cgroups_path: &str, id: &str) -> Result<String> {
    let (slice, prefix, name) = if cgroups_path.is_empty() {
        ("", "runc", id)
    } else {
        let parts: Vec<&str> = cgroups_path.split(':').collect();
        let [slice, prefix, name] = parts[..] else {
            return Err(Error::Spec(format!(
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, \
                 got {cgroups_path:?} instead"
            )));
        };
        (slice, prefix, name)
    };
    let slice = if slice.is_empty() {
        "system.slice"
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    if unit.contains('/') {
        return Err(Error::Spec(format!("invalid systemd unit name: {unit:?}")));
    }
    let parent = expand_slice(slice)?;
    Ok(format!("{}/{unit}", parent.trim_end_matches('/')))
}

/// systemd's slice nesting: `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`, `-.slice` the root.
pub fn expand_slice(slice: &str) -> Result<String> {
    let invalid = || Error::Spec(format!("invalid slice name: {slice}"));
    let name = slice.strip_suffix(".slice").ok_or_else(invalid)?;
    if slice.contains('/') {
        return Err(invalid());
    }
    if name == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for component in name.split('-') {
        if component.is_empty() || component == "." || component == ".." {
            return Err(invalid());
        }
        path.push('/');
        path.push_str(&prefix);
        path.push_str(component);
        path.push_str(".slice");
        prefix.push_str(component);
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_and_scopes_are_named_as_runc() {
        assert_eq!(
            expand("kubepods-besteffort-pod12.slice:cri-containerd:abc", "x").unwrap(),
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope"
        );
        assert_eq!(
            expand("system.slice:docker:1234", "x").unwrap(),
            "/system.slice/docker-1234.scope"
        );
        assert_eq!(expand("", "c1").unwrap(), "/system.slice/runc-c1.scope");
        assert_eq!(expand(":p:n", "x").unwrap(), "/system.slice/p-n.scope");
        assert_eq!(expand("-.slice:p:n", "x").unwrap(), "/p-n.scope");
        assert_eq!(
            expand("a.slice:p:b.slice", "x").unwrap(),
            "/a.slice/b.slice"
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in [
            "/berth/c1",
            "a.slice:b",
            "a:b:c:d",
            "notaslice:p:n",
            "a--b.slice:p:n",
            "-a.slice:p:n",
            ".slice:p:n",
            "a/b.slice:p:n",
            "a.slice:p:x/y",
        ] {
            assert!(expand(bad, "x").is_err(), "{bad}");
        }
    }
}
