//! Progress bars for long commands, shown only on a terminal and never with `--quiet`.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps (a spinner when `len` is `None`) on stderr; hidden
/// when stderr is not a terminal or `quiet` is set, so pipes and CI logs stay clean.
pub(crate) fn bar(len: Option<u64>, quiet: bool, what: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    pb.set_message(what.to_string());
    pb
}
