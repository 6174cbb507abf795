//! `qtforge.utils`: small classes the other submodules share.

pub mod lua;
pub mod version;
