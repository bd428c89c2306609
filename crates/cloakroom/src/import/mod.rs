//! Taking over the sessions of another framework, so that moving a service to
//! cloakroom signs nobody out: [`ExpressImport`] for express-session sessions kept
//! by connect-redis (cargo feature `express`).
//!
//! The rest of this page is `docs/MIGRATING-FROM-EXPRESS.md`.
//!
#![doc = include_str!("../../../../docs/MIGRATING-FROM-EXPRESS.md")]

pub(crate) mod express;

pub use self::express::ExpressImport;
