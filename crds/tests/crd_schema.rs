//! What a real API server checks when the CRD is applied, and what it then enforces:
//! a structural schema, CEL rules that compile within the cost budget, and rules that
//! accept good specs and reject bad ones with a readable message.

use kube::CustomResourceExt;
use kube::core::cel::{Validator, WarningKind, compile_schema, estimate_rule_cost};
use serde_json::{Value, json};

fn schema() -> Value {
    let crd = crds::ChannelCollection::crd();
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema.expect("the CRD has an openAPIV3Schema")).unwrap()
}

fn object(spec: Value) -> Value {
    json!({
        "apiVersion": "collection.mtproto.dev/v1alpha1",
        "kind": "ChannelCollection",
        "metadata": {"name": "news", "namespace": "tg"},
        "spec": spec,
    })
}

fn spec_with(extra: Value) -> Value {
    let mut spec = json!({
        "channels": ["@durov", "telegram", "https://t.me/tginfo", "-1001234567890"],
        "session": {"secretRef": {"name": "tg-session", "key": "session"}},
        "apiCredentials": {"secretRef": {"name": "tg-api"}},
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    spec
}

/// Messages of every CEL rule the object breaks.
fn cel_errors(spec: Value) -> Vec<String> {
    match Validator::new().validate(&schema(), &object(spec), None) {
        Ok(()) => vec![],
        Err(errors) => errors.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

/// Visits every schema node with its JSON path.
fn walk<'a>(node: &'a Value, path: String, visit: &mut dyn FnMut(&str, &'a Value)) {
    visit(&path, node);
    if let Some(properties) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in properties {
            walk(child, format!("{path}.{name}"), visit);
        }
    }
    if let Some(items) = node.get("items") {
        walk(items, format!("{path}[]"), visit);
    }
    if let Some(Value::Object(_)) = node.get("additionalProperties") {
        walk(&node["additionalProperties"], format!("{path}{{}}"), visit);
    }
}

#[test]
fn schema_is_structural() {
    let schema = schema();
    walk(&schema, String::new(), &mut |path, node| {
        assert!(
            node.get("$ref").is_none(),
            "{path}: $ref is not allowed in a CRD schema"
        );
        let typed = node.get("type").is_some()
            || node.get("x-kubernetes-int-or-string").is_some()
            || node.get("x-kubernetes-preserve-unknown-fields").is_some();
        assert!(
            typed,
            "{path}: every node of a structural schema needs a type"
        );
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let Some(branches) = node.get(combinator).and_then(Value::as_array) {
                for branch in branches {
                    for forbidden in ["type", "default", "description", "nullable"] {
                        assert!(
                            branch.get(forbidden).is_none(),
                            "{path}: {combinator} branches may not set {forbidden}"
                        );
                    }
                }
            }
        }
    });
}

/// Every node of the schema, embedded Kubernetes types included (`walk` follows properties,
/// items and maps only).
fn every_node(node: &Value, path: String, visit: &mut dyn FnMut(&str, &Value)) {
    visit(&path, node);
    match node {
        Value::Object(map) => {
            for (key, child) in map {
                every_node(child, format!("{path}/{key}"), visit);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                every_node(child, format!("{path}/{i}"), visit);
            }
        }
        _ => {}
    }
}

#[test]
fn no_enum_lists_null() {
    // kubectl's client-side validation rejects the whole CRD for one (`unknown object type
    // "nil"`) on servers without server-side field validation; nullable fields say
    // `nullable: true` instead.
    let mut enums = 0;
    every_node(&schema(), String::new(), &mut |path, node| {
        if let Some(values) = node.get("enum").and_then(Value::as_array) {
            enums += 1;
            assert!(
                values.iter().all(|v| !v.is_null()),
                "{path}: enum {values:?} lists null"
            );
        }
    });
    assert!(
        enums >= 3,
        "expected the spec's and status' enums, found {enums}"
    );
}

#[test]
fn our_fields_have_our_descriptions() {
    // `kubectl explain` shows these: a time field of ours must not read as k8s' Go docs.
    let schema = schema();
    let mut times = 0;
    walk(
        &schema["properties"]["status"],
        ".status".into(),
        &mut |path, node| {
            if path.contains(".conditions") {
                return; // metav1.Condition is Kubernetes' own type, with its own docs
            }
            let description = node["description"].as_str().unwrap_or("");
            assert!(!description.is_empty(), "{path} has no description");
            assert!(
                !description.starts_with("Time is a wrapper around time.Time"),
                "{path}: {description}"
            );
            times += usize::from(node["format"] == "date-time");
        },
    );
    assert!(
        times >= 8,
        "expected the status' time fields, found {times}"
    );
}

#[test]
fn cel_rules_compile_within_the_cost_budget() {
    let schema = schema();
    let mut rules = 0;
    walk(&schema, String::new(), &mut |path, node| {
        let Some(validations) = node
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
        else {
            return;
        };
        let compiled = compile_schema(node);
        assert!(
            !compiled.has_errors(),
            "{path}: {:?}",
            compiled.compilation_errors()
        );
        for validation in validations {
            let rule = validation["rule"].as_str().unwrap();
            rules += 1;
            let warnings = estimate_rule_cost(rule, &compiled);
            let costly: Vec<_> = warnings
                .iter()
                .filter(|w| {
                    matches!(
                        w.kind,
                        WarningKind::CostExceeded | WarningKind::MissingBounds
                    )
                })
                .collect();
            assert!(costly.is_empty(), "{path}: {rule}: {costly:?}");
            assert!(
                !rule.contains("!="),
                "{path}: write 'exactly one of' with && / || (older servers over-estimate !=)"
            );
        }
    });
    assert!(rules >= 3, "expected the spec's CEL rules, found {rules}");
}

#[test]
fn strings_and_lists_of_the_spec_are_bounded() {
    let schema = schema();
    let spec = &schema["properties"]["spec"];
    // Our own fields; embedded Kubernetes types (resources, affinity, ...) are not read by rules.
    for field in ["channels", "interval", "schedule", "timeZone", "timeout"] {
        let node = &spec["properties"][field];
        let bounded = node.get("maxLength").is_some() || node.get("maxItems").is_some();
        assert!(bounded, "spec.{field} needs a maxLength/maxItems bound");
    }
    assert_eq!(spec["properties"]["channels"]["maxItems"], 500);
    assert_eq!(spec["properties"]["channels"]["minItems"], 1);
    assert!(spec["properties"]["channels"]["items"]["maxLength"].is_number());
}

#[test]
fn a_spec_with_exactly_one_schedule_passes() {
    assert_eq!(
        cel_errors(spec_with(json!({"interval": "10m"}))),
        Vec::<String>::new()
    );
    assert_eq!(
        cel_errors(spec_with(
            json!({"schedule": "0 3 * * *", "timeZone": "Europe/Berlin"})
        )),
        Vec::<String>::new()
    );
}

#[test]
fn interval_and_schedule_together_or_neither_are_rejected() {
    let message = "exactly one of spec.interval and spec.schedule must be set";
    let both = cel_errors(spec_with(json!({"interval": "10m", "schedule": "@hourly"})));
    assert_eq!(both, vec![message]);
    let neither = cel_errors(spec_with(json!({})));
    assert_eq!(neither, vec![message]);
}

#[test]
fn an_interval_under_a_minute_is_rejected() {
    assert_eq!(
        cel_errors(spec_with(json!({"interval": "30s"}))),
        vec!["spec.interval must be at least 1m"]
    );
    assert!(cel_errors(spec_with(json!({"interval": "1m"}))).is_empty());
    assert!(cel_errors(spec_with(json!({"interval": "1h30m"}))).is_empty());
}

#[test]
fn a_time_zone_without_a_cron_schedule_is_rejected() {
    assert_eq!(
        cel_errors(spec_with(json!({"interval": "10m", "timeZone": "UTC"}))),
        vec!["spec.timeZone only applies to spec.schedule"]
    );
}

#[test]
fn defaults_follow_the_design() {
    let schema = schema();
    let spec = &schema["properties"]["spec"]["properties"];
    assert_eq!(spec["successfulJobsHistoryLimit"]["default"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"]["default"], 1);
    assert_eq!(spec["concurrencyPolicy"]["default"], "Forbid");
    assert_eq!(
        spec["concurrencyPolicy"]["enum"],
        json!(["Forbid", "Replace"])
    );
}

#[test]
fn channel_references_follow_the_documented_forms() {
    let schema = schema();
    let pattern = schema["properties"]["spec"]["properties"]["channels"]["items"]["pattern"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pattern, contract::channel::PATTERN);
}

#[test]
fn the_crd_names_and_subresources_match_the_design() {
    let crd = crds::ChannelCollection::crd();
    assert_eq!(crd.spec.group, crds::GROUP);
    assert_eq!(crd.spec.names.plural, "channelcollections");
    assert_eq!(crd.spec.names.short_names, Some(vec!["chc".to_owned()]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

fn sessions(secrets: &[(&str, &str)]) -> Value {
    Value::Array(
        secrets
            .iter()
            .map(|(name, key)| json!({"secretRef": {"name": name, "key": key}}))
            .collect(),
    )
}

/// A spec with `spec.sessions` instead of `spec.session`.
fn sharded_spec(extra: Value) -> Value {
    let mut spec = spec_with(json!({"interval": "10m"}));
    spec.as_object_mut().unwrap().remove("session");
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    spec
}

#[test]
fn a_spec_with_sessions_instead_of_session_passes() {
    let four = sessions(&[
        ("tg-a", "session"),
        ("tg-b", "session"),
        ("tg-c", "session"),
        // The same Secret, another key: another session.
        ("tg-c", "other"),
    ]);
    assert_eq!(
        cel_errors(sharded_spec(json!({"sessions": four}))),
        Vec::<String>::new()
    );
    let own_credentials = json!([{"secretRef": {"name": "tg-a", "key": "session"},
                                  "apiCredentials": {"secretRef": {"name": "tg-api-a"}}}]);
    assert_eq!(
        cel_errors(sharded_spec(json!({"sessions": own_credentials}))),
        Vec::<String>::new()
    );
}

#[test]
fn session_and_sessions_together_or_neither_are_rejected() {
    let message = "exactly one of spec.session and spec.sessions must be set";
    let mut both = sharded_spec(json!({"sessions": sessions(&[("tg-a", "session")])}));
    both["session"] = json!({"secretRef": {"name": "tg-session", "key": "session"}});
    assert_eq!(cel_errors(both), vec![message]);
    assert_eq!(cel_errors(sharded_spec(json!({}))), vec![message]);
}

#[test]
fn a_session_listed_twice_is_rejected() {
    let twice = sessions(&[
        ("tg-a", "session"),
        ("tg-b", "session"),
        ("tg-a", "session"),
    ]);
    assert_eq!(
        cel_errors(sharded_spec(json!({"sessions": twice}))),
        vec!["spec.sessions must not list the same session Secret key twice"]
    );
}

#[test]
fn sessions_and_shards_are_bounded() {
    let schema = schema();
    let sessions = &schema["properties"]["spec"]["properties"]["sessions"];
    assert_eq!(sessions["minItems"], 1);
    assert_eq!(sessions["maxItems"], crds::MAX_SESSIONS);
    let shards = &schema["properties"]["status"]["properties"]["shards"];
    assert_eq!(shards["maxItems"], crds::MAX_SHARDS);
    assert_eq!(
        shards["items"]["properties"]["state"]["enum"],
        json!(["Starting", "Collecting", "Waiting", "Succeeded", "Failed"])
    );
    // Neither is required: old objects have `session`, sharded ones `sessions`.
    let required = schema["properties"]["spec"]["required"].as_array().unwrap();
    assert!(!required.contains(&json!("session")), "{required:?}");
    assert!(!required.contains(&json!("sessions")), "{required:?}");
}

#[test]
fn recent_runs_are_bounded_and_optional() {
    let status = &schema()["properties"]["status"];
    assert_eq!(
        status["properties"]["recentRuns"]["maxItems"],
        crds::MAX_RECENT_RUNS
    );
    // Statuses written before the list existed still parse.
    let old: crds::ChannelCollectionStatus =
        serde_json::from_value(json!({"lastRun": {"job": "news-1", "result": "Succeeded"}}))
            .unwrap();
    assert!(old.recent_runs.is_empty());
}

#[test]
fn collections_written_before_sessions_existed_still_parse() {
    let spec: crds::ChannelCollectionSpec =
        serde_json::from_value(spec_with(json!({"interval": "10m"}))).unwrap();
    assert!(!spec.is_sharded());
    let sessions = spec.run_sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].session.name, "tg-session");
    assert_eq!(sessions[0].api_credentials.name, "tg-api");
    // And they serialize back without a `sessions` field.
    let back = serde_json::to_value(&spec).unwrap();
    assert!(back.get("sessions").is_none(), "{back}");
    assert_eq!(back["session"]["secretRef"]["name"], "tg-session");
}

#[test]
fn each_session_uses_its_own_credentials_or_the_spec_s() {
    let spec: crds::ChannelCollectionSpec = serde_json::from_value(sharded_spec(json!({
        "sessions": [
            {"secretRef": {"name": "tg-a", "key": "session"}},
            {"secretRef": {"name": "tg-b", "key": "session"},
             "apiCredentials": {"secretRef": {"name": "tg-api-b"}}}
        ]
    })))
    .unwrap();
    assert!(spec.is_sharded());
    let names: Vec<(&str, &str)> = spec
        .run_sessions()
        .iter()
        .map(|s| (s.session.name.as_str(), s.api_credentials.name.as_str()))
        .collect();
    assert_eq!(names, [("tg-a", "tg-api"), ("tg-b", "tg-api-b")]);
}

fn media(extra: Value) -> Value {
    let mut media = json!({
        "kinds": ["photo", "video"],
        "maxFileSize": "50Mi",
        "destination": {"s3": {"bucket": "archive", "credentialsSecret": "media-s3"}},
    });
    for (key, value) in extra.as_object().unwrap() {
        media[key] = value.clone();
    }
    spec_with(json!({"interval": "10m", "media": media}))
}

#[test]
fn media_with_one_destination_or_none_passes() {
    assert_eq!(cel_errors(media(json!({}))), Vec::<String>::new());
    let directory =
        json!({"directory": {"persistentVolumeClaim": "archive", "subPath": "tg/media"}});
    assert_eq!(
        cel_errors(media(json!({"destination": directory}))),
        Vec::<String>::new()
    );
    // The operator-wide default destination applies.
    let mut without = media(json!({}));
    without["media"]
        .as_object_mut()
        .unwrap()
        .remove("destination");
    assert_eq!(cel_errors(without), Vec::<String>::new());
}

#[test]
fn a_media_destination_with_both_or_neither_is_rejected() {
    let message = "spec.media.destination must set exactly one of s3 and directory";
    let both =
        json!({"s3": {"bucket": "archive"}, "directory": {"persistentVolumeClaim": "archive"}});
    assert_eq!(
        cel_errors(media(json!({"destination": both}))),
        vec![message]
    );
    assert_eq!(cel_errors(media(json!({"destination": {}}))), vec![message]);
}

#[test]
fn a_media_kind_listed_twice_is_rejected() {
    assert_eq!(
        cel_errors(media(json!({"kinds": ["photo", "voice", "photo"]}))),
        vec!["spec.media.kinds must not list a kind twice"]
    );
}

#[test]
fn a_media_sub_path_must_stay_inside_the_volume() {
    let message = "spec.media.destination.directory.subPath must be a relative path without '..'";
    for bad in ["/etc", "..", "../x", "a/../b", "a/.."] {
        let directory = json!({"directory": {"persistentVolumeClaim": "archive", "subPath": bad}});
        assert_eq!(
            cel_errors(media(json!({"destination": directory}))),
            vec![message],
            "{bad}"
        );
    }
    for good in ["media", "a/b", "..hidden", "a..b/c", "./x"] {
        let directory = json!({"directory": {"persistentVolumeClaim": "archive", "subPath": good}});
        assert_eq!(
            cel_errors(media(json!({"destination": directory}))),
            Vec::<String>::new(),
            "{good}"
        );
    }
}

#[test]
fn media_sizes_follow_the_contract_s_pattern_and_media_is_optional() {
    let schema = schema();
    let media = &schema["properties"]["spec"]["properties"]["media"];
    for field in ["maxFileSize", "maxBytesPerRun"] {
        assert_eq!(
            media["properties"][field]["pattern"],
            crds::SIZE_PATTERN,
            "{field}"
        );
    }
    assert_eq!(media["properties"]["kinds"]["maxItems"], 7);
    let required = schema["properties"]["spec"]["required"].as_array().unwrap();
    assert!(!required.contains(&json!("media")), "{required:?}");
    // Collections written before media existed parse, and serialize back without it.
    let spec: crds::ChannelCollectionSpec =
        serde_json::from_value(spec_with(json!({"interval": "10m"}))).unwrap();
    assert!(spec.media.is_none());
    assert!(serde_json::to_value(&spec).unwrap().get("media").is_none());
}
