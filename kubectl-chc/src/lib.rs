//! `kubectl chc`: a kubectl plugin for ChannelCollections, as Flux, Argo and Tekton ship for
//! theirs.
//!
//! Pure: [`render`] (every table and line, at a given `now`), [`follow`] (which run to follow
//! and when it ended), [`screen`] (redrawing in place), [`cli`].

pub mod cli;
pub mod follow;
pub mod render;
pub mod screen;
