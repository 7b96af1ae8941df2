//! The committed CRD copies must be exactly what the Rust types generate.

use std::path::Path;

#[test]
fn committed_crd_copies_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let generated = crds::crd_yaml();
    for copy in crds::CRD_COPIES {
        let committed = std::fs::read_to_string(root.join(copy))
            .unwrap_or_else(|e| panic!("cannot read {copy}: {e}"));
        assert!(
            committed == generated,
            "{copy} is stale: run `cargo run -p crds --bin crdgen` and commit the result"
        );
    }
}
