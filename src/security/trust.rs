//! Signatures of plugin folders: ed25519 over a canonical text that names the
//! plugin and the sha256 of each of its files, kept in `plugin.sig` at the
//! top of the folder.
//!
//! ```text
//! qtforge-signature-v1
//! plugin greeter 1.2.0
//! file init.lua sha256:...
//! file plugin.toml sha256:...
//! ```
//!
//! So a signature vouches for the manifest and every file; hidden files and
//! `plugin.sig` itself are not plugin files (see `integrity::plugin_files`).
//! Keys and signatures are lower-case hex: a public key and a secret key (the
//! 32-byte seed) are 64 digits, a signature 128.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::integrity::{self, SIGNATURE_FILE};
use crate::core::source::{self, PluginInfo, SourceKind};
use crate::error::Error;
use crate::managers::config::save_atomic;

/// The first line of the signed text; a new layout gets a new one.
const FORMAT: &str = "qtforge-signature-v1";
const HEADER: &str = "# plugin.sig: written by TrustManager.sign; do not edit\n";
/// A signature file is three short lines; a larger file is not one.
const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// What `verify` found out about a plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub plugin_id: String,
    /// The plugin has a `plugin.sig`, and it matches the plugin's files.
    pub signed: bool,
    /// It was signed by one of the trusted keys.
    pub trusted: bool,
    /// The name of that trusted key.
    pub key: Option<String>,
    /// The key that signed, in hex.
    pub public_key: Option<String>,
}

/// What `sign` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub plugin_id: String,
    pub public_key: String,
}

/// `plugin.sig`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    key: String,
    signature: String,
    /// When it was signed (RFC 3339, UTC): for people, never checked.
    #[serde(default)]
    signed: Option<String>,
}

/// The text a signature covers: the plugin's name and version, then each
/// file and its hash, sorted by path. Fails on a file name with a line break,
/// which could make two different sets of files read as the same text.
pub fn payload(
    name: &str,
    version: &str,
    files: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut text = format!("{FORMAT}\nplugin {name} {version}\n");
    for (file, hash) in files {
        if file.contains(['\n', '\r']) {
            return Err(format!("the file name {file:?} holds a line break"));
        }
        text.push_str(&format!("file {file} {hash}\n"));
    }
    Ok(text)
}

/// The signed text of a folder plugin, from the files on disk.
fn folder_payload(info: &PluginInfo, root: &Path) -> Result<String, Error> {
    let files = integrity::hash_files(root)?;
    let version = info.manifest.version.to_string();
    payload(&info.manifest.name, &version, &files).map_err(|reason| Error::SignatureInvalid {
        plugin: info.manifest.name.clone(),
        reason,
    })
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `N` bytes from exactly `2 * N` lower-case hex digits.
fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * N {
        return None;
    }
    let mut bytes = [0u8; N];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks(2)) {
        let [high, low] = pair else { return None };
        *byte = (digit(*high)? << 4) | digit(*low)?;
    }
    Some(bytes)
}

/// A public key from its hex; the error completes "the key ...".
pub fn parse_public_key(hex: &str) -> Result<VerifyingKey, &'static str> {
    let bytes = from_hex::<32>(hex).ok_or("is not 64 lower-case hex digits")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| "is not an ed25519 public key")?;
    if key.is_weak() {
        // a key of small order: signatures under it prove nothing
        return Err("is a weak ed25519 key, for which anyone can sign");
    }
    Ok(key)
}

/// A secret key (the 32-byte seed) from its hex.
pub fn parse_secret_key(hex: &str) -> Result<SigningKey, &'static str> {
    from_hex::<32>(hex)
        .map(|seed| SigningKey::from_bytes(&seed))
        .ok_or("is not 64 lower-case hex digits")
}

