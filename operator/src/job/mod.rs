//! The collector Job, built ([`build`]: from the collection and the scheduled time) and read
//! back ([`read`]: its phase, start and shard plan, as Kubernetes reports them) side by side,
//! so what one writes the other understands.

mod build;
pub mod media;
mod read;

pub use build::*;
pub use read::*;
