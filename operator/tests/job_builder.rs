//! The collector Job: naming, ownership, the restricted security profile, and the
//! Secret wiring of the operator/collector contract (docs/job-contract.md).

mod common;

use contract::job::{annotation, label};
use std::collections::BTreeMap;

use common::defaults;
use crds::testing::{NAMESPACE, TestCollection, t0};
use crds::{ChannelCollection, CollectionLimits, CollectorTemplate};
use k8s_openapi::api::{
    batch::v1::Job,
    core::v1::{EnvVar, EnvVarSource, PodSpec, SecretKeySelector},
};
use operator::job::{
    self, BuildError, JobDefaults, MAX_NAME, ManualRequest, build, collection_label, job_name,
    manual_job_name,
};
use regex::Regex;
use serde_json::Value;

fn built(cc: &ChannelCollection) -> Job {
    build(cc, &defaults(), t0(), None).expect("builds")
}

fn pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn env(job: &Job) -> BTreeMap<String, EnvVar> {
    pod(job).containers[0]
        .env
        .clone()
        .unwrap()
        .into_iter()
        .map(|e| (e.name.clone(), e))
        .collect()
}

fn secret_ref(var: &EnvVar) -> SecretKeySelector {
    var.value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.clone())
        .unwrap_or_else(|| panic!("{} is not a secretKeyRef", var.name))
}

fn dns_label() -> Regex {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap()
}

#[test]
fn name_is_collection_and_scheduled_minutes() {
    // 2026-11-28T12:00:00Z is unix minute 29_931_120.
    assert_eq!(t0().timestamp() / 60, 29_931_120);
    assert_eq!(job_name("news", t0()), "news-29931120");
    assert_eq!(
        job_name("news", t0() + chrono::TimeDelta::seconds(59)),
        "news-29931120",
        "same minute, same name"
    );
    assert_eq!(
        built(&ChannelCollection::test()).metadata.name.as_deref(),
        Some("news-29931120")
    );
}

#[test]
fn long_names_get_a_hash_instead_of_failing() {
    let fits = "a".repeat(MAX_NAME - "-29931120".len());
    assert_eq!(
        job_name(&fits, t0()),
        format!("{fits}-29931120"),
        "a name that fits is kept whole"
    );

    let long_a = format!("{}-alpha", "x".repeat(240));
    let long_b = format!("{}-bravo", "x".repeat(240));
    let a = job_name(&long_a, t0());
    let b = job_name(&long_b, t0());
    for name in [&a, &b] {
        assert!(
            name.len() <= MAX_NAME,
            "{name} is {} characters",
            name.len()
        );
        assert!(dns_label().is_match(name), "{name} is not a DNS label");
        assert!(
            name.ends_with("-29931120"),
            "{name} keeps the scheduled minute"
        );
    }
    assert_ne!(a, b, "names differing only past the cut stay distinct");
    assert_eq!(a, job_name(&long_a, t0()), "deterministic");

    // A cut that would end in '-' or '.' is trimmed back to a letter or digit.
    let dashy = format!("{}-{}", "y".repeat(45), "z".repeat(200));
    assert!(dns_label().is_match(&job_name(&dashy, t0())));
    let dotted = format!("{}.{}", "w".repeat(44), "v".repeat(200));
    assert!(!job_name(&dotted, t0()).contains(".-"));

    let label = collection_label(&long_a);
    assert!(label.len() <= MAX_NAME);
    assert_ne!(label, collection_label(&long_b));
    let cc = ChannelCollection::test().named(&long_a);
    let job = built(&cc);
    assert!(
        job.metadata
            .labels
            .unwrap()
            .values()
            .all(|v| v.len() <= MAX_NAME)
    );
}