/// A new key pair from the system's random source: `(public, secret)` in hex.
pub fn generate_keypair() -> Result<(String, String), Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Error::Io {
        path: "the system's random source".to_owned(),
        reason: e.to_string(),
    })?;
    let key = SigningKey::from_bytes(&seed);
    Ok((to_hex(key.verifying_key().as_bytes()), to_hex(&seed)))
}

/// The text of `root/plugin.sig`, or `None` when there is none.
fn read_signature(root: &Path, plugin: &str) -> Result<Option<String>, Error> {
    let path = root.join(SIGNATURE_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            });
        }
    };
    let malformed = |reason: String| Error::SignatureInvalid {
        plugin: plugin.to_owned(),
        reason: format!("malformed {SIGNATURE_FILE}: {reason}"),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SIGNATURE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| malformed(format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(malformed(format!(
            "it is larger than {MAX_SIGNATURE_BYTES} bytes"
        )));
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| malformed("it is not UTF-8 text".to_owned()))
}

/// Checks the `plugin.sig` of the plugin at `path` against its files, and
/// whether a key in `trusted` (name -> public key hex) made it. A plugin
/// without `plugin.sig`, or a single-file plugin (signatures are for
/// folders), is unsigned; a malformed file or a signature that does not match
/// is `signature_invalid`.
pub fn verify(path: &Path, trusted: &BTreeMap<String, String>) -> Result<Verification, Error> {
    let info = source::inspect(path)?;
    let plugin_id = info.manifest.name.clone();
    let unsigned = Verification {
        plugin_id: plugin_id.clone(),
        signed: false,
        trusted: false,
        key: None,
        public_key: None,
    };
    let (SourceKind::Folder, Some(root)) = (info.source.kind, info.source.root.as_ref()) else {
        return Ok(unsigned);
    };
    let Some(text) = read_signature(root, &plugin_id)? else {
        return Ok(unsigned);
    };
    let invalid = |reason: String| Error::SignatureInvalid {
        plugin: plugin_id.clone(),
        reason,
    };
    let malformed = |reason: String| invalid(format!("malformed {SIGNATURE_FILE}: {reason}"));
    let file: SignatureFile = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text.get(..span.start).unwrap_or("").matches('\n').count() + 1);
        let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
        malformed(format!("{at}{}", e.message().trim()))
    })?;
    let key = parse_public_key(&file.key).map_err(|r| malformed(format!("key {r}")))?;
    let signature = from_hex::<64>(&file.signature)
        .map(|bytes| Signature::from_bytes(&bytes))
        .ok_or_else(|| malformed("signature is not 128 lower-case hex digits".to_owned()))?;
    let payload = folder_payload(&info, root)?;
    // strict: no malleable signatures, no small-order keys
    key.verify_strict(payload.as_bytes(), &signature)
        .map_err(|_| {
            invalid(
                "signature does not match the plugin's files: they changed since signing, \
                 or it was made for another plugin"
                    .to_owned(),
            )
        })?;
    let name = trusted
        .iter()
        .find(|(_, hex)| hex.eq_ignore_ascii_case(&file.key))
        .map(|(name, _)| name.clone());
    Ok(Verification {
        plugin_id,
        signed: true,
        trusted: name.is_some(),
        key: name,
        public_key: Some(file.key),
    })
}

