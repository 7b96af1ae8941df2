//! `krew.yaml` is a krew Plugin manifest as `kubectl krew install --manifest` validates it,
//! for this version of the plugin.

use std::collections::HashSet;

use serde_json::Value;

fn manifest() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/krew.yaml"))
        .expect("kubectl-chc/krew.yaml");
    serde_norway::from_str(&text).expect("krew.yaml is YAML")
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{what} must be a non-empty string, found {value}"))
}

#[test]
fn the_krew_manifest_is_valid_for_this_version() {
    let manifest = manifest();
    assert_eq!(
        manifest["apiVersion"],
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest["kind"], "Plugin");
    // The plugin's name is the binary's without `kubectl-`.
    assert_eq!(manifest["metadata"]["name"], "chc");
    let spec = &manifest["spec"];
    assert_eq!(
        text(&spec["version"], "spec.version"),
        format!("v{}", env!("CARGO_PKG_VERSION"))
    );
    text(&spec["shortDescription"], "spec.shortDescription");
    text(&spec["homepage"], "spec.homepage");

    let platforms = spec["platforms"].as_array().expect("spec.platforms");
    assert!(!platforms.is_empty());
    let mut seen = HashSet::new();
    for platform in platforms {
        let labels = &platform["selector"]["matchLabels"];
        let os = text(&labels["os"], "os");
        let arch = text(&labels["arch"], "arch");
        assert!(["linux", "darwin", "windows"].contains(&os), "{os}");
        assert!(["amd64", "arm64"].contains(&arch), "{arch}");
        assert!(seen.insert((os, arch)), "{os}/{arch} twice");

        let uri = text(&platform["uri"], "uri");
        assert!(uri.starts_with("https://"), "{uri}");
        assert!(
            uri.contains(&format!("v{}/", env!("CARGO_PKG_VERSION"))),
            "{uri} is not this version's"
        );
        let sha256 = text(&platform["sha256"], "sha256");
        assert!(
            sha256.len() == 64 && sha256.chars().all(|c| c.is_ascii_hexdigit()),
            "{sha256}"
        );
        let bin = text(&platform["bin"], "bin");
        let want = if os == "windows" {
            "kubectl-chc.exe"
        } else {
            "kubectl-chc"
        };
        assert_eq!(bin, want);
        let files = platform["files"].as_array().expect("files");
        assert!(
            files
                .iter()
                .any(|f| f["from"] == bin && text(&f["to"], "to") == "."),
            "{os}/{arch} does not install {bin}"
        );
    }
}
