//! The Lua side of `qtforge.security`: `PluginValidator`.

use std::path::Path;

use mlua::{IntoLuaMulti, Lua, Nil, Table};

use super::integrity;
use crate::core::source::{self, SourceKind};
use crate::error::{Error, lua as lua_error};

/// What `PluginValidator.validate` finds: the manifest is read and checked as
/// a load would, then the files are compared with its `[integrity]` table.
fn validate(path: &Path) -> Result<(String, usize), Error> {
    let info = source::inspect(path)?;
    let id = info.manifest.name.clone();
    let expected = &info.manifest.integrity;
    if expected.is_empty() {
        return Ok((id, 0));
    }
    let (SourceKind::Folder, Some(root)) = (info.source.kind, info.source.root.as_ref()) else {
        return Err(Error::IntegrityMismatch {
            plugin: id,
            differences:
                "[integrity] applies to folder plugins: a single file cannot list its own hash"
                    .into(),
        });
    };
    let mut report = integrity::check(root, expected)?;
    // the manifest holds the hashes, so it cannot hash itself
    if let Some(manifest) = info
        .source
        .manifest_file
        .as_ref()
        .and_then(|m| m.file_name())
    {
        let manifest = manifest.to_string_lossy();
        report.unlisted.retain(|file| *file != manifest);
    }
    if report.is_clean() {
        Ok((id, expected.len()))
    } else {
        Err(Error::IntegrityMismatch {
            plugin: id,
            differences: report.describe(),
        })
    }
}

/// Builds the `qtforge.security` table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let natives = crate::module::chunk_natives(lua)?;
    // { success, plugin_id, integrity, files } or a failed result
    natives.set(
        "validate",
        lua.create_function(|lua, path: String| match validate(Path::new(&path)) {
            Ok((id, files)) => {
                let result = lua.create_table()?;
                result.set("success", true)?;
                result.set("plugin_id", id)?;
                result.set("files", files)?;
                result.set("integrity", files > 0)?;
                Ok(result)
            }
            Err(err) => {
                let result = lua_error::failure(lua, &err)?;
                result.set("plugin_id", err.plugin())?;
                Ok(result)
            }
        })?,
    )?;
    // { file = "sha256:..." } | nil, Error
    natives.set(
        "hash_files",
        lua.create_function(|lua, path: String| {
            let hashes = integrity::hash_files(Path::new(&path));
            match hashes {
                Ok(hashes) => lua.create_table_from(hashes)?.into_lua_multi(lua),
                Err(err) => (Nil, lua_error::to_lua(lua, &err)?).into_lua_multi(lua),
            }
        })?,
    )?;
    let source = include_str!("validator.lua");
    let classes = crate::module::run_chunk(lua, "security/validator.lua", source, natives)?;
    crate::module::public(lua, &classes, &["PluginValidator"])
}
