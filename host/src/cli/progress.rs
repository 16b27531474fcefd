//! The one progress-bar style of the CLI. indicatif hides bars when stderr is not a terminal, so
//! what must be seen in logs is printed with `bar.suspend(|| eprintln!(..))` instead.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use spikeq_host::session::{Progress, Session};

/// A bar over `len` steps counted in `unit` (tokens, calls, points, steps), with its rate,
/// the time left and a message.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    let template =
        format!("{{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec:.1}} ETA {{eta}} {{msg}}");
    let style = ProgressStyle::with_template(&template).expect("the template is valid").progress_chars("=> ");
    ProgressBar::new(len).with_style(style)
}

/// A bar over the layers GPTQ rounds, fed by `session` as it finishes them and cleared after the
/// last one; returned for the caller's message.
pub fn gptq_layers(session: &mut Session) -> ProgressBar {
    let bar = bar(0, "layers");
    let fed = bar.clone();
    session.progress = Some(Progress(Arc::new(move |done, total| {
        fed.set_length(total);
        fed.set_position(done);
        if done == total {
            fed.finish_and_clear();
        }
    })));
    bar
}