#[test]
fn controller_owner_reference_and_labels() {
    let cc = ChannelCollection::test();
    let job = built(&cc);
    let owners = job.metadata.owner_references.clone().unwrap();
    assert_eq!(owners.len(), 1);
    let owner = &owners[0];
    assert_eq!(owner.api_version, "collection.mtproto.dev/v1alpha1");
    assert_eq!(owner.kind, "ChannelCollection");
    assert_eq!(owner.name, "news");
    assert_eq!(owner.uid, crds::testing::UID);
    assert_eq!(owner.controller, Some(true));
    assert_eq!(
        owner.block_owner_deletion, None,
        "would need update on channelcollections/finalizers"
    );
    assert!(job::is_owned_by(&job, &cc));
    assert_eq!(job.metadata.namespace.as_deref(), Some(NAMESPACE));

    let labels = job.metadata.labels.clone().unwrap();
    assert_eq!(
        labels.get(label::COLLECTION).map(String::as_str),
        Some("news")
    );
    assert_eq!(
        labels.get(label::MANAGED_BY).map(String::as_str),
        Some(label::MANAGED_BY_OPERATOR)
    );
    let annotations = job.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations
            .get(annotation::SCHEDULED_AT)
            .map(String::as_str),
        Some("2026-11-28T12:00:00Z")
    );

    // A user's pod label cannot take over the selector labels.
    let mut cc = ChannelCollection::test();
    cc.spec.collector = Some(CollectorTemplate {
        pod_labels: Some(BTreeMap::from([
            (label::COLLECTION.to_string(), "hijack".to_string()),
            ("team".to_string(), "data".to_string()),
        ])),
        ..CollectorTemplate::default()
    });
    let job = built(&cc);
    let pod_labels = job.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    assert_eq!(
        pod_labels.get(label::COLLECTION).map(String::as_str),
        Some("news")
    );
    assert_eq!(pod_labels.get("team").map(String::as_str), Some("data"));
}

/// The Pod Security "restricted" profile's checks that apply to a Job's pod.
fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut v = Vec::new();
    let psc = pod.security_context.clone().unwrap_or_default();
    if pod.host_network == Some(true) || pod.host_pid == Some(true) || pod.host_ipc == Some(true) {
        v.push("host namespaces".to_string());
    }
    for vol in pod.volumes.iter().flatten() {
        let allowed = vol.secret.is_some()
            || vol.empty_dir.is_some()
            || vol.config_map.is_some()
            || vol.projected.is_some()
            || vol.downward_api.is_some()
            || vol.persistent_volume_claim.is_some()
            || vol.ephemeral.is_some()
            || vol.csi.is_some();
        if !allowed {
            v.push(format!("volume {} has a restricted type", vol.name));
        }
    }
    let pod_seccomp = psc.seccomp_profile.as_ref().map(|s| s.type_.clone());
    for c in pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
    {
        let sc = c.security_context.clone().unwrap_or_default();
        if sc.privileged == Some(true) {
            v.push(format!("{}: privileged", c.name));
        }
        if sc.allow_privilege_escalation != Some(false) {
            v.push(format!(
                "{}: allowPrivilegeEscalation must be false",
                c.name
            ));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.unwrap_or_default().iter().any(|d| d == "ALL") {
            v.push(format!("{}: capabilities must drop ALL", c.name));
        }
        if caps
            .add
            .unwrap_or_default()
            .iter()
            .any(|a| a != "NET_BIND_SERVICE")
        {
            v.push(format!("{}: adds capabilities", c.name));
        }
        if !(sc.run_as_non_root == Some(true)
            || (sc.run_as_non_root.is_none() && psc.run_as_non_root == Some(true)))
        {
            v.push(format!("{}: runAsNonRoot", c.name));
        }
        if sc.run_as_user.or(psc.run_as_user) == Some(0) {
            v.push(format!("{}: runs as uid 0", c.name));
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .map(|s| s.type_.clone())
            .or(pod_seccomp.clone());
        if !matches!(seccomp.as_deref(), Some("RuntimeDefault" | "Localhost")) {
            v.push(format!(
                "{}: seccompProfile must be RuntimeDefault or Localhost",
                c.name
            ));
        }
        if c.ports
            .iter()
            .flatten()
            .any(|p| p.host_port.is_some_and(|h| h != 0))
        {
            v.push(format!("{}: hostPort", c.name));
        }
    }
    v
}

#[test]
fn security_context_passes_restricted() {
    let job = built(&ChannelCollection::test());
    let pod = pod(&job);
    assert_eq!(restricted_violations(pod), Vec::<String>::new());
    let c = &pod.containers[0];
    assert_eq!(
        c.security_context
            .as_ref()
            .unwrap()
            .read_only_root_filesystem,
        Some(true)
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));

    // The checker itself catches a regression.
    let mut broken = pod.clone();
    broken.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .allow_privilege_escalation = None;
    broken.security_context = None;
    broken.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .seccomp_profile = None;
    assert_eq!(restricted_violations(&broken).len(), 2);
}

