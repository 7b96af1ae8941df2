//! Command line: `kubectl chc <command>`, as kubectl runs the `kubectl-chc` binary.

use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-chc",
    bin_name = "kubectl chc",
    version,
    about = "Follow, start, pause and inspect ChannelCollection runs"
)]
pub struct Cli {
    /// Namespace of the collection (default: the kubeconfig context's namespace).
    #[arg(short, long, global = true, value_parser = namespace)]
    pub namespace: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// List collections: progress bar, state, ETA, last run, next run.
    Get {
        /// Collections of every namespace.
        #[arg(short = 'A', long, conflicts_with = "namespace")]
        all_namespaces: bool,
    },
    /// Follow the current run until it ends; exit 0 if it succeeded, 1 if it failed.
    Watch {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
        /// Give up after this long (`30m`, `2h`); exit 2.
        #[arg(long, value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
    },
    /// Ask for a run now (sets the collection.mtproto.dev/requestedAt annotation).
    Run {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
        /// Follow the run until it ends; exit 0 if it succeeded, 1 if it failed.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (`30m`, `2h`); exit 2.
        #[arg(long, requires = "wait", value_parser = humantime::parse_duration)]
        timeout: Option<Duration>,
    },
    /// Start no new runs (spec.suspend=true); a run in progress finishes.
    Suspend {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
    },
    /// Schedule runs again (spec.suspend=false).
    Resume {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
    },
    /// Print the collector's logs of the current run, else of the last one.
    Logs {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
        /// Keep printing as the collector writes.
        #[arg(short, long)]
        follow: bool,
    },
    /// The last runs: result, messages, errors, duration.
    History {
        /// The collection's name.
        #[arg(value_parser = object_name)]
        name: String,
    },
}

/// Longest object name the API server accepts (a DNS subdomain).
const MAX_NAME: usize = 253;
/// Longest namespace name (a DNS label).
const MAX_NAMESPACE: usize = 63;

/// A collection name as the API server accepts it: it ends up in request paths.
fn object_name(value: &str) -> Result<String, String> {
    dns(value, MAX_NAME, true)
}

fn namespace(value: &str) -> Result<String, String> {
    dns(value, MAX_NAMESPACE, false)
}

/// Lowercase alphanumerics and `-` (and `.` in subdomains), starting and ending alphanumeric.
fn dns(value: &str, max: usize, dots: bool) -> Result<String, String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let ok = !value.is_empty()
        && value.len() <= max
        && value.starts_with(alnum)
        && value.ends_with(alnum)
        && value
            .chars()
            .all(|c| alnum(c) || c == '-' || (dots && c == '.'));
    if ok {
        Ok(value.to_string())
    } else {
        let allowed = if dots {
            "lowercase letters, digits, '-' and '.'"
        } else {
            "lowercase letters, digits and '-'"
        };
        Err(format!(
            "{value:?} is not a Kubernetes name: at most {max} characters of {allowed}, \
             starting and ending with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kubectl-chc").chain(args.iter().copied()))
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn commands_parse() {
        let cli = parse(&[
            "run",
            "news",
            "--wait",
            "--timeout",
            "30m",
            "-n",
            "telegram",
        ])
        .unwrap();
        assert_eq!(cli.namespace.as_deref(), Some("telegram"));
        assert_eq!(
            cli.command,
            Command::Run {
                name: "news".into(),
                wait: true,
                timeout: Some(Duration::from_secs(1800)),
            }
        );
        assert_eq!(
            parse(&["get", "-A"]).unwrap().command,
            Command::Get {
                all_namespaces: true
            }
        );
        assert_eq!(
            parse(&["logs", "-f", "news"]).unwrap().command,
            Command::Logs {
                name: "news".into(),
                follow: true
            }
        );
    }

    #[test]
    fn bad_input_is_refused_before_any_request() {
        for args in [
            &["watch", "News"][..],
            &["watch", "news/../secrets"],
            &["suspend", "-news"],
            &["get", "-A", "-n", "telegram"],
            &["run", "news", "--timeout", "5m"],
            &["watch", "news", "--timeout", "soon"],
            &["get", "-n", "tele.gram"],
        ] {
            assert!(parse(args).is_err(), "{args:?} parsed");
        }
    }
}
