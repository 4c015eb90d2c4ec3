//! `-t` and `-s` of ctr-stop, shared with ctr-restart (which depends on this crate): the clap
//! side of the library's [`StopOptions`].

use berth::container::lifecycle::StopOptions;

/// `-t` and `-s` of ctr-stop and ctr-restart.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StopArgs {
    /// Seconds to wait for the stop before SIGKILL (-1: wait forever)
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,

    /// The signal to send first, instead of the container's stop signal
    #[arg(short, long, value_name = "SIGNAL")]
    pub signal: Option<String>,
}

impl From<&StopArgs> for StopOptions {
    fn from(a: &StopArgs) -> StopOptions {
        StopOptions {
            time: a.time,
            signal: a.signal.clone(),
        }
    }
}
