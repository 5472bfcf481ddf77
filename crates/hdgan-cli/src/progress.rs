//! Progress on stderr for the experiments' [`Event`]s: a bar with ETA on a terminal, a
//! line at every 10% otherwise (logs, pipes), nothing with `--quiet`.

use hdgan_experiments::{Control, Event};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// How a command reports progress on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// Nothing.
    #[default]
    Silent,
    /// A progress bar with ETA (for terminals).
    Bar,
    /// A line at every 10% (for logs and pipes).
    Lines,
}

impl Progress {
    /// None with `--quiet`, a bar when stderr is a terminal, lines otherwise.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Progress::Silent
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

struct Stage {
    what: String,
    unit: String,
    total: u64,
    done: u64,
    tenths: u64,
    started: Instant,
    bar: Option<ProgressBar>,
}

/// Turns [`Event`]s into a bar or lines.
pub struct Reporter {
    mode: Progress,
    stage: Mutex<Option<Stage>>,
}

impl Reporter {
    /// A reporter in `mode`.
    pub fn new(mode: Progress) -> Self {
        Self {
            mode,
            stage: Mutex::new(None),
        }
    }

    /// Handles one event (from any thread).
    pub fn event(&self, e: Event<'_>) {
        if self.mode == Progress::Silent {
            return;
        }
        let mut st = self.stage.lock().unwrap_or_else(|e| e.into_inner());
        match e {
            Event::Begin { what, total, unit } => {
                if let Some(old) = st.take()
                    && let Some(b) = old.bar
                {
                    b.finish_and_clear();
                }
                let bar = (self.mode == Progress::Bar).then(|| {
                    let b =
                        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template(
                            "{prefix} [{elapsed_precise}] {wide_bar} {percent:>3}% (ETA {eta})",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_prefix(what.to_owned());
                    b
                });
                *st = Some(Stage {
                    what: what.to_owned(),
                    unit: unit.to_owned(),
                    total,
                    done: 0,
                    tenths: 0,
                    started: Instant::now(),
                    bar,
                });
            }
            Event::Advance(k) => {
                if let Some(s) = st.as_mut() {
                    s.done += k;
                    if let Some(b) = &s.bar {
                        b.inc(k);
                    } else {
                        let tenth = s.done * 10 / s.total.max(1);
                        if tenth > s.tenths {
                            s.tenths = tenth;
                            crate::errln!(
                                "{}: {}% of {} {}, {:.1} s",
                                s.what,
                                tenth * 10,
                                s.total,
                                s.unit,
                                s.started.elapsed().as_secs_f64()
                            );
                        }
                    }
                }
            }
            Event::End => {
                if let Some(s) = st.take()
                    && let Some(b) = s.bar
                {
                    b.finish_and_clear();
                }
            }
            Event::Note(text) => match st.as_ref().and_then(|s| s.bar.as_ref()) {
                Some(b) => b.suspend(|| crate::errln!("{text}")),
                None => crate::errln!("{text}"),
            },
        }
    }
}

/// Runs `f` with a [`Control`] that reports to a [`Reporter`] in `mode` and stops on
/// SIGINT/SIGTERM.
pub fn with_control<R>(mode: Progress, f: impl FnOnce(Control<'_>) -> R) -> R {
    let reporter = Reporter::new(mode);
    let cb = |e: Event<'_>| reporter.event(e);
    let r = f(Control {
        progress: Some(&cb),
        cancel: Some(&crate::print::CANCEL),
    });
    reporter.event(Event::End);
    r
}
