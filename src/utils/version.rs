//! Semantic versions and ranges, on top of the `semver` crate.
//!
//! Lua keeps a parsed version as plain fields (see `version.lua`) so that
//! comparisons never leave Lua; this file holds the parts that follow the
//! semver specification closely enough that we defer to the crate: parsing,
//! prerelease precedence and range matching.

use std::cmp::Ordering;

use semver::{Prerelease, Version, VersionReq};

use crate::error::Error;

/// The parts of a version as Lua stores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionParts {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub build: String,
}

/// Lua numbers are doubles (and LuaJIT has no integers): past 2^53 a version
/// component would silently change, so it is refused instead.
pub const MAX_COMPONENT: u64 = (1 << 53) - 1;

/// Parses a semantic version such as `1.2.3-rc.1+build.5`.
pub fn parse(input: &str) -> Result<VersionParts, Error> {
    let version = Version::parse(input.trim()).map_err(|e| Error::InvalidVersion {
        input: input.to_owned(),
        reason: e.to_string(),
    })?;
    for (name, value) in [
        ("major", version.major),
        ("minor", version.minor),
        ("patch", version.patch),
    ] {
        if value > MAX_COMPONENT {
            return Err(Error::InvalidVersion {
                input: input.to_owned(),
                reason: format!("{name} version number is larger than 2^53 - 1"),
            });
        }
    }
    Ok(VersionParts {
        major: version.major,
        minor: version.minor,
        patch: version.patch,
        pre: version.pre.as_str().to_owned(),
        build: version.build.as_str().to_owned(),
    })
}

/// Checks a prerelease tag (`rc.1`) or build tag (`build.5`) on its own.
pub fn check_tag(kind: &str, tag: &str) -> Result<(), Error> {
    let text = match kind {
        "prerelease" => format!("0.0.0-{tag}"),
        _ => format!("0.0.0+{tag}"),
    };
    Version::parse(&text)
        .map(|_| ())
        .map_err(|e| Error::InvalidVersion {
            input: tag.to_owned(),
            reason: format!("invalid {kind} tag: {e}"),
        })
}

/// Orders two non-empty prerelease tags by semver precedence (`alpha < alpha.1 < beta < rc.1`).
pub fn compare_prerelease(a: &str, b: &str) -> Result<Ordering, Error> {
    let parse = |tag: &str| {
        Prerelease::new(tag).map_err(|e| Error::InvalidVersion {
            input: tag.to_owned(),
            reason: format!("invalid prerelease tag: {e}"),
        })
    };
    Ok(parse(a)?.cmp(&parse(b)?))
}

/// Parses a version range such as `^1.2`, `>=1.0, <2.0` or `~1.4.2`.
pub fn parse_range(input: &str) -> Result<VersionReq, Error> {
    VersionReq::parse(input.trim()).map_err(|e| Error::InvalidRange {
        input: input.to_owned(),
        reason: e.to_string(),
    })
}

/// Whether `version` lies in `range`.
///
/// A prerelease only satisfies a range that names a prerelease of the same
/// `major.minor.patch` (`1.3.0-rc.1` is not in `^1.2`), as Cargo and npm decide.
pub fn satisfies(version: &str, range: &str) -> Result<bool, Error> {
    let req = parse_range(range)?;
    let version = Version::parse(version.trim()).map_err(|e| Error::InvalidVersion {
        input: version.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(req.matches(&version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_versions() -> Result<(), Error> {
        let v = parse("1.2.3-rc.1+build.5")?;
        assert_eq!(
            v,
            VersionParts {
                major: 1,
                minor: 2,
                patch: 3,
                pre: "rc.1".into(),
                build: "build.5".into()
            }
        );
        assert_eq!(parse(" 0.0.1 ")?.patch, 1);
        Ok(())
    }

    #[test]
    fn rejects_malformed_versions() {
        for bad in [
            "", "x.y", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "-1.0.0", "v1.2.3",
        ] {
            match parse(bad) {
                Err(Error::InvalidVersion { input, .. }) => assert_eq!(input, bad),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_components_lua_cannot_hold() {
        assert!(parse("9007199254740991.0.0").is_ok());
        assert!(parse("9007199254740992.0.0").is_err());
    }

    #[test]
    fn orders_prereleases_by_precedence() -> Result<(), Error> {
        let chain = [
            "alpha",
            "alpha.1",
            "alpha.beta",
            "beta",
            "beta.2",
            "beta.11",
            "rc.1",
        ];
        for pair in chain.windows(2) {
            assert_eq!(
                compare_prerelease(pair[0], pair[1])?,
                Ordering::Less,
                "{pair:?}"
            );
            assert_eq!(compare_prerelease(pair[1], pair[0])?, Ordering::Greater);
        }
        assert_eq!(compare_prerelease("rc.1", "rc.1")?, Ordering::Equal);
        assert!(compare_prerelease("rc..1", "rc.1").is_err());
        Ok(())
    }

    #[test]
    fn matches_ranges() -> Result<(), Error> {
        let table = [
            ("1.2.3", "^1.2", true),
            ("1.9.0", "^1.2", true),
            ("2.0.0", "^1.2", false),
            ("1.1.9", "^1.2", false),
            ("1.2.9", "~1.2.3", true),
            ("1.3.0", "~1.2.3", false),
            ("1.5.0", ">=1.0, <2.0", true),
            ("2.0.0", ">=1.0, <2.0", false),
            ("7.0.0", "*", true),
            ("1.3.0-rc.1", "^1.2", false),
            ("1.3.0-rc.2", ">=1.3.0-rc.1", true),
        ];
        for (version, range, expected) in table {
            assert_eq!(satisfies(version, range)?, expected, "{version} in {range}");
        }
        Ok(())
    }

    #[test]
    fn rejects_bad_ranges() {
        for bad in ["", "^x", ">>1", "1.2.3 ||| 2"] {
            assert!(
                matches!(satisfies("1.0.0", bad), Err(Error::InvalidRange { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn checks_tags() {
        assert!(check_tag("prerelease", "rc.1").is_ok());
        assert!(check_tag("build", "exp.sha.5114f85").is_ok());
        assert!(check_tag("prerelease", "rc..1").is_err());
        assert!(check_tag("build", "a b").is_err());
    }
}
