//! A file on this machine (one an export holds), read a chunk at a time: hashed, or streamed
//! into the destination. Memory stays a chunk (and the upload's parts) whatever its size.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::app::shutdown::Shutdown;
use crate::media::destination::{Destination, DestinationError, StoredObject};

/// Bytes read at a time.
const CHUNK: usize = 1024 * 1024;

/// Why a local file was not stored.
#[derive(Debug, thiserror::Error)]
pub enum LocalFileError {
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Destination(#[from] DestinationError),
    /// A stop was requested while the file was being uploaded: the upload was given up.
    #[error("stopped while uploading {path}")]
    Stopped { path: String },
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> LocalFileError + '_ {
    move |source| LocalFileError::Read {
        path: path.display().to_string(),
        source,
    }
}

/// The sha256 of the file at `path`, read on a blocking thread.
pub async fn sha256(path: &Path) -> Result<[u8; 32], LocalFileError> {
    let owned: PathBuf = path.to_owned();
    let hashed = tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&owned)?;
        let mut hasher = Sha256::new();
        let mut chunk = vec![0; CHUNK];
        loop {
            match file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => hasher.update(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(hasher.finalize().into())
    })
    .await
    .map_err(std::io::Error::other)
    .and_then(|hashed| hashed);
    hashed.map_err(read_error(path))
}

/// Streams the file at `path` into `destination` (to its content address, see
/// [`Destination::begin`]). A stop request gives the upload up between two chunks.
pub async fn upload(
    destination: &Destination,
    path: &Path,
    shutdown: &Shutdown,
) -> Result<StoredObject, LocalFileError> {
    let mut file = std::fs::File::open(path).map_err(read_error(path))?;
    let mut upload = destination.begin().await?;
    let mut chunk = vec![0; CHUNK];
    let streamed = loop {
        if shutdown.is_requested() {
            break Err(LocalFileError::Stopped {
                path: path.display().to_string(),
            });
        }
        // The file and the chunk go to a blocking thread for one read and come back.
        let read = tokio::task::spawn_blocking(move || {
            let n = file.read(&mut chunk);
            (file, chunk, n)
        })
        .await;
        let n;
        (file, chunk, n) = match read {
            Ok(read) => read,
            Err(e) => break Err(read_error(path)(std::io::Error::other(e))),
        };
        match n {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if let Err(error) = upload.write(&chunk[..n]).await {
                    break Err(error.into());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(read_error(path)(e)),
        }
    };
    match streamed {
        Ok(()) => Ok(upload.finish().await?),
        Err(error) => {
            upload.abort().await;
            Err(error)
        }
    }
}
