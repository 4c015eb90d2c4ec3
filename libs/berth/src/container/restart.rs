//! Restart policies without a daemon (`--restart no|on-failure[:N]|always|unless-stopped`), as
//! Docker's restart manager (moby `restartmanager/restartmanager.go`) decides them: the
//! container's monitor asks [`Backoff::next`] when the container's process has ended, and waits
//! the delay it gives (100 ms, doubling on each restart up to a minute, back to 100 ms after a
//! run of 10 s or more) before it creates and starts the container again. `ctr-stop` and
//! `ctr-kill` mark the container manually stopped (`State.HasBeenManuallyStopped`, kept in the
//! record), which ends `always` and `unless-stopped` until the next `ctr-start` (and, for
//! `unless-stopped`, over a reboot too: [`starts_at_boot`]).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::record::RestartPolicy;

/// The first delay, its growth and its ceiling (moby's `defaultTimeout`, `backoffMultiplier`,
/// `maxRestartTimeout`).
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long starts the delays over.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Parses `--restart` as docker's CLI and daemon check it: `NAME[:MAX_RETRIES]`, the name one of
/// `no`, `on-failure`, `always`, `unless-stopped`, a count only with `on-failure`. A count that
/// is not a number is the CLI's usage error (docker/cli `opts.ParseRestartPolicy`); the rest is
/// the daemon's refusal.
pub fn parse(s: &str) -> Result<RestartPolicy> {
    let mut p = RestartPolicy::default();
    if s.is_empty() {
        return Ok(p);
    }
    let (name, count) = s.split_once(':').unwrap_or((s, ""));
    if !count.is_empty() {
        p.maximum_retry_count = count.parse().map_err(|_| {
            Error::Usage(
                "invalid restart policy format: maximum retry count must be an integer".into(),
            )
        })?;
    }
    p.name = name.to_string();
    validate(&p)?;
    Ok(p)
}

/// The daemon's check of a policy (moby `validateRestartPolicy`).
pub fn validate(p: &RestartPolicy) -> Result<()> {
    match p.name.as_str() {
        "always" | "unless-stopped" | "no" => {
            if p.maximum_retry_count != 0 {
                return Err(Error::InvalidInput(format!(
                    "maximum retry count cannot be used with restart policy '{}'",
                    p.name
                )));
            }
        }
        "on-failure" => {
            if p.maximum_retry_count < 0 {
                return Err(Error::InvalidInput(
                    "maximum retry count cannot be negative".into(),
                ));
            }
        }
        "" => {}
        other => {
            return Err(Error::InvalidInput(format!(
                "invalid restart policy '{other}'"
            )))
        }
    }
    Ok(())
}

/// Docker's refusal of what needs the container's process (exec, pause) between two runs.
pub fn restarting_error(id: &str) -> String {
    format!("Container {id} is restarting, wait until the container is running")
}

/// Whether the policy never restarts (`no` or none).
pub fn is_none(p: &RestartPolicy) -> bool {
    p.name.is_empty() || p.name == "no"
}

/// Whether a container that ended with `exit_code`, after `restarts` restarts so far, is
/// started again under `p` (moby's `ShouldRestart`, but for the delay).
pub fn should_restart(
    p: &RestartPolicy,
    exit_code: i32,
    manually_stopped: bool,
    restarts: u64,
) -> bool {
    match p.name.as_str() {
        "always" => !manually_stopped,
        "unless-stopped" => !manually_stopped,
        "on-failure" => {
            !manually_stopped
                && exit_code != 0
                && (p.maximum_retry_count <= 0 || restarts < p.maximum_retry_count as u64)
        }
        _ => false,
    }
}

