//! Logging to stderr: JSON (for log pipelines) or plain text, filtered by `RUST_LOG`.
//! stdout stays free for what a command prints (the collector's `login` manifest).

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Json,
    Plain,
}

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` level. Colours only
/// on a terminal (and without `NO_COLOR`): a pipe or a log collector would keep the escape
/// codes as text.
pub fn init(format: LogFormat) {
    init_with(format, "info");
}

/// [`init`] with `default_filter` (an `EnvFilter` directive list) when `RUST_LOG` is unset.
pub fn init_with(format: LogFormat, default_filter: &str) {
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let subscriber = filtered(format, std::io::stderr, colour, filter);
    // Only fails when a subscriber is already installed, which main never does.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The subscriber `init` installs, writing to `writer`.
pub fn subscriber<W>(
    format: LogFormat,
    writer: W,
    colour: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    filtered(format, writer, colour, filter)
}

fn filtered<W>(
    format: LogFormat,
    writer: W,
    colour: bool,
    filter: EnvFilter,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(colour);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        ),
        LogFormat::Plain => Box::new(builder.finish()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer that keeps what it is given.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(colour: bool) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = subscriber(LogFormat::Plain, move || sink.clone(), colour);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(channel = "@news", "channel failed");
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn plain_logs_carry_escape_codes_only_when_colour_is_on() {
        let plain = logged(false);
        assert!(plain.contains("channel failed"), "{plain}");
        assert!(!plain.contains('\u{1b}'), "{plain:?}");
        assert!(logged(true).contains('\u{1b}'));
    }
}
