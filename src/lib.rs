//! imgaudit audits container images: it reads a saved image without a Docker daemon, streams
//! every layer once into a merged filesystem model, runs checks over that model, and renders a
//! scored report.
//!
//! Data flows one way: [`source`] → [`image`] → [`checks`] → [`score`] → [`report`].

pub mod checks;
pub mod cli;
pub mod config_file;
pub mod digest;
#[doc(hidden)]
pub mod fuzzing;
pub mod image;
pub mod nodejs;
pub mod report;
pub mod score;
pub mod secrets;
pub mod severity;
pub mod source;
pub mod tar_guard;
