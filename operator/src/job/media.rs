//! What `spec.media` adds to a collector Job: `COLLECTOR_MEDIA` (the spec resolved to the
//! [`MediaSettings`] the collector reads: sizes in bytes, the destination as its container
//! sees it), the S3 credentials as Secret references, or the directory's volume and mount.
//! Pure; the operator never reads the credentials Secret, the kubelet injects it.

use contract::job::env;
use contract::media::{
    MEDIA_MOUNT_PATH, MediaDestination, MediaSettings, MediaSpec, MediaStore, S3_CREDENTIAL_KEYS,
    parse_size,
};
use k8s_openapi::api::core::v1::{EnvVar, PersistentVolumeClaimVolumeSource, Volume, VolumeMount};

use super::build::{BuildError, from_secret, plain};

/// Name of the directory destination's volume in the collector pod.
pub const MEDIA_VOLUME: &str = "media";

/// The Job's share of `spec.media`.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaJob {
    /// What `COLLECTOR_MEDIA` holds.
    pub settings: MediaSettings,
    /// The Secret whose keys [`S3_CREDENTIAL_KEYS`] become the variables of those names.
    pub credentials_secret: Option<String>,
    /// A directory destination's claim and the directory inside it.
    pub claim: Option<(String, Option<String>)>,
}

impl MediaJob {
    /// `COLLECTOR_MEDIA`, then the S3 credentials (Secret references only).
    pub fn env(&self) -> Vec<EnvVar> {
        let json = serde_json::to_string(&self.settings)
            .expect("media settings (strings, numbers, an enum) always serialize");
        let mut out = vec![plain(env::MEDIA, &json)];
        if let Some(secret) = &self.credentials_secret {
            out.extend(S3_CREDENTIAL_KEYS.map(|key| from_secret(key, secret, key)));
        }
        out
    }

    /// Variables this Job sets besides the reserved ones: a spec's own `env` must not set them.
    pub fn env_names(&self) -> &'static [&'static str] {
        if self.credentials_secret.is_some() {
            &S3_CREDENTIAL_KEYS
        } else {
            &[]
        }
    }

    /// The claim's volume, for a directory destination.
    pub fn volume(&self) -> Option<Volume> {
        let (claim, _) = self.claim.as_ref()?;
        Some(Volume {
            name: MEDIA_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: Some(false),
            }),
            ..Default::default()
        })
    }

    /// Its mount at [`MEDIA_MOUNT_PATH`]: the directory inside the claim (`subPath`), else
    /// its root, so the collector's path is the same either way.
    pub fn mount(&self) -> Option<VolumeMount> {
        let (_, sub_path) = self.claim.as_ref()?;
        Some(VolumeMount {
            name: MEDIA_VOLUME.to_string(),
            mount_path: MEDIA_MOUNT_PATH.to_string(),
            sub_path: sub_path.clone(),
            ..Default::default()
        })
    }
}

/// `spec` resolved for the Job, with the collection's own destination, else `default` (the
/// operator-wide one). Fails when neither is set, or on what validation already refuses (a
/// size that does not parse, a destination that is not exactly one of s3 and directory), so
/// a Job is never built from a spec the collector would refuse.
pub fn resolve(
    spec: &MediaSpec,
    default: Option<&MediaDestination>,
) -> Result<MediaJob, BuildError> {
    let size = |field: &'static str, value: &Option<String>| {
        value
            .as_deref()
            .map(|v| {
                parse_size(v).map_err(|_| BuildError::MediaSize {
                    field,
                    value: v.to_owned(),
                })
            })
            .transpose()
    };
    let max_file_size = size("maxFileSize", &spec.max_file_size)?;
    let max_bytes_per_run = size("maxBytesPerRun", &spec.max_bytes_per_run)?;
    let destination = spec
        .destination
        .as_ref()
        .or(default)
        .ok_or(BuildError::NoMediaDestination)?;
    let (store, credentials_secret, claim) = match (&destination.s3, &destination.directory) {
        (Some(s3), None) => (
            MediaStore::S3 {
                bucket: s3.bucket.clone(),
                prefix: s3.prefix.clone().unwrap_or_default(),
                endpoint: s3.endpoint.clone(),
                region: s3.region.clone(),
                path_style: s3.path_style,
            },
            s3.credentials_secret.clone(),
            None,
        ),
        (None, Some(directory)) => (
            MediaStore::Directory {
                path: MEDIA_MOUNT_PATH.to_string(),
            },
            None,
            Some((
                directory.persistent_volume_claim.clone(),
                directory.sub_path.clone().filter(|p| !p.is_empty()),
            )),
        ),
        _ => return Err(BuildError::MediaDestination),
    };
    Ok(MediaJob {
        settings: MediaSettings {
            kinds: spec.kinds.clone(),
            max_file_size,
            max_bytes_per_run,
            newer_than: spec.newer_than,
            store,
        },
        credentials_secret,
        claim,
    })
}
