//! Docker's numbers in flags: sizes (`64m`) and CPUs (`1.5`).

use crate::error::{Error, Result};

/// Docker's `RAMInBytes`: a size with an optional binary unit (`b`, `k`, `m`, `g`, `t`, `p`, with
/// or without a trailing `b`, any case), decimals allowed (`1.5g`).
pub fn parse_bytes(s: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidInput(format!(
            "invalid size: {s:?}: use a number with b, k, m or g"
        ))
    };
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult) as i64)
}

/// `--cpus` checked against the host, as Docker does: 0 (no limit) or from 0.01 to the number
/// of CPUs there are.
pub fn nano_cpus(s: &str) -> Result<i64> {
    let n = parse_cpus(s)?;
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1);
    if n != 0 && (n < 10_000_000 || n > ncpu * 1_000_000_000) {
        return Err(Error::InvalidInput(format!(
            "invalid --cpus {}: range of CPUs is from 0.01 to {ncpu}.00, as there are only \
             {ncpu} CPUs available",
            s.trim()
        )));
    }
    Ok(n)
}

/// `--cpus 1.5` → 1_500_000_000 nano CPUs, as Docker's `NanoCPUs` (a negative number parses,
/// for [`nano_cpus`] to refuse as out of range, as Docker does). Not a number is a usage error,
/// as Docker's CLI finds it.
pub fn parse_cpus(s: &str) -> Result<i64> {
    let bad = || Error::Usage(format!("invalid --cpus {s:?}: use a decimal number"));
    let t = s.trim();
    if let Some(abs) = t.strip_prefix('-').filter(|a| !a.starts_with(['-', '+'])) {
        return parse_cpus(abs).map(|n| -n);
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err(Error::InvalidInput(format!(
            "invalid --cpus {s:?}: too much precision"
        )));
    }
    let i: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    i.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(f))
        .ok_or_else(bad)
}