/// Signs the plugin folder at `path` with `secret`: writes its `plugin.sig`
/// (atomically), replacing any earlier one.
pub fn sign(path: &Path, secret: &SigningKey) -> Result<Signed, Error> {
    let info = source::inspect(path)?;
    let plugin_id = info.manifest.name.clone();
    let (SourceKind::Folder, Some(root)) = (info.source.kind, info.source.root.as_ref()) else {
        return Err(Error::SignatureInvalid {
            plugin: plugin_id,
            reason: format!(
                "a single-file plugin cannot be signed: signatures are for plugin folders, \
                 which keep them in {SIGNATURE_FILE}"
            ),
        });
    };
    let payload = folder_payload(&info, root)?;
    let public_key = to_hex(secret.verifying_key().as_bytes());
    let file = SignatureFile {
        key: public_key.clone(),
        signature: to_hex(&secret.sign(payload.as_bytes()).to_bytes()),
        signed: Some(humantime::format_rfc3339_seconds(SystemTime::now()).to_string()),
    };
    let path = root.join(SIGNATURE_FILE);
    let body = toml::to_string(&file).map_err(|e| Error::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    save_atomic(&path, &format!("{HEADER}{body}"))?;
    Ok(Signed {
        plugin_id,
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::testing::plugin_folder;
    use std::fs;

    /// A folder holding the plugin folders `one` and `two`.
    fn scratch() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("scratch folder");
        plugin_folder(dir.path(), "one", "1.0.0");
        plugin_folder(dir.path(), "two", "1.0.0");
        dir
    }

    fn keypair() -> Result<(String, SigningKey), Error> {
        let (public, secret) = generate_keypair()?;
        let secret = parse_secret_key(&secret).map_err(|r| Error::InvalidValue {
            key: "secret".into(),
            reason: r.into(),
        })?;
        Ok((public, secret))
    }

    fn trusting(name: &str, public: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(name.to_owned(), public.to_owned())])
    }

    fn reason(result: Result<Verification, Error>) -> String {
        match result {
            Err(Error::SignatureInvalid { reason, .. }) => reason,
            other => panic!("expected signature_invalid, got {other:?}"),
        }
    }

    #[test]
    fn the_payload_is_canonical_text() -> Result<(), String> {
        let files = BTreeMap::from([
            ("plugin.toml".to_owned(), "sha256:bb".to_owned()),
            ("init.lua".to_owned(), "sha256:aa".to_owned()),
        ]);
        assert_eq!(
            payload("greeter", "1.2.0", &files)?,
            "qtforge-signature-v1\nplugin greeter 1.2.0\n\
             file init.lua sha256:aa\nfile plugin.toml sha256:bb\n"
        );
        let sneaky = BTreeMap::from([("a sha256:aa\nfile b".to_owned(), "sha256:bb".to_owned())]);
        assert!(payload("x", "1.0.0", &sneaky).is_err());
        Ok(())
    }

    #[test]
    fn a_signed_folder_verifies_and_names_its_trusted_key() -> Result<(), Error> {
        let scratch = scratch();
        let (public, secret) = keypair()?;
        let signed = sign(&scratch.path().join("one"), &secret)?;
        assert_eq!(signed.plugin_id, "one");
        assert_eq!(signed.public_key, public);
        let text =
            fs::read_to_string(scratch.path().join("one").join(SIGNATURE_FILE)).map_err(|e| {
                Error::Io {
                    path: "plugin.sig".into(),
                    reason: e.to_string(),
                }
            })?;
        assert!(text.starts_with(HEADER) && text.contains(&public));

        let found = verify(&scratch.path().join("one"), &trusting("release", &public))?;
        assert!(found.signed && found.trusted);
        assert_eq!(found.key.as_deref(), Some("release"));
        assert_eq!(found.public_key.as_deref(), Some(public.as_str()));
        // a plugin.sig does not make itself "unlisted" in the plugin's files
        assert!(!integrity::hash_files(&scratch.path().join("one"))?.contains_key(SIGNATURE_FILE));
        Ok(())
    }

    #[test]
    fn another_key_verifies_but_is_not_trusted() -> Result<(), Error> {
        let scratch = scratch();
        let (_, secret) = keypair()?;
        let (other, _) = keypair()?;
        sign(&scratch.path().join("one"), &secret)?;
        let found = verify(&scratch.path().join("one"), &trusting("other", &other))?;
        assert!(found.signed && !found.trusted);
        assert_eq!(found.key, None);
        let unsigned = verify(&scratch.path().join("two"), &BTreeMap::new())?;
        assert!(!unsigned.signed && !unsigned.trusted && unsigned.public_key.is_none());
        Ok(())
    }

    #[test]
    fn a_changed_added_or_removed_file_breaks_the_signature() -> Result<(), Error> {
        let scratch = scratch();
        let (public, secret) = keypair()?;
        let keys = trusting("k", &public);
        let one = scratch.path().join("one");
        sign(&one, &secret)?;
        fs::write(one.join("lib/util.lua"), "return 2\n").expect("tamper");
        assert!(reason(verify(&one, &keys)).starts_with("signature does not match"));
        fs::write(one.join("lib/util.lua"), "return 1\n").expect("restore");
        assert!(verify(&one, &keys)?.signed);
        fs::write(one.join("extra.lua"), "return 3\n").expect("add");
        assert!(reason(verify(&one, &keys)).starts_with("signature does not match"));
        fs::remove_file(one.join("extra.lua")).expect("remove");
        fs::remove_file(one.join("lib/util.lua")).expect("remove");
        assert!(reason(verify(&one, &keys)).starts_with("signature does not match"));
        Ok(())
    }

    #[test]
    fn a_signature_copied_from_another_plugin_does_not_match() -> Result<(), Error> {
        let scratch = scratch();
        let (public, secret) = keypair()?;
        sign(&scratch.path().join("one"), &secret)?;
        fs::copy(
            scratch.path().join("one").join(SIGNATURE_FILE),
            scratch.path().join("two").join(SIGNATURE_FILE),
        )
        .expect("copy");
        let why = reason(verify(&scratch.path().join("two"), &trusting("k", &public)));
        assert!(why.starts_with("signature does not match"), "{why}");
        Ok(())
    }

    #[test]
    fn a_malformed_plugin_sig_says_what_is_wrong() -> Result<(), Error> {
        let scratch = scratch();
        let (public, _) = keypair()?;
        let sig = scratch.path().join("one").join(SIGNATURE_FILE);
        let good_signature = "0".repeat(128);
        let cases = [
            ("key = \n".to_owned(), "line 1: "),
            (
                format!("signature = \"{good_signature}\"\n"),
                "missing field `key`",
            ),
            (
                format!(
                    "key = \"{}\"\nsignature = \"{good_signature}\"\n",
                    "AB".repeat(32)
                ),
                "key is not 64 lower-case hex digits",
            ),
            (
                format!("key = \"{public}\"\nsignature = \"abc\"\n"),
                "signature is not 128 lower-case hex digits",
            ),
            (
                format!("key = \"{public}\"\nsignature = \"{good_signature}\"\nby = \"me\"\n"),
                "unknown field `by`",
            ),
            (
                // the identity point: a key of small order
                format!(
                    "key = \"01{}\"\nsignature = \"{good_signature}\"\n",
                    "0".repeat(62)
                ),
                "key is a weak ed25519 key",
            ),
        ];
        for (text, words) in cases {
            fs::write(&sig, &text).expect("write");
            let why = reason(verify(&scratch.path().join("one"), &BTreeMap::new()));
            assert!(why.starts_with("malformed plugin.sig: "), "{why}");
            assert!(why.contains(words), "{why:?} lacks {words:?}");
        }
        Ok(())
    }

    #[test]
    fn keys_parse_only_from_lower_case_hex_of_the_right_length() -> Result<(), Error> {
        let (public, secret) = generate_keypair()?;
        assert_ne!(public, secret);
        assert!(parse_public_key(&public).is_ok());
        assert!(parse_public_key(&public.to_uppercase()).is_err());
        assert!(parse_public_key(&public[..62]).is_err());
        assert!(parse_secret_key(&secret).is_ok());
        assert!(parse_secret_key(&format!("{secret}00")).is_err());
        assert!(parse_secret_key("zz").is_err());
        assert_eq!(from_hex::<2>("0aff"), Some([0x0a, 0xff]));
        assert_eq!(from_hex::<2>("0aé"), None);
        Ok(())
    }
}
