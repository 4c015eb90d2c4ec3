//! Progress of blob transfers on stderr: bars on a terminal, one line per event with
//! `--progress=plain`, nothing with `--quiet` or when stderr is not a terminal.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::digest::Digest;
use crate::registry::pull::{Progress, Quiet};

/// What progress to show (`--progress`, berth_cli::ProgressMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bars when stderr is a terminal, nothing otherwise
    Auto,
    /// One line per layer event
    Plain,
    /// Nothing
    Quiet,
}

/// The progress reporter for `mode`; `verb` is what is done to blobs ("Pull", "Push").
pub fn reporter(mode: Mode, verb: &'static str) -> Box<dyn Progress> {
    match mode {
        Mode::Quiet => Box::new(Quiet),
        Mode::Plain => Box::new(Plain { verb }),
        Mode::Auto if std::io::stderr().is_terminal() => Box::new(Bars::new(verb)),
        Mode::Auto => Box::new(Quiet),
    }
}

struct Plain {
    verb: &'static str,
}

impl Progress for Plain {
    fn start(&self, digest: &Digest, size: u64, resumed_at: u64) {
        if resumed_at > 0 {
            eprintln!(
                "{}: resuming at {resumed_at} of {size} bytes",
                digest.short()
            );
        } else {
            eprintln!(
                "{}: {}ing {size} bytes",
                digest.short(),
                self.verb.to_lowercase()
            );
        }
    }
    fn advance(&self, _: &Digest, _: u64) {}
    fn done(&self, digest: &Digest, skipped: bool) {
        if skipped {
            eprintln!("{}: already exists", digest.short());
        } else {
            eprintln!("{}: {} complete", digest.short(), self.verb);
        }
    }
}

struct Bars {
    verb: &'static str,
    multi: MultiProgress,
    bars: Mutex<HashMap<Digest, ProgressBar>>,
}

impl Bars {
    fn new(verb: &'static str) -> Bars {
        Bars {
            verb,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, digest: &Digest, size: u64) -> ProgressBar {
        let mut bars = self.bars.lock().expect("lock");
        bars.entry(digest.clone())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(size));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg:>16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
                b.set_prefix(digest.short().to_string());
                b
            })
            .clone()
    }
}

impl Progress for Bars {
    fn start(&self, digest: &Digest, size: u64, resumed_at: u64) {
        let b = self.bar(digest, size);
        b.set_length(size);
        b.set_position(resumed_at);
        b.set_message(if resumed_at > 0 {
            "resuming"
        } else {
            "transferring"
        });
    }
    fn advance(&self, digest: &Digest, bytes: u64) {
        if let Some(b) = self.bars.lock().expect("lock").get(digest) {
            b.inc(bytes);
        }
    }
    fn done(&self, digest: &Digest, skipped: bool) {
        let b = self.bar(digest, 0);
        let msg = if skipped {
            "already exists".to_string()
        } else {
            format!("{} complete", self.verb)
        };
        b.finish_with_message(msg);
    }
}
