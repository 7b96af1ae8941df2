//! `logs NAME [-f]`: the collector's logs of the current run, else of the last one. The
//! run's pods are found by the `job-name` label Kubernetes puts on a Job's pods; a sharded
//! run's lines are prefixed with their index.

use std::collections::BTreeMap;

use futures::{AsyncBufReadExt, StreamExt, stream::BoxStream};
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, ResourceExt,
    api::{ListParams, LogParams},
};

use super::{Ctx, Error, Outcome, RequestError, collection};

/// The labels Kubernetes puts a Job's name in on its pods: the current one, then the one
/// clusters before 1.27 use alone.
pub const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

/// Where Kubernetes writes an Indexed Job pod's index (annotation, and label since 1.28).
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

pub(super) async fn logs(ctx: &mut Ctx<'_>, name: &str, follow: bool) -> Result<Outcome, Error> {
    let cc = collection(ctx, name).await?;
    let status = cc.status.unwrap_or_default();
    let job = status
        .active_job
        .or(status.last_run.map(|r| r.job))
        .ok_or_else(|| Error::NoRun {
            collection: ctx.qualified(name),
        })?
        .to_string();

    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut pods = Vec::new();
    for label in JOB_NAME_LABELS {
        let selector = format!("{label}={job}");
        pods = pods_api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| Error::ListPods {
                job: job.clone(),
                source: RequestError::Client(e),
            })?
            .items;
        if !pods.is_empty() {
            break;
        }
    }
    let sources = pick(&pods);
    if sources.is_empty() {
        return Err(Error::NoPods { job });
    }
    let params = LogParams {
        container: Some(contract::job::CONTAINER.to_string()),
        follow,
        ..LogParams::default()
    };
    let failed = if follow {
        stream(ctx, &pods_api, &sources, &params).await?
    } else {
        print(ctx, &pods_api, &sources, &params).await?
    };
    if failed > 0 {
        return Err(Error::Logs {
            job,
            failed,
            pods: sources.len(),
        });
    }
    Ok(Outcome::Done)
}

/// One pod whose logs are printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub pod: String,
    /// The pod's Job completion index in a sharded (Indexed) run.
    pub shard: Option<u32>,
}

impl Source {
    /// What its lines start with: `[shard 2] ` in a sharded run, nothing otherwise.
    pub fn prefix(&self) -> String {
        self.shard
            .map(|index| format!("[shard {index}] "))
            .unwrap_or_default()
    }
}

/// The pod to read for each index, in index order: the newest one (the latest attempt
/// after retries).
pub fn pick(pods: &[Pod]) -> Vec<Source> {
    let mut newest: BTreeMap<Option<u32>, &Pod> = BTreeMap::new();
    for pod in pods {
        let key = |p: &Pod| (p.metadata.creation_timestamp.clone(), p.name_any());
        newest
            .entry(completion_index(pod))
            .and_modify(|kept| {
                if key(pod) > key(kept) {
                    *kept = pod;
                }
            })
            .or_insert(pod);
    }
    newest
        .into_iter()
        .map(|(shard, pod)| Source {
            pod: pod.name_any(),
            shard,
        })
        .collect()
}

fn completion_index(pod: &Pod) -> Option<u32> {
    pod.annotations()
        .get(COMPLETION_INDEX)
        .or_else(|| pod.labels().get(COMPLETION_INDEX))
        .and_then(|v| v.parse().ok())
}

/// Each pod's logs in turn; how many could not be read (each said on stderr).
async fn print(
    ctx: &mut Ctx<'_>,
    api: &Api<Pod>,
    sources: &[Source],
    params: &LogParams,
) -> Result<usize, Error> {
    let mut failed = 0;
    for source in sources {
        match api.logs(&source.pod, params).await {
            Ok(text) => {
                for line in text.lines() {
                    writeln!(ctx.out, "{}{line}", source.prefix())?;
                }
            }
            Err(e) => {
                failed += 1;
                cannot_read(ctx, &source.pod, &RequestError::Client(e))?;
            }
        }
    }
    Ok(failed)
}

/// Every pod's logs as they are written, interleaved line by line, until all pods end;
/// how many could not be read.
async fn stream(
    ctx: &mut Ctx<'_>,
    api: &Api<Pod>,
    sources: &[Source],
    params: &LogParams,
) -> Result<usize, Error> {
    let mut failed = 0;
    let mut streams: Vec<BoxStream<'static, (Source, std::io::Result<String>)>> = Vec::new();
    for source in sources {
        match api.log_stream(&source.pod, params).await {
            Ok(reader) => {
                let source = source.clone();
                streams.push(
                    reader
                        .lines()
                        .map(move |line| (source.clone(), line))
                        .boxed(),
                );
            }
            Err(e) => {
                failed += 1;
                cannot_read(ctx, &source.pod, &RequestError::Client(e))?;
            }
        }
    }
    let mut lines = futures::stream::select_all(streams);
    while let Some((source, line)) = lines.next().await {
        match line {
            Ok(line) => {
                writeln!(ctx.out, "{}{line}", source.prefix())?;
                ctx.out.flush()?;
            }
            Err(e) => {
                failed += 1;
                writeln!(
                    ctx.err,
                    "error: the logs of pod {} broke off: {e}",
                    source.pod
                )?;
            }
        }
    }
    Ok(failed)
}

fn cannot_read(ctx: &mut Ctx<'_>, pod: &str, cause: &RequestError) -> Result<(), Error> {
    writeln!(ctx.err, "error: cannot read the logs of pod {pod}: {cause}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use crds::time::to_k8s;
    use kube::api::ObjectMeta;

    fn pod(name: &str, index: Option<&str>, created_min: i64) -> Pod {
        let created =
            Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap() + TimeDelta::minutes(created_min);
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                creation_timestamp: Some(to_k8s(created)),
                annotations: index.map(|i| [(COMPLETION_INDEX.to_string(), i.to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Pod::default()
        }
    }

    #[test]
    fn the_latest_attempt_of_an_unsharded_run() {
        let pods = [pod("news-1-b", None, 5), pod("news-1-a", None, 0)];
        assert_eq!(
            pick(&pods),
            [Source {
                pod: "news-1-b".into(),
                shard: None
            }]
        );
        assert_eq!(pick(&pods)[0].prefix(), "");
    }

    #[test]
    fn one_pod_per_index_in_index_order() {
        let pods = [
            pod("news-1-2-x", Some("2"), 0),
            pod("news-1-0-x", Some("0"), 0),
            pod("news-1-0-y", Some("0"), 3),
            pod("news-1-10-x", Some("10"), 0),
        ];
        let picked = pick(&pods);
        assert_eq!(
            picked
                .iter()
                .map(|s| (s.pod.as_str(), s.shard))
                .collect::<Vec<_>>(),
            [
                ("news-1-0-y", Some(0)),
                ("news-1-2-x", Some(2)),
                ("news-1-10-x", Some(10)),
            ]
        );
        assert_eq!(picked[1].prefix(), "[shard 2] ");
    }
}