#[test]
fn run_settings_come_from_the_spec() {
    let job = built(&ChannelCollection::test());
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.active_deadline_seconds, Some(1800), "timeout 30m");
    assert_eq!(spec.backoff_limit, Some(2));
    assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
    let rules = &spec.pod_failure_policy.as_ref().unwrap().rules;
    assert_eq!(rules[0].action, "FailJob");
    assert_eq!(
        rules[0].on_exit_codes.as_ref().unwrap().values,
        vec![2, 3],
        "bad config and revoked sessions are not retried"
    );
    let c = &pod(&job).containers[0];
    assert_eq!(
        c.command,
        Some(vec!["collector-job".to_string(), "collect".to_string()])
    );
    assert_eq!(c.image.as_deref(), Some(defaults().image.as_str()));

    let mut cc = ChannelCollection::test();
    cc.spec.timeout = None;
    cc.spec.backoff_limit = 0;
    cc.spec.collector = Some(CollectorTemplate {
        image: Some("registry.example/collector:1".to_string()),
        image_pull_policy: Some("Always".to_string()),
        node_selector: Some(BTreeMap::from([("pool".to_string(), "batch".to_string())])),
        service_account_name: Some("collector".to_string()),
        pod_annotations: Some(BTreeMap::from([("a".to_string(), "b".to_string())])),
        env: Some(vec![
            EnvVar {
                name: "RUST_LOG".to_string(),
                value: Some("debug".to_string()),
                value_from: None,
            },
            EnvVar {
                name: "DATABASE_URL".to_string(),
                value: Some("postgres://evil".to_string()),
                value_from: None,
            },
        ]),
        ..CollectorTemplate::default()
    });
    let job = built(&cc);
    let spec = job.spec.as_ref().unwrap();
    assert_eq!(spec.active_deadline_seconds, None);
    assert_eq!(spec.backoff_limit, Some(0));
    let p = pod(&job);
    assert_eq!(
        p.containers[0].image.as_deref(),
        Some("registry.example/collector:1")
    );
    assert_eq!(p.containers[0].image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(p.node_selector.as_ref().unwrap()["pool"], "batch");
    assert_eq!(p.service_account_name.as_deref(), Some("collector"));
    assert_eq!(
        p.automount_service_account_token,
        Some(false),
        "even with a service account"
    );
    let vars = env(&job);
    assert_eq!(vars["RUST_LOG"].value.as_deref(), Some("debug"));
    assert!(
        vars["DATABASE_URL"].value.is_none(),
        "extra env cannot override the contract"
    );
}

#[test]
fn secret_wiring_follows_the_contract() {
    let mut cc = ChannelCollection::test();
    cc.spec.limits = Some(CollectionLimits {
        max_messages_per_channel: Some(500),
        since: Some("30d".to_string()),
        refresh_window: None,
        deletion_sweep: None,
    });
    let job = built(&cc);
    let vars = env(&job);
    assert_eq!(
        vars["COLLECTOR_RUN_ID"].value.as_deref(),
        Some("news-29931120")
    );
    assert_eq!(
        vars["COLLECTOR_NAMESPACE"].value.as_deref(),
        Some(NAMESPACE)
    );
    assert_eq!(vars["COLLECTOR_NAME"].value.as_deref(), Some("news"));
    let channels: Vec<String> =
        serde_json::from_str(vars["COLLECTOR_CHANNELS"].value.as_deref().unwrap()).unwrap();
    assert_eq!(channels, cc.spec.channels);
    let limits: Value =
        serde_json::from_str(vars["COLLECTOR_LIMITS"].value.as_deref().unwrap()).unwrap();
    assert_eq!(
        limits,
        serde_json::json!({"maxMessagesPerChannel": 500, "since": "30d"})
    );

    let db = secret_ref(&vars["DATABASE_URL"]);
    assert_eq!(
        (db.name.as_str(), db.key.as_str()),
        ("collector-db", "DATABASE_URL"),
        "operator default"
    );
    let api = secret_ref(&vars["TELEGRAM_API_ID"]);
    assert_eq!((api.name.as_str(), api.key.as_str()), ("tg-api", "api_id"));
    assert!(
        !vars.contains_key("TELEGRAM_API_HASH"),
        "api_hash is only for login"
    );
    let pod_name = vars["COLLECTOR_POD_NAME"]
        .value_from
        .as_ref()
        .and_then(|f| f.field_ref.as_ref())
        .unwrap();
    assert_eq!(pod_name.field_path, "metadata.name");

    // Only the session key is projected, read-only, at the contract's path.
    let p = pod(&job);
    let session = p
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "session")
        .unwrap()
        .secret
        .clone()
        .unwrap();
    assert_eq!(session.secret_name.as_deref(), Some("tg-session"));
    let items = session.items.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("session", "session")
    );
    let mount = p.containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "session")
        .unwrap();
    assert_eq!(
        format!("{}/{}", mount.mount_path, items[0].path),
        "/var/run/secrets/telegram/session"
    );
    assert_eq!(mount.read_only, Some(true));

    // spec.database wins over the operator default.
    let job = built(&ChannelCollection::test().database("own-db", "url"));
    let db = secret_ref(&env(&job)["DATABASE_URL"]);
    assert_eq!((db.name.as_str(), db.key.as_str()), ("own-db", "url"));

    // No default and no spec.database: a clear error, not a Job without a database.
    let no_default = JobDefaults {
        database: None,
        ..defaults()
    };
    assert_eq!(
        build(&ChannelCollection::test(), &no_default, t0(), None).unwrap_err(),
        BuildError::NoDatabase
    );
}

