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

/// Docker's words for each step of a transfer: `docker pull` and `docker push` print these.
struct Words {
    moving: &'static str,
    moved: &'static str,
    had: &'static str,
}

fn words(verb: &str) -> Words {
    if verb == "Push" {
        Words {
            moving: "Pushing",
            moved: "Pushed",
            had: "Layer already exists",
        }
    } else {
        Words {
            moving: "Downloading",
            moved: "Download complete",
            had: "Already exists",
        }
    }
}

impl Progress for Plain {
    fn start(&self, digest: &Digest, size: u64, resumed_at: u64) {
        let w = words(self.verb);
        if resumed_at > 0 {
            eprintln!(
                "{}: {} (resuming at {resumed_at} of {size} bytes)",
                digest.short(),
                w.moving
            );
        } else {
            eprintln!("{}: {} {size} bytes", digest.short(), w.moving);
        }
    }
    fn advance(&self, _: &Digest, _: u64) {}
    fn done(&self, digest: &Digest, skipped: bool) {
        let w = words(self.verb);
        eprintln!(
            "{}: {}",
            digest.short(),
            if skipped { w.had } else { w.moved }
        );
    }
    fn extracting(&self, digest: &Digest) {
        eprintln!("{}: Extracting", digest.short());
    }
    fn complete(&self, digest: &Digest) {
        eprintln!("{}: Pull complete", digest.short());
    }
    fn note(&self, line: &str) {
        eprintln!("{line}");
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
                        "{prefix}: {msg:>18} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
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
            "Resuming"
        } else {
            words(self.verb).moving
        });
    }
    fn advance(&self, digest: &Digest, bytes: u64) {
        if let Some(b) = self.bars.lock().expect("lock").get(digest) {
            b.inc(bytes);
        }
    }
    fn done(&self, digest: &Digest, skipped: bool) {
        let w = words(self.verb);
        let b = self.bar(digest, 0);
        if skipped {
            b.finish_with_message(w.had);
        } else if self.verb == "Pull" {
            // "Pull complete" comes once the layer is also unpacked.
            b.set_message(w.moved);
        } else {
            b.finish_with_message(w.moved);
        }
    }
    fn extracting(&self, digest: &Digest) {
        // A layer unpacked as it downloads keeps showing its download until that is done.
        let b = self.bar(digest, 0);
        if b.length().is_none_or(|len| b.position() >= len) {
            b.set_message("Extracting");
        }
    }
    fn complete(&self, digest: &Digest) {
        self.bar(digest, 0).finish_with_message("Pull complete");
    }
    fn note(&self, line: &str) {
        let _ = self.multi.println(line);
    }
}
