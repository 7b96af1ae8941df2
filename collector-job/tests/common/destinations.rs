//! Where the media tests store files, a directory or `s3s-fs` on loopback, and what a
//! destination holds afterwards.

use std::collections::BTreeMap;
use std::path::PathBuf;

use collector_job::media::Media;
use collector_job::media::destination::Destination;
use contract::media::{MediaKind, MediaSettings, MediaStore};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use sha2::{Digest, Sha256};

use super::s3::{BUCKET, S3Server, scratch_dir};

/// Where a test stores files.
pub enum Target {
    Directory(PathBuf),
    S3(S3Server),
}

impl Target {
    pub fn directory() -> Self {
        Self::Directory(scratch_dir("directory"))
    }

    pub fn s3() -> Self {
        Self::S3(S3Server::start())
    }

    pub fn store(&self) -> MediaStore {
        match self {
            Self::Directory(path) => MediaStore::Directory {
                path: path.display().to_string(),
            },
            Self::S3(server) => MediaStore::S3 {
                bucket: BUCKET.into(),
                prefix: "tg/".into(),
                endpoint: Some(server.endpoint.clone()),
                region: Some("us-east-1".into()),
                path_style: true,
            },
        }
    }

    pub fn destination(&self) -> Destination {
        let credentials = match self {
            Self::S3(server) => server.credentials(),
            Self::Directory(_) => object_store::aws::AmazonS3Builder::new(),
        };
        Destination::open_with(&self.store(), credentials).expect("the destination opens")
    }

    pub fn media(&self, settings: MediaSettings) -> Media {
        Media::with(settings, self.destination())
    }

    pub fn settings(&self) -> MediaSettings {
        MediaSettings {
            kinds: MediaKind::ALL.to_vec(),
            max_file_size: None,
            max_bytes_per_run: None,
            newer_than: None,
            store: self.store(),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Self::Directory(path) = self {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Every object in the destination, by key, with its bytes.
pub async fn objects(destination: &Destination) -> BTreeMap<String, Vec<u8>> {
    let store = destination.store();
    let listed: Vec<_> = store.list(None).try_collect().await.expect("a listing");
    let mut all = BTreeMap::new();
    for meta in listed {
        let bytes = store
            .get(&meta.location)
            .await
            .expect("a listed object reads")
            .bytes()
            .await
            .expect("its bytes");
        all.insert(meta.location.to_string(), bytes.to_vec());
    }
    all
}

/// `len` bytes that differ with `seed` (a xorshift stream).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
