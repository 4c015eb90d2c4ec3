//! The v1 devices controller: `devices.deny` and `devices.allow`.

use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::cgroups::files::write;
use crate::error::Result;

/// runc's order: deny everything, then each rule in order (allow rules to devices.allow, deny
/// rules to devices.deny).
pub(crate) fn apply_devices_v1(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(dir, "devices.deny", "a")?;
    for rule in rules {
        let file = if rule.allow() {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, &device_rule(rule))?;
    }
    Ok(())
}

/// "c 1:3 rwm"; a missing (or negative) major or minor is "*", missing access is "rwm".
pub(crate) fn device_rule(rule: &LinuxDeviceCgroup) -> String {
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    format!(
        "{} {}:{} {}",
        rule.typ().unwrap_or_default().as_str(),
        num(rule.major()),
        num(rule.minor()),
        access
    )
}
