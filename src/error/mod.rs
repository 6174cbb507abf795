//! The errors qtforge reports, and their stable codes.
//!
//! Every failure that reaches Lua goes through [`Error`]: misuse becomes a Lua
//! error whose message names the function, an expected failure becomes an
//! `Error` value (`code`, `message`, `details`) in a result table. The code is
//! what programs branch on; it never changes once published.

pub mod lua;

use std::fmt;

/// A failure inside qtforge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A string that should be a semantic version (`1.2.3-rc.1`) is not one.
    InvalidVersion { input: String, reason: String },
    /// A string that should be a version range (`^1.2`, `>=1.0, <2.0`) is not one.
    InvalidRange { input: String, reason: String },
}

impl Error {
    /// The stable code programs branch on (`error.code` in Lua).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidVersion { .. } => "invalid_version",
            Error::InvalidRange { .. } => "invalid_range",
        }
    }

    /// More about the failure (`error.details` in Lua); empty when there is nothing more.
    pub fn details(&self) -> String {
        match self {
            Error::InvalidVersion { reason, .. } | Error::InvalidRange { reason, .. } => {
                reason.clone()
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidVersion { input, .. } => {
                write!(f, "{input:?} is not a semantic version")
            }
            Error::InvalidRange { input, .. } => write!(f, "{input:?} is not a version range"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_messages_name_the_input() {
        let e = Error::InvalidVersion {
            input: "x.y".into(),
            reason: "unexpected character 'x' while parsing major version number".into(),
        };
        assert_eq!(e.code(), "invalid_version");
        assert_eq!(e.to_string(), "\"x.y\" is not a semantic version");
        assert!(e.details().contains("major version"));
        let e = Error::InvalidRange {
            input: ">>1".into(),
            reason: "bad".into(),
        };
        assert_eq!(e.code(), "invalid_range");
    }
}
