//! The commands against the API server, with the user's own RBAC: each reads or patches what
//! it needs and prints what [`crate::render`] makes of it. `rbac.json` lists every request.

mod get;
mod history;
mod logs;
mod patch;
mod watch;

use std::io::Write;

use chrono::{DateTime, Utc};
use crds::ChannelCollection;
use kube::{Api, Client, runtime::watcher};

use crate::cli::Command;

/// Exit code of a command that could not do what was asked (and of clap's usage errors).
pub const EXIT_ERROR: u8 = 2;

/// Field manager of the plugin's patches, as `metadata.managedFields` shows it.
pub const FIELD_MANAGER: &str = "kubectl-chc";

/// What a command runs with.
pub struct Ctx<'a> {
    pub client: Client,
    /// `-n`, else the kubeconfig context's namespace.
    pub namespace: String,
    pub now: &'a (dyn Fn() -> DateTime<Utc> + Send + Sync),
    pub out: &'a mut (dyn Write + Send),
    /// Warnings and per-pod failures that do not end the command.
    pub err: &'a mut (dyn Write + Send),
    /// `out` is a terminal: the live view is redrawn in place and counts down every second.
    pub live: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(
        client: Client,
        namespace: Option<String>,
        now: &'a (dyn Fn() -> DateTime<Utc> + Send + Sync),
        out: &'a mut (dyn Write + Send),
        err: &'a mut (dyn Write + Send),
        live: bool,
    ) -> Self {
        let namespace = namespace.unwrap_or_else(|| client.default_namespace().to_string());
        Self {
            client,
            namespace,
            now,
            out,
            err,
            live,
        }
    }

    fn collections(&self) -> Api<ChannelCollection> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// `namespace/name` of the collection `name`, for messages.
    fn qualified(&self, name: &str) -> String {
        format!("{}/{name}", self.namespace)
    }
}

/// How a command ended, when it did what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The run followed (or, for `watch` with nothing running, the last run) succeeded.
    Succeeded,
    /// It failed.
    Failed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Done | Outcome::Succeeded => 0,
            Outcome::Failed => 1,
        }
    }
}

/// Runs one command.
pub async fn execute(ctx: &mut Ctx<'_>, command: Command) -> Result<Outcome, Error> {
    match command {
        Command::Get { all_namespaces } => get::get(ctx, all_namespaces).await,
        Command::Watch { name, timeout } => watch::watch(ctx, &name, timeout).await,
        Command::Run {
            name,
            wait,
            timeout,
        } => patch::run(ctx, &name, wait, timeout).await,
        Command::Suspend { name } => patch::suspend(ctx, &name, true).await,
        Command::Resume { name } => patch::suspend(ctx, &name, false).await,
        Command::Logs { name, follow } => logs::logs(ctx, &name, follow).await,
        Command::History { name } => history::history(ctx, &name).await,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot list ChannelCollections in {scope}")]
    List {
        scope: String,
        #[source]
        source: RequestError,
    },
    #[error("ChannelCollection {collection} not found")]
    NotFound { collection: String },
    #[error("cannot read ChannelCollection {collection}")]
    Get {
        /// `namespace/name`.
        collection: String,
        #[source]
        source: RequestError,
    },
    #[error("cannot {action} ChannelCollection {collection}")]
    Patch {
        action: &'static str,
        /// `namespace/name`.
        collection: String,
        #[source]
        source: RequestError,
    },
    #[error("cannot watch ChannelCollection {collection}")]
    Watch {
        /// `namespace/name`.
        collection: String,
        #[source]
        source: RequestError,
    },
    #[error("the watch of ChannelCollection {collection} ended")]
    WatchEnded { collection: String },
    #[error("ChannelCollection {collection} was deleted while being watched")]
    Deleted { collection: String },
    #[error("gave up after {after}: the run of ChannelCollection {collection} had not ended")]
    Timeout {
        /// `namespace/name`.
        collection: String,
        after: String,
    },
    #[error("ChannelCollection {collection} has had no run yet: there are no logs")]
    NoRun { collection: String },
    #[error("cannot list the pods of Job {job}")]
    ListPods {
        job: String,
        #[source]
        source: RequestError,
    },
    #[error("Job {job} has no pods left (they go with the Job, e.g. past the history limits)")]
    NoPods { job: String },
    #[error("the logs of {failed} of the {pods} pod(s) of Job {job} could not be read")]
    Logs {
        job: String,
        failed: usize,
        pods: usize,
    },
    #[error("cannot write the output")]
    Output(#[from] std::io::Error),
}

/// A failed request as one readable line: the API server's own message when it answered
/// (`... is forbidden: User "x" cannot patch ... (403 Forbidden)`), else the client's error
/// with its causes. Its causes are in the line, so it has no source.
#[derive(Debug)]
pub enum RequestError {
    Client(kube::Error),
    Watch(watcher::Error),
}

impl RequestError {
    fn is_not_found(&self) -> bool {
        matches!(self, RequestError::Client(kube::Error::Api(s)) if s.is_not_found())
    }
}

impl std::fmt::Display for RequestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let client = match self {
            RequestError::Client(e) => e,
            RequestError::Watch(
                watcher::Error::InitialListFailed(e)
                | watcher::Error::WatchStartFailed(e)
                | watcher::Error::WatchFailed(e),
            ) => e,
            RequestError::Watch(watcher::Error::WatchError(status)) => {
                return write!(f, "{} ({} {})", status.message, status.code, status.reason);
            }
            RequestError::Watch(other) => return f.write_str(&telemetry::one_line(other)),
        };
        match client {
            kube::Error::Api(status) => {
                write!(f, "{} ({} {})", status.message, status.code, status.reason)
            }
            other => f.write_str(&telemetry::one_line(other)),
        }
    }
}

impl std::error::Error for RequestError {}

/// The collection `name` in the context's namespace.
async fn collection(ctx: &Ctx<'_>, name: &str) -> Result<ChannelCollection, Error> {
    ctx.collections().get(name).await.map_err(|e| {
        let source = RequestError::Client(e);
        if source.is_not_found() {
            Error::NotFound {
                collection: ctx.qualified(name),
            }
        } else {
            Error::Get {
                collection: ctx.qualified(name),
                source,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    #[test]
    fn refusals_are_the_api_server_s_words() {
        let status = Status::failure(
            "channelcollections.collection.mtproto.dev \"news\" is forbidden",
            "Forbidden",
        )
        .with_code(403);
        let error = Error::Patch {
            action: "suspend",
            collection: "telegram/news".into(),
            source: RequestError::Client(kube::Error::Api(status.boxed())),
        };
        assert_eq!(
            telemetry::one_line(&error),
            "cannot suspend ChannelCollection telegram/news: channelcollections.collection.mtproto.dev \"news\" is forbidden (403 Forbidden)"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::Done.exit_code(), 0);
        assert_eq!(Outcome::Succeeded.exit_code(), 0);
        assert_eq!(Outcome::Failed.exit_code(), 1);
        assert_ne!(EXIT_ERROR, Outcome::Failed.exit_code());
    }
}
