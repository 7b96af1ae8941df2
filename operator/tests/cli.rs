//! The binary's command line: `operator crd` prints exactly the generated CRD, and
//! flags/env parse into the run settings.

use std::{process::Command, time::Duration};

use clap::Parser;
use operator::cli::{Cli, Command as Sub};
use telemetry::LogFormat;

#[test]
fn crd_subcommand_prints_the_generated_crd() {
    let output = Command::new(env!("CARGO_BIN_EXE_operator"))
        .arg("crd")
        .output()
        .expect("runs the operator binary");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), crds::crd_yaml());
}

#[test]
fn run_flags_parse() {
    let cli = Cli::try_parse_from([
        "operator",
        "run",
        "--namespace",
        "telegram",
        "--log-format",
        "plain",
        "--metrics-addr",
        "127.0.0.1:9000",
        "--default-database-secret",
        "collector-db",
        "--status-refresh",
        "30s",
        "--leader-elect",
        "false",
        "--monitoring-page",
        "false",
    ])
    .unwrap();
    let Sub::Run(args) = cli.command() else {
        panic!("run expected")
    };
    assert_eq!(args.namespace.as_deref(), Some("telegram"));
    assert_eq!(args.log_format, LogFormat::Plain);
    assert_eq!(args.metrics_addr.port(), 9000);
    assert_eq!(
        args.default_database_secret.as_deref(),
        Some("collector-db")
    );
    assert_eq!(args.default_database_secret_key, "DATABASE_URL");
    assert_eq!(args.status_refresh, Duration::from_secs(30));
    assert!(!args.leader_elect);
    assert!(!args.monitoring_page);

    // No subcommand means `run`, with the defaults.
    let Sub::Run(args) = Cli::try_parse_from(["operator"]).unwrap().command() else {
        panic!("run expected")
    };
    assert_eq!(args.namespace, None, "all namespaces by default");
    assert!(args.leader_elect);
    assert!(args.monitoring_page, "the monitoring page is on by default");
    assert!(matches!(
        Cli::try_parse_from(["operator", "crd"]).unwrap().command(),
        Sub::Crd
    ));
    assert!(Cli::try_parse_from(["operator", "run", "--log-format", "xml"]).is_err());
}

#[test]
fn the_database_url_is_optional_and_never_shown() {
    let secret = "postgres://collector:hunter2-secret@db.internal:5432/tg";
    let output = Command::new(env!("CARGO_BIN_EXE_operator"))
        .args(["run", "--help"])
        .env("DATABASE_URL", secret)
        .output()
        .expect("runs the operator binary");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--database-url"), "{help}");
    assert!(
        help.contains("DATABASE_URL"),
        "the variable is named: {help}"
    );
    assert!(!help.contains("hunter2"), "the value is not: {help}");

    let Sub::Run(args) = Cli::try_parse_from(["operator", "run", "--database-url", secret])
        .unwrap()
        .command()
    else {
        panic!("run expected")
    };
    let url = args.database_url.as_ref().expect("parsed");
    assert_eq!(url.expose(), secret);
    let debug = format!("{args:?}");
    assert!(!debug.contains("hunter2"), "{debug}");

    let Sub::Run(args) = Cli::try_parse_from(["operator", "run"]).unwrap().command() else {
        panic!("run expected")
    };
    assert_eq!(args.status_refresh, Duration::from_secs(30));
    assert_eq!(
        (
            args.max_concurrent_reconciles,
            args.kube_api_qps,
            args.kube_api_burst
        ),
        (10_000, 500.0, 2000),
        "bounded by default"
    );
    for slow in ["31s", "0s", "2m"] {
        assert!(
            Cli::try_parse_from(["operator", "run", "--status-refresh", slow]).is_err(),
            "{slow}: no slower than the seed's 30 s page, at least 1 s"
        );
    }
    assert!(Cli::try_parse_from(["operator", "run", "--kube-api-qps", "0"]).is_err());
    assert!(Cli::try_parse_from(["operator", "run", "--max-concurrent-reconciles", "0"]).is_err());
}

fn media_destination(json: &str) -> Result<Option<crds::MediaDestination>, String> {
    match Cli::try_parse_from(["operator", "run", "--media-destination", json]) {
        Ok(cli) => {
            let Sub::Run(args) = cli.command() else {
                panic!("run expected")
            };
            Ok(args.media_destination)
        }
        Err(error) => Err(error.to_string()),
    }
}

#[test]
fn the_default_media_destination_is_checked_at_start() {
    let s3 = media_destination(
        r#"{"s3": {"bucket": "archive", "endpoint": "https://s3.example.com", "pathStyle": true,
                  "credentialsSecret": "media-s3"}}"#,
    )
    .unwrap()
    .unwrap();
    let bucket = s3.s3.unwrap();
    assert_eq!(
        (bucket.bucket.as_str(), bucket.path_style),
        ("archive", true)
    );
    let directory = media_destination(
        r#"{"directory": {"persistentVolumeClaim": "archive", "subPath": "tg"}}"#,
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        directory.directory.unwrap().persistent_volume_claim,
        "archive"
    );
    let Sub::Run(args) = Cli::try_parse_from(["operator", "run"]).unwrap().command() else {
        panic!("run expected")
    };
    assert_eq!(args.media_destination, None, "no default unless given");

    // Each bad default fails the start with a line saying what is wrong.
    for (json, says) in [
        ("s3://archive", "not JSON"),
        (r#"{"s3": {"prefix": "tg/"}}"#, "missing field `bucket`"),
        (
            r#"{"s3": {"bucket": "archive"}, "directory": {"persistentVolumeClaim": "a"}}"#,
            "must set exactly one of s3 and directory",
        ),
        ("{}", "must set exactly one of s3 and directory"),
        (
            r#"{"s3": {"bucket": "archive", "pathstyle": true}}"#,
            "unknown key s3.pathstyle",
        ),
        (
            r#"{"s3": {"bucket": "archive", "endpoint": "minio:9000"}}"#,
            "is not an http:// or https:// URL",
        ),
        (
            r#"{"s3": {"bucket": "archive", "credentialsSecret": "Media_S3"}}"#,
            "is not a valid Secret name",
        ),
        (
            r#"{"directory": {"persistentVolumeClaim": "archive", "subPath": "../etc"}}"#,
            "must be a relative path without '..'",
        ),
    ] {
        let error = media_destination(json).unwrap_err();
        assert!(error.contains(says), "{json}: {error}");
        assert!(error.contains("--media-destination"), "{error}");
    }
}
