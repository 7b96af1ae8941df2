//! `kubectl chc`: a kubectl plugin for ChannelCollections, as Flux, Argo and Tekton ship for
//! theirs. It lists collections with a progress bar, follows a run live, asks for a run now,
//! suspends and resumes, prints the collector's logs and the recent runs.
//!
//! Pure: [`render`] (every table and line, at a given `now`), [`follow`] (which run to follow
//! and when it ended), [`screen`] (redrawing in place). I/O: [`commands`] (one API
//! conversation per command, with the user's kubeconfig and RBAC), [`app`] (the binary's edge).
//! It never reads a Secret.

pub mod app;
pub mod cli;
pub mod commands;
pub mod follow;
pub mod render;
pub mod screen;
