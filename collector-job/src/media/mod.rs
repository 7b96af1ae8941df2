//! Media files (`spec.media`): which files a run downloads ([`plan`], pure) and the
//! destination they are streamed into ([`destination`]). The collection loop drives both
//! (`commands::collect`), and an import streams an export's files from disk ([`local`]);
//! what is stored is recorded through `store::media`.

use std::time::Duration;

use contract::media::MediaSettings;

pub mod destination;
pub mod local;
pub mod plan;

use destination::{Destination, DestinationError};

/// Staging objects older than this are left by killed runs (no upload runs that long
/// without writing): the next run's sweep removes them.
pub const STAGING_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// A run's media settings, its opened destination and what it has downloaded so far.
#[derive(Clone, Debug)]
pub struct Media {
    pub settings: MediaSettings,
    pub destination: Destination,
    /// Bytes downloaded by this run (against `maxBytesPerRun`).
    pub spent: u64,
}

impl Media {
    /// Opens the destination of `settings` (S3 credentials from the `AWS_*` environment).
    pub fn open(settings: MediaSettings) -> Result<Self, DestinationError> {
        let destination = Destination::open(&settings.store)?;
        Ok(Self::with(settings, destination))
    }

    /// Works with `destination`, opened already.
    pub fn with(settings: MediaSettings, destination: Destination) -> Self {
        Self {
            settings,
            destination,
            spent: 0,
        }
    }
}