/// Whether the boot-time start (`ctr-start --restart-policies`) starts a container that is not
/// running: Docker's daemon does so on start-up for `always` (even one stopped by hand), for
/// `unless-stopped` unless it was stopped by hand, and for `on-failure` whose last run failed
/// with retries left. Only a container that has run before (a created one stays created).
pub fn starts_at_boot(
    p: &RestartPolicy,
    exit_code: i32,
    manually_stopped: bool,
    restarts: u64,
    has_run: bool,
) -> bool {
    has_run
        && match p.name.as_str() {
            "always" => true,
            _ => should_restart(p, exit_code, manually_stopped, restarts),
        }
}

/// The delays between restarts (one per monitor: a container's monitor lives as long as its
/// restarts go on).
#[derive(Debug, Default, Clone)]
pub struct Backoff {
    delay: Option<Duration>,
}

impl Backoff {
    /// The delay before the next restart, after a run that lasted `ran`.
    pub fn next(&mut self, ran: Duration) -> Duration {
        if ran >= RESET_AFTER {
            self.delay = None;
        }
        let d = match self.delay {
            None => FIRST_DELAY,
            Some(d) => (d * 2).min(MAX_DELAY),
        };
        self.delay = Some(d);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(name: &str, n: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: n,
        }
    }

    #[test]
    fn parses_as_docker() {
        assert_eq!(parse("always").unwrap(), pol("always", 0));
        assert_eq!(parse("on-failure:3").unwrap(), pol("on-failure", 3));
        assert_eq!(parse("on-failure").unwrap(), pol("on-failure", 0));
        assert_eq!(parse("no").unwrap(), pol("no", 0));
        assert_eq!(parse("unless-stopped").unwrap(), pol("unless-stopped", 0));
        for (bad, msg) in [
            ("maybe", "invalid restart policy 'maybe'"),
            (
                "always:3",
                "maximum retry count cannot be used with restart policy 'always'",
            ),
            (
                "on-failure:x",
                "invalid restart policy format: maximum retry count must be an integer",
            ),
            ("on-failure:-1", "maximum retry count cannot be negative"),
            (
                "on-failure:1:2",
                "invalid restart policy format: maximum retry count must be an integer",
            ),
        ] {
            assert_eq!(parse(bad).unwrap_err().to_string(), msg, "{bad}");
        }
    }

    #[test]
    fn decides_as_the_restart_manager() {
        assert!(!should_restart(&pol("no", 0), 1, false, 0));
        assert!(should_restart(&pol("always", 0), 0, false, 9));
        assert!(!should_restart(&pol("always", 0), 0, true, 0));
        assert!(should_restart(&pol("unless-stopped", 0), 0, false, 0));
        assert!(!should_restart(&pol("on-failure", 0), 0, false, 0));
        assert!(should_restart(&pol("on-failure", 0), 1, false, 100));
        assert!(should_restart(&pol("on-failure", 3), 1, false, 2));
        assert!(!should_restart(&pol("on-failure", 3), 1, false, 3));
        // At boot: always even stopped by hand; unless-stopped not then; never a created one.
        assert!(starts_at_boot(&pol("always", 0), 0, true, 0, true));
        assert!(!starts_at_boot(&pol("always", 0), 0, false, 0, false));
        assert!(!starts_at_boot(&pol("unless-stopped", 0), 0, true, 0, true));
        assert!(starts_at_boot(&pol("unless-stopped", 0), 0, false, 0, true));
        assert!(starts_at_boot(&pol("on-failure", 0), 255, false, 0, true));
        assert!(!starts_at_boot(&pol("no", 0), 255, false, 0, true));
    }

    #[test]
    fn backoff_doubles_caps_and_resets() {
        let mut b = Backoff::default();
        let short = Duration::from_millis(5);
        let ms = |d: Duration| d.as_millis();
        assert_eq!(ms(b.next(short)), 100);
        assert_eq!(ms(b.next(short)), 200);
        assert_eq!(ms(b.next(short)), 400);
        for _ in 0..20 {
            b.next(short);
        }
        assert_eq!(b.next(short), MAX_DELAY);
        assert_eq!(ms(b.next(Duration::from_secs(10))), 100);
    }
}
