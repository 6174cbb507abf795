//! `qtforge.security`: what makes running someone else's plugin safe.
//!
//! So far: the integrity of plugin files against the hashes their manifest
//! lists (`integrity`). Capabilities, the sandbox, quotas and trust follow.

pub mod integrity;
pub mod lua;
