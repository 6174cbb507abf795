//! Service contracts: the checked description of a service's methods.
//!
//! A contract names a service, gives it a semantic version and lists its
//! methods with the Lua types of their parameters and results. This file
//! validates a definition once, when the contract is made; the per-call checks
//! run in Lua over the normalized form it returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The type names a parameter or result may use.
pub const TYPE_NAMES: &[&str] = &[
    "any", "nil", "boolean", "number", "integer", "string", "table", "function", "userdata",
    "thread",
];

/// What one parameter or result may be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TypeSpec {
    /// The spec as written, for messages.
    pub text: String,
    /// Any value at all (`any`).
    pub any: bool,
    /// `nil` is allowed (`string?`, `string|nil`).
    pub optional: bool,
    /// The Lua types allowed, `integer` standing for integral numbers.
    pub types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Method {
    pub params: Vec<TypeSpec>,
    pub returns: Vec<TypeSpec>,
}

/// A validated contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Contract {
    pub name: String,
    pub version: String,
    pub description: String,
    pub methods: BTreeMap<String, Method>,
    /// The methods in one canonical line (`add(number,number)->(number)`):
    /// two definitions with the same signature are the same contract.
    pub signature: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMethod {
    #[serde(default)]
    params: Vec<String>,
    #[serde(default)]
    returns: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawContract {
    name: String,
    version: String,
    #[serde(default)]
    description: String,
    methods: BTreeMap<String, RawMethod>,
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A service name: identifiers joined by dots (`calc`, `org.example.store`).
fn is_service_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// Parses `string`, `string?`, `string|number`, `table|nil`, `any`.
pub fn parse_type(text: &str) -> Result<TypeSpec, String> {
    let trimmed = text.trim();
    let (body, question) = match trimmed.strip_suffix('?') {
        Some(body) => (body, true),
        None => (trimmed, false),
    };
    let mut spec = TypeSpec {
        text: trimmed.to_string(),
        any: false,
        optional: question,
        types: Vec::new(),
    };
    for name in body.split('|').map(str::trim) {
        if !TYPE_NAMES.contains(&name) {
            return Err(format!(
                "{text:?} is not a type: use {} (a trailing '?' allows nil, '|' joins types)",
                TYPE_NAMES.join(", ")
            ));
        }
        match name {
            "any" => spec.any = true,
            "nil" => spec.optional = true,
            _ => {
                if !spec.types.iter().any(|t| t == name) {
                    spec.types.push(name.to_string());
                }
            }
        }
    }
    Ok(spec)
}

fn signature(methods: &BTreeMap<String, Method>) -> String {
    let list = |specs: &[TypeSpec]| {
        specs
            .iter()
            .map(|spec| {
                let mut types = spec.types.clone();
                types.sort();
                if spec.any {
                    types = vec!["any".to_string()];
                }
                let optional = if spec.optional && !spec.any { "?" } else { "" };
                format!("{}{optional}", types.join("|"))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    methods
        .iter()
        .map(|(name, m)| format!("{name}({})->({})", list(&m.params), list(&m.returns)))
        .collect::<Vec<_>>()
        .join(";")
}

impl RawContract {
    pub fn validate(self) -> Result<Contract, Error> {
        let name = self.name.clone();
        let invalid = |reason: String| Error::InvalidContract {
            name: name.clone(),
            reason,
        };
        if !is_service_name(&self.name) {
            return Err(invalid(
                "the name must be dot-separated words of letters, digits, '_' and '-'".into(),
            ));
        }
        let version = semver::Version::parse(self.version.trim()).map_err(|e| {
            invalid(format!(
                "version {:?} is not a semantic version: {e}",
                self.version
            ))
        })?;
        if self.methods.is_empty() {
            return Err(invalid("a contract lists at least one method".into()));
        }
        let mut methods = BTreeMap::new();
        for (method, raw) in self.methods {
            if !is_identifier(&method) {
                return Err(invalid(format!("{method:?} is not a method name")));
            }
            let specs = |list: Vec<String>, what: &str| -> Result<Vec<TypeSpec>, Error> {
                list.iter()
                    .enumerate()
                    .map(|(i, text)| {
                        parse_type(text).map_err(|reason| {
                            invalid(format!("{method}: {what} {}: {reason}", i + 1))
                        })
                    })
                    .collect()
            };
            let params = specs(raw.params, "parameter")?;
            let returns = specs(raw.returns, "result")?;
            methods.insert(method, Method { params, returns });
        }
        let signature = signature(&methods);
        Ok(Contract {
            name: self.name,
            version: version.to_string(),
            description: self.description,
            methods,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(methods: &[(&str, &[&str], &[&str])]) -> RawContract {
        RawContract {
            name: "calc".into(),
            version: "1.2.0".into(),
            description: String::new(),
            methods: methods
                .iter()
                .map(|(name, params, returns)| {
                    (
                        name.to_string(),
                        RawMethod {
                            params: params.iter().map(|s| s.to_string()).collect(),
                            returns: returns.iter().map(|s| s.to_string()).collect(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn types_parse_with_unions_and_optionals() -> Result<(), String> {
        let spec = parse_type("string|number?")?;
        assert_eq!(spec.types, vec!["string", "number"]);
        assert!(spec.optional && !spec.any);
        let spec = parse_type("table|nil")?;
        assert!(spec.optional);
        assert_eq!(spec.types, vec!["table"]);
        assert!(parse_type("any")?.any);
        assert!(parse_type("strin").is_err());
        assert!(parse_type("").is_err());
        assert!(parse_type("string||number").is_err());
        Ok(())
    }

    #[test]
    fn a_valid_contract_is_normalized() -> Result<(), Error> {
        let c = contract(&[("add", &["number", "number"], &["number"])]).validate()?;
        assert_eq!(c.version, "1.2.0");
        assert_eq!(c.signature, "add(number,number)->(number)");
        // the same types written another way give the same signature
        let d = contract(&[("add", &["number", "number"], &["nil|number"])]).validate()?;
        let e = contract(&[("add", &["number", "number"], &["number?"])]).validate()?;
        assert_eq!(d.signature, e.signature);
        assert_ne!(c.signature, d.signature);
        assert_eq!(c.methods["add"].params.len(), 2);
        Ok(())
    }

    #[test]
    fn malformed_contracts_say_where() {
        let cases: Vec<(RawContract, &str)> = vec![
            (contract(&[]), "at least one method"),
            (contract(&[("1add", &[], &[])]), "not a method name"),
            (contract(&[("add", &["numbr"], &[])]), "add: parameter 1"),
            (contract(&[("add", &[], &["number", "x"])]), "add: result 2"),
            (
                RawContract {
                    version: "1.x".into(),
                    ..contract(&[("add", &[], &[])])
                },
                "version",
            ),
            (
                RawContract {
                    name: "a b".into(),
                    ..contract(&[("add", &[], &[])])
                },
                "name",
            ),
        ];
        for (raw, expected) in cases {
            match raw.validate() {
                Err(err) => {
                    assert_eq!(err.code(), "invalid_contract");
                    assert!(err.details().contains(expected), "{}", err.details());
                }
                Ok(c) => panic!("{c:?} validated"),
            }
        }
    }
}