#[test]
fn no_secret_value_anywhere_in_the_job() {
    let mut cc = ChannelCollection::test();
    cc.spec.collector = Some(CollectorTemplate {
        env: Some(vec![EnvVar {
            name: "HTTPS_PROXY".to_string(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: "proxy".to_string(),
                    key: "url".to_string(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
        }]),
        ..CollectorTemplate::default()
    });
    let request = ManualRequest {
        value: "manual-1",
        previous: None,
    };
    let job = build(&cc, &defaults(), t0(), Some(&request)).unwrap();
    let json = serde_json::to_value(&job).unwrap();

    // Walk the whole object: no Secret payload fields, and every literal env value is one
    // of the non-secret contract values.
    fn walk(v: &Value, path: &str, found: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if matches!(k.as_str(), "data" | "stringData" | "binaryData") {
                        found.push(format!("{path}.{k}"));
                    }
                    walk(child, &format!("{path}.{k}"), found);
                }
            }
            Value::Array(items) => items
                .iter()
                .enumerate()
                .for_each(|(i, c)| walk(c, &format!("{path}[{i}]"), found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(&json, "", &mut found);
    assert!(
        found.is_empty(),
        "secret payload fields in the Job: {found:?}"
    );

    let literal: Vec<String> = env(&job)
        .values()
        .filter(|e| e.value.is_some())
        .map(|e| e.name.clone())
        .collect();
    assert_eq!(
        literal,
        [
            "COLLECTOR_CHANNELS",
            "COLLECTOR_LIMITS",
            "COLLECTOR_NAME",
            "COLLECTOR_NAMESPACE",
            "COLLECTOR_RUN_ID"
        ]
    );
    for name in ["DATABASE_URL", "TELEGRAM_API_ID", "HTTPS_PROXY"] {
        let var = &env(&job)[name];
        assert!(
            var.value.is_none() && secret_ref(var).name.len() > 1,
            "{name} must stay a secretKeyRef"
        );
    }

    // And the operator could not have read one: its RBAC has no access to Secrets.
    let rbac: Value = serde_json::from_str(include_str!("../rbac.json")).unwrap();
    let resources: Vec<&str> = rbac["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
        })
        .collect();
    assert!(
        !resources.iter().any(|r| r.starts_with("secrets")),
        "{resources:?}"
    );
}

#[test]
fn a_manual_run_has_a_name_of_its_own_request() {
    let name = |value, previous| manual_job_name("news", &ManualRequest { value, previous });
    // Deterministic for the request (a restart adopts its Job) ...
    assert_eq!(name("r1", None), name("r1", None));
    // ... whatever the clock says, and never a scheduled run's `<collection>-<minutes>`.
    assert!(
        Regex::new(r"^news-r[0-9a-f]{8}$")
            .unwrap()
            .is_match(&name("r1", None))
    );
    assert_ne!(name("r1", None), name("r2", None));
    // The same value asked again after another is a new request.
    assert_ne!(name("r1", None), name("r1", Some("r2")));
    let long = "a".repeat(63);
    let cut = manual_job_name(
        &long,
        &ManualRequest {
            value: "r",
            previous: None,
        },
    );
    assert!(cut.len() <= MAX_NAME, "{cut}");
}
