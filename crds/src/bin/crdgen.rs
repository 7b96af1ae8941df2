//! Writes the CRD generated from the Rust types to `crds/channelcollection.yaml` and to the
//! Helm chart's `crds/` folder, so both committed copies stay what the types say.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let yaml = crds::crd_yaml();
    for target in crds::CRD_COPIES {
        let path = root.join(target);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &yaml)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
