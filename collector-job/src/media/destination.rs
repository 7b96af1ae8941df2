//! Where media files are written: an S3-compatible bucket or a directory, through
//! `object_store`. A file is streamed into a multipart upload under a staging key while its
//! sha256 is computed, then moved to its content address (`<prefix>sha256/ab/cdef...`) unless
//! an object is already there. An unfinished multipart upload is invisible, and on a
//! directory the part file is not at any object's path, so a killed run leaves no partial
//! object behind; [`Destination::sweep`] removes what a killed run left under the staging
//! prefix.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use contract::media::MediaStore;

/// Bytes per uploaded part: S3's minimum for every part but the last.
pub const UPLOAD_PART: usize = 5 * 1024 * 1024;

/// Parts uploading at once; with the part being filled, this bounds a file's memory
/// (about (1 + this) x [`UPLOAD_PART`]) whatever its size.
const PARTS_IN_FLIGHT: usize = 2;

/// A failed step of writing into the destination. Never holds credentials: they stay in the
/// `AWS_*` environment `object_store` reads.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("cannot open the media destination {destination}")]
    Open {
        destination: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot create the media directory {path}")]
    CreateDirectory {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the media prefix {prefix:?} is not a valid object key prefix")]
    Prefix {
        prefix: String,
        #[source]
        source: object_store::path::Error,
    },
    #[error("cannot start an upload to {key}")]
    Begin {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot upload to {key}")]
    Write {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot look up {key}")]
    Head {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot move {from} to {to}")]
    Move {
        from: String,
        to: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot remove {key}")]
    Remove {
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot list the staging objects under {prefix}")]
    List {
        prefix: String,
        #[source]
        source: object_store::Error,
    },
    #[error("cannot remove the staging files in {path}")]
    SweepDirectory {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// An opened destination.
#[derive(Clone, Debug)]
pub struct Destination {
    store: Arc<dyn ObjectStore>,
    /// The key prefix, empty or ending in `/`.
    prefix: String,
    /// The directory's root on disk (a directory destination only): part files of unfinished
    /// uploads are invisible to listings and are swept from here.
    root: Option<PathBuf>,
    /// What `media_files.destination` calls it.
    name: String,
}

/// A file stored at its content address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub sha256: [u8; 32],
    pub size: u64,
    /// The object was already there (the same bytes stored before): nothing was added.
    pub existed: bool,
}

/// `<prefix>sha256/ab/cdef...` for a file whose sha256 is `digest`.
pub fn content_key(prefix: &str, digest: &[u8; 32]) -> String {
    let hex = hex(digest);
    format!("{prefix}sha256/{}/{}", &hex[..2], &hex[2..])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The prefix as keys use it: no leading slash, empty or ending in one `/`.
fn normalized_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    }
}

impl Destination {
    /// Opens `store`. S3 credentials come from the standard `AWS_*` environment.
    pub fn open(store: &MediaStore) -> Result<Self, DestinationError> {
        Self::open_with(store, AmazonS3Builder::from_env())
    }

    /// Opens `store`, an S3 bucket with `s3` (its credentials, client options) completed
    /// by the bucket, endpoint, region and addressing style of `store`.
    pub fn open_with(store: &MediaStore, s3: AmazonS3Builder) -> Result<Self, DestinationError> {
        match store {
            MediaStore::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                path_style,
            } => {
                let prefix = normalized_prefix(prefix);
                let name = format!("s3://{bucket}/{prefix}");
                let mut builder = s3
                    .with_bucket_name(bucket)
                    .with_virtual_hosted_style_request(!path_style);
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_endpoint(endpoint);
                }
                if let Some(region) = region {
                    builder = builder.with_region(region);
                }
                let s3 = builder.build().map_err(|source| DestinationError::Open {
                    destination: name.clone(),
                    source,
                })?;
                Self::with(Arc::new(s3), prefix, None, name)
            }
            MediaStore::Directory { path } => {
                std::fs::create_dir_all(path).map_err(|source| {
                    DestinationError::CreateDirectory {
                        path: path.clone(),
                        source,
                    }
                })?;
                let local = LocalFileSystem::new_with_prefix(path).map_err(|source| {
                    DestinationError::Open {
                        destination: path.clone(),
                        source,
                    }
                })?;
                Self::with(
                    Arc::new(local),
                    String::new(),
                    Some(PathBuf::from(path)),
                    format!("directory:{path}"),
                )
            }
        }
    }

    fn with(
        store: Arc<dyn ObjectStore>,
        prefix: String,
        root: Option<PathBuf>,
        name: String,
    ) -> Result<Self, DestinationError> {
        // Refuse a prefix object_store would encode differently from what users list.
        if !prefix.is_empty() {
            Path::parse(prefix.trim_end_matches('/')).map_err(|source| {
                DestinationError::Prefix {
                    prefix: prefix.clone(),
                    source,
                }
            })?;
        }
        Ok(Self {
            store,
            prefix,
            root,
            name,
        })
    }

    /// What `media_files.destination` calls this destination.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key prefix of every object written (empty or ending in `/`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The underlying store, for reading objects back.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn staging_prefix(&self) -> String {
        format!("{}staging/", self.prefix)
    }

    /// Starts writing a file under a fresh staging key.
    pub async fn begin(&self) -> Result<Upload, DestinationError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Unique across processes sharing the destination: pid, start instant and a counter.
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let key = format!(
            "{}{}-{started}-{}",
            self.staging_prefix(),
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let staging = Path::from(key.as_str());
        let upload =
            self.store
                .put_multipart(&staging)
                .await
                .map_err(|source| DestinationError::Begin {
                    key: key.clone(),
                    source,
                })?;
        Ok(Upload {
            destination: self.clone(),
            staging,
            writer: WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Removes what killed runs left under the staging prefix, last written before `before`
    /// (older than any upload still running anywhere). Returns how many were removed. An
    /// unfinished S3 multipart upload is not an object and is not listed: the bucket's
    /// lifecycle rule `AbortIncompleteMultipartUpload` frees its parts.
    pub async fn sweep(&self, before: DateTime<Utc>) -> Result<u64, DestinationError> {
        match &self.root {
            Some(root) => sweep_directory(root.join("staging"), before).await,
            None => self.sweep_objects(before).await,
        }
    }

    async fn sweep_objects(&self, before: DateTime<Utc>) -> Result<u64, DestinationError> {
        let prefix = self.staging_prefix();
        let list_error = |source| DestinationError::List {
            prefix: prefix.clone(),
            source,
        };
        let mut listing = self.store.list(Some(&Path::from(prefix.as_str())));
        let mut removed = 0;
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(list_error)?;
            if meta.last_modified < before {
                self.remove(&meta.location).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn remove(&self, key: &Path) -> Result<(), DestinationError> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(DestinationError::Remove {
                key: key.to_string(),
                source,
            }),
        }
    }
}

/// Removes the files in `dir` (staged objects and the part files of unfinished uploads)
/// modified before `before`.
async fn sweep_directory(dir: PathBuf, before: DateTime<Utc>) -> Result<u64, DestinationError> {
    let shown = dir.display().to_string();
    tokio::task::spawn_blocking(move || {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let modified: DateTime<Utc> = meta.modified()?.into();
            if meta.is_file() && modified < before {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(removed)
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|r| r)
    .map_err(|source| DestinationError::SweepDirectory {
        path: shown,
        source,
    })
}

/// A file being written. Dropped unfinished, nothing becomes visible: the multipart upload is
/// never completed (a directory's part file is removed).
pub struct Upload {
    destination: Destination,
    staging: Path,
    writer: WriteMultipart,
    hasher: Sha256,
    size: u64,
}

impl Upload {
    /// Appends `bytes`, waiting while [`PARTS_IN_FLIGHT`] parts are uploading.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), DestinationError> {
        self.writer
            .wait_for_capacity(PARTS_IN_FLIGHT)
            .await
            .map_err(|source| DestinationError::Write {
                key: self.staging.to_string(),
                source,
            })?;
        self.hasher.update(bytes);
        self.writer.write(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Completes the upload and moves it to its content address, or drops it when that
    /// address already holds the same bytes.
    pub async fn finish(self) -> Result<StoredObject, DestinationError> {
        let Self {
            destination,
            staging,
            writer,
            hasher,
            size,
        } = self;
        writer
            .finish()
            .await
            .map_err(|source| DestinationError::Write {
                key: staging.to_string(),
                source,
            })?;
        let sha256: [u8; 32] = hasher.finalize().into();
        let key = content_key(&destination.prefix, &sha256);
        let target = Path::from(key.as_str());
        let existed = match destination.store.head(&target).await {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(source) => {
                return Err(DestinationError::Head {
                    key: key.clone(),
                    source,
                });
            }
        };
        if existed {
            destination.remove(&staging).await?;
        } else {
            // Two runs storing the same bytes at once both write the same object: harmless.
            destination
                .store
                .rename(&staging, &target)
                .await
                .map_err(|source| DestinationError::Move {
                    from: staging.to_string(),
                    to: key.clone(),
                    source,
                })?;
        }
        Ok(StoredObject {
            key,
            sha256,
            size,
            existed,
        })
    }

    /// Gives the upload up, removing the parts written.
    pub async fn abort(self) {
        if let Err(error) = self.writer.abort().await {
            tracing::warn!(
                key = %self.staging,
                error = %telemetry::one_line(&error),
                "could not abort an upload (a lifecycle rule or the next sweep removes it)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_shard_by_the_first_byte_under_the_prefix() {
        let mut digest = [0u8; 32];
        digest[0] = 0xab;
        digest[31] = 0x01;
        let key = content_key("tg/", &digest);
        assert_eq!(key.len(), "tg/sha256/ab/".len() + 62);
        assert!(key.starts_with("tg/sha256/ab/0000"), "{key}");
        assert!(key.ends_with("01"), "{key}");
    }

    #[test]
    fn prefixes_are_normalized_to_end_in_one_slash() {
        assert_eq!(normalized_prefix(""), "");
        assert_eq!(normalized_prefix("/"), "");
        assert_eq!(normalized_prefix("tg"), "tg/");
        assert_eq!(normalized_prefix("/a/b/"), "a/b/");
    }
}
