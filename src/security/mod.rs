//! `qtforge.security`: what makes running someone else's plugin safe.
//!
//! So far: the integrity of plugin files against the hashes their manifest
//! or a `qtforge.lock` lists (`integrity`, `lock`), and ed25519 signatures of
//! plugin folders with the keys a host trusts (`trust`). Capabilities, the
//! sandbox and quotas follow.

pub mod integrity;
pub mod lock;
pub mod lua;
pub mod pattern;
pub mod policy;
pub mod trust;
