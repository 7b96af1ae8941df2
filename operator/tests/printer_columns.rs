//! The `kubectl get chc` columns the README shows, checked on the generated CRD.

use crds::ChannelCollection;
use kube::CustomResourceExt;

/// (name, JSON path, type) of every column.
const COLUMNS: [(&str, &str, &str); 8] = [
    ("Schedule", ".status.schedule", "string"),
    ("Suspended", ".spec.suspend", "boolean"),
    ("State", ".status.state", "string"),
    ("Progress", ".status.progress", "string"),
    ("Messages", ".status.messagesCollectedCurrentRun", "integer"),
    ("Errors", ".status.errorsCurrentRun", "integer"),
    ("ETA", ".status.eta", "string"),
    ("Last Run", ".status.lastScheduleTime", "date"),
];

/// Status fields that can hold a time in the future: kubectl prints those as `<invalid>` in a
/// `date` column (the seed's "-543s ago").
const FUTURE_TIMES: [&str; 2] = [".status.nextRunTime", ".status.waitingUntil"];

fn columns() -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceColumnDefinition>
{
    let crd = ChannelCollection::crd();
    assert_eq!(crd.spec.versions.len(), 1);
    crd.spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
}

#[test]
fn design_columns_exist_with_their_paths_and_types() {
    let columns = columns();
    for (name, path, kind) in COLUMNS {
        let column = columns
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no printer column {name:?}"));
        assert_eq!(column.json_path, path, "column {name}");
        assert_eq!(column.type_, kind, "column {name}");
        assert!(
            column.priority.unwrap_or(0) == 0,
            "column {name} must show without -o wide"
        );
    }
}

#[test]
fn no_date_column_shows_a_future_time() {
    let crd = ChannelCollection::crd();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    for path in FUTURE_TIMES {
        let field = path.trim_start_matches(".status.");
        let node = &schema["openAPIV3Schema"]["properties"]["status"]["properties"][field];
        assert_eq!(
            node["format"], "date-time",
            "{path} is a time in the status schema"
        );
    }
    let next_run = columns()
        .into_iter()
        .find(|c| c.json_path == ".status.nextRunTime");
    assert_eq!(
        next_run.map(|c| c.type_).as_deref(),
        Some("string"),
        "Next Run is shown as text"
    );
    for column in columns() {
        if column.type_ == "date" {
            assert!(
                !FUTURE_TIMES.contains(&column.json_path.as_str()),
                "column {} renders the future time {} as an age",
                column.name,
                column.json_path
            );
        }
    }
}

#[test]
fn every_column_points_at_a_field_of_the_schema() {
    let crd = ChannelCollection::crd();
    let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
    let root = &schema["openAPIV3Schema"];
    for column in columns() {
        let mut node = root;
        for part in column.json_path.trim_start_matches('.').split('.') {
            if part == "metadata" {
                // ObjectMeta is the API server's, not part of the CRD schema.
                break;
            }
            node = &node["properties"][part];
            assert!(
                !node.is_null(),
                "column {} points at {}, not in the schema",
                column.name,
                column.json_path
            );
        }
    }
}
