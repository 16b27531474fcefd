//! The one progress-bar style of the CLI. indicatif hides bars when stderr is not a terminal, so
//! what must be seen in logs is printed with `bar.suspend(|| eprintln!(..))` instead.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `len` steps counted in `unit` (tokens, calls, points, steps), with its rate,
/// the time left and a message.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let template =
        format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec:.1}} ETA {{eta}} {{msg}}");
    let style = ProgressStyle::with_template(&template).expect("the template is valid").progress_chars("=> ");
    ProgressBar::new(len).with_style(style)
}
