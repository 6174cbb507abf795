//! The books of a plugin manager: which plugins are loaded, in what state, in
//! what order, who depends on whom. Plain data only: the Lua values of a
//! plugin (its environment, its table) live on the Lua side, keyed by id.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use semver::Version;
use serde_json::{Map, Value};

use super::lifecycle::{self, Operation, State};
use super::manifest::Manifest;
use super::source::PluginSource;
use crate::error::Error;

/// One loaded plugin.
#[derive(Debug, Clone)]
pub struct Record {
    pub manifest: Manifest,
    pub source: PluginSource,
    pub state: State,
    pub last_error: Option<Error>,
    /// Position in load order; a reload keeps it.
    pub sequence: u64,
    pub loaded_at: Instant,
    pub reloads: u32,
    /// The configuration in force: the manifest's defaults with every change applied.
    pub config: Map<String, Value>,
}

/// Counters over the manager's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub loads: u64,
    pub load_failures: u64,
    pub unloads: u64,
    pub reloads: u64,
    pub reload_failures: u64,
}

#[derive(Debug, Default)]
pub struct Registry {
    records: HashMap<String, Record>,
    /// Ids whose load is under way: a second load of the same id is refused.
    reserved: HashSet<String>,
    next_sequence: u64,
    pub counters: Counters,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Claims `id` for a load under way.
    pub fn reserve(&mut self, id: &str) -> Result<(), Error> {
        if self.records.contains_key(id) || self.reserved.contains(id) {
            return Err(Error::AlreadyLoaded { id: id.to_owned() });
        }
        self.reserved.insert(id.to_owned());
        Ok(())
    }

    /// Gives up a claim when the load failed.
    pub fn release(&mut self, id: &str) {
        if self.reserved.remove(id) {
            self.counters.load_failures += 1;
        }
    }

    /// Records a plugin whose load succeeded, in state `loaded`, last in load order.
    pub fn insert(&mut self, manifest: Manifest, source: PluginSource) -> &Record {
        let id = manifest.name.clone();
        self.reserved.remove(&id);
        self.counters.loads += 1;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let record = Record {
            config: manifest.config.clone(),
            manifest,
            source,
            state: State::Loaded,
            last_error: None,
            sequence,
            loaded_at: Instant::now(),
            reloads: 0,
        };
        self.records.entry(id).insert_entry(record).into_mut()
    }

    /// Forgets a plugin (after its unload hooks ran).
    pub fn remove(&mut self, id: &str) -> Option<Record> {
        let record = self.records.remove(id)?;
        self.counters.unloads += 1;
        Some(record)
    }

    /// Puts back a record taken before an unload or a reload (a transaction
    /// rolled back): the plugin is where it was in load order, as it was.
    pub fn restore(&mut self, record: Record) {
        self.reserved.remove(&record.manifest.name);
        self.records.insert(record.manifest.name.clone(), record);
    }

    /// What breaks the manager's invariant: each running plugin whose
    /// dependency is gone, failed or of a version out of its range.
    pub fn violations(&self) -> Vec<Error> {
        self.in_load_order()
            .into_iter()
            .filter(|r| r.state == State::Running)
            .filter_map(|r| self.check_dependencies(&r.manifest).err())
            .collect()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.records.contains_key(id)
    }

    pub fn is_reserved(&self, id: &str) -> bool {
        self.reserved.contains(id)
    }

    pub fn get(&self, id: &str) -> Result<&Record, Error> {
        self.records
            .get(id)
            .ok_or_else(|| Error::UnknownPlugin { id: id.to_owned() })
    }

    pub fn get_mut(&mut self, id: &str) -> Result<&mut Record, Error> {
        self.records
            .get_mut(id)
            .ok_or_else(|| Error::UnknownPlugin { id: id.to_owned() })
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether `operation` is allowed now; the state the plugin will be in after it.
    pub fn check(&self, id: &str, operation: Operation) -> Result<State, Error> {
        let record = self.get(id)?;
        lifecycle::check(id, record.state, operation)
    }

    pub fn set_state(&mut self, id: &str, state: State) -> Result<(), Error> {
        let record = self.get_mut(id)?;
        record.state = state;
        if state != State::Failed {
            record.last_error = None;
        }
        Ok(())
    }

    /// Marks a plugin failed, keeping the error for `plugin:last_error()`.
    pub fn fail(&mut self, id: &str, error: Error) -> Result<(), Error> {
        let record = self.get_mut(id)?;
        record.state = State::Failed;
        record.last_error = Some(error);
        Ok(())
    }

    /// Every plugin in load order.
    pub fn in_load_order(&self) -> Vec<&Record> {
        let mut records: Vec<&Record> = self.records.values().collect();
        records.sort_by_key(|r| r.sequence);
        records
    }

    /// Loaded plugins that may use `id`: they list it as a dependency and loaded after it.
    pub fn dependents(&self, id: &str) -> Vec<String> {
        let Some(target) = self.records.get(id) else {
            return Vec::new();
        };
        let mut found: Vec<&Record> = self
            .records
            .values()
            .filter(|r| {
                r.sequence > target.sequence && r.manifest.dependencies.iter().any(|d| d.name == id)
            })
            .collect();
        found.sort_by_key(|r| r.sequence);
        found.into_iter().map(|r| r.manifest.name.clone()).collect()
    }

    /// What unloading `id` unloads, in order: its dependents (with `cascade`),
    /// latest loaded first, then `id`.
    pub fn unload_plan(&self, id: &str, cascade: bool) -> Result<Vec<String>, Error> {
        self.get(id)?;
        let direct = self.dependents(id);
        if !direct.is_empty() && !cascade {
            return Err(Error::HasDependents {
                plugin: id.to_owned(),
                dependents: direct,
            });
        }
        let mut closure: BTreeSet<String> = BTreeSet::new();
        let mut pending = direct;
        while let Some(next) = pending.pop() {
            if closure.insert(next.clone()) {
                pending.extend(self.dependents(&next));
            }
        }
        let mut plan: Vec<&Record> = closure.iter().filter_map(|d| self.records.get(d)).collect();
        plan.sort_by_key(|r| std::cmp::Reverse(r.sequence));
        let mut order: Vec<String> = plan.into_iter().map(|r| r.manifest.name.clone()).collect();
        order.push(id.to_owned());
        Ok(order)
    }

    /// Whether every dependency of `manifest` is loaded and usable at a fitting version.
    pub fn check_dependencies(&self, manifest: &Manifest) -> Result<(), Error> {
        for dep in &manifest.dependencies {
            let Some(record) = self.records.get(&dep.name) else {
                if dep.optional {
                    continue;
                }
                return Err(Error::DependencyMissing {
                    plugin: manifest.name.clone(),
                    dependency: dep.name.clone(),
                    range: dep.range.to_string(),
                    reason: format!("no plugin {:?} is loaded", dep.name),
                });
            };
            if record.state == State::Failed {
                return Err(Error::DependencyMissing {
                    plugin: manifest.name.clone(),
                    dependency: dep.name.clone(),
                    range: dep.range.to_string(),
                    reason: format!("{:?} is loaded but failed", dep.name),
                });
            }
            if !dep.range.matches(&record.manifest.version) {
                return Err(Error::DependencyVersion {
                    plugin: manifest.name.clone(),
                    dependency: dep.name.clone(),
                    range: dep.range.to_string(),
                    found: record.manifest.version.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Loaded plugins and their versions, for the resolver.
    pub fn available(&self) -> impl Iterator<Item = (&str, &Version)> {
        self.records
            .values()
            .map(|r| (r.manifest.name.as_str(), &r.manifest.version))
    }

    /// Number of plugins in each state.
    pub fn count_by_state(&self) -> Vec<(State, usize)> {
        State::ALL
            .into_iter()
            .filter(|s| *s != State::Unloaded)
            .map(|s| (s, self.records.values().filter(|r| r.state == s).count()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, deps: &[&str]) -> Result<Manifest, Error> {
        let mut text = format!("name = \"{name}\"\nversion = \"1.0.0\"\n");
        for dep in deps {
            text.push_str(&format!(
                "[[dependencies]]\nname = \"{dep}\"\nversion = \"^1\"\n"
            ));
        }
        Manifest::from_toml(&text, name)
    }

    fn load(registry: &mut Registry, name: &str, deps: &[&str]) -> Result<(), Error> {
        let m = manifest(name, deps)?;
        registry.reserve(name)?;
        registry.check_dependencies(&m)?;
        registry.insert(m, PluginSource::inline());
        Ok(())
    }

    #[test]
    fn refuses_a_second_plugin_with_the_same_id() -> Result<(), Error> {
        let mut r = Registry::new();
        r.reserve("a")?;
        assert!(matches!(r.reserve("a"), Err(Error::AlreadyLoaded { .. })));
        r.release("a");
        assert_eq!(r.counters.load_failures, 1);
        load(&mut r, "a", &[])?;
        assert!(matches!(r.reserve("a"), Err(Error::AlreadyLoaded { .. })));
        Ok(())
    }

    #[test]
    fn checks_dependencies_exist_work_and_fit() -> Result<(), Error> {
        let mut r = Registry::new();
        assert!(matches!(
            load(&mut r, "b", &["a"]),
            Err(Error::DependencyMissing { .. })
        ));
        r.release("b");
        load(&mut r, "a", &[])?;
        r.fail("a", Error::AlreadyLoaded { id: "x".into() })?;
        assert!(matches!(
            load(&mut r, "b", &["a"]),
            Err(Error::DependencyMissing { .. })
        ));
        r.release("b");
        r.set_state("a", State::Running)?;
        let mut m = manifest("b", &[])?;
        m.dependencies.push(super::super::manifest::Dependency {
            name: "a".into(),
            range: semver::VersionReq {
                comparators: vec![semver::Comparator {
                    op: semver::Op::Caret,
                    major: 2,
                    minor: None,
                    patch: None,
                    pre: semver::Prerelease::EMPTY,
                }],
            },
            optional: true,
        });
        assert!(matches!(
            r.check_dependencies(&m),
            Err(Error::DependencyVersion { .. })
        ));
        load(&mut r, "b", &["a"])?;
        Ok(())
    }

    #[test]
    fn plans_cascading_unloads_latest_first() -> Result<(), Error> {
        let mut r = Registry::new();
        load(&mut r, "base", &[])?;
        load(&mut r, "left", &["base"])?;
        load(&mut r, "right", &["base"])?;
        load(&mut r, "top", &["left", "right"])?;
        load(&mut r, "other", &[])?;
        match r.unload_plan("base", false) {
            Err(Error::HasDependents { dependents, .. }) => {
                assert_eq!(dependents, ["left", "right"])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            r.unload_plan("base", true)?,
            ["top", "right", "left", "base"]
        );
        assert_eq!(r.unload_plan("top", false)?, ["top"]);
        assert_eq!(r.unload_plan("other", false)?, ["other"]);
        assert!(matches!(
            r.unload_plan("nope", true),
            Err(Error::UnknownPlugin { .. })
        ));
        Ok(())
    }

    #[test]
    fn keeps_load_order_and_counts() -> Result<(), Error> {
        let mut r = Registry::new();
        for name in ["c", "a", "b"] {
            load(&mut r, name, &[])?;
        }
        let order: Vec<&str> = r
            .in_load_order()
            .iter()
            .map(|r| r.manifest.name.as_str())
            .collect();
        assert_eq!(order, ["c", "a", "b"]);
        r.remove("a");
        assert_eq!(r.len(), 2);
        assert_eq!(r.counters.loads, 3);
        assert_eq!(r.counters.unloads, 1);
        r.set_state("b", State::Running)?;
        let counts = r.count_by_state();
        assert!(counts.contains(&(State::Running, 1)) && counts.contains(&(State::Loaded, 1)));
        Ok(())
    }

    #[test]
    fn checks_operations_against_the_state() -> Result<(), Error> {
        let mut r = Registry::new();
        load(&mut r, "a", &[])?;
        assert_eq!(r.check("a", Operation::Start)?, State::Running);
        assert!(matches!(
            r.check("a", Operation::Stop),
            Err(Error::InvalidState { .. })
        ));
        assert!(matches!(
            r.check("zzz", Operation::Stop),
            Err(Error::UnknownPlugin { .. })
        ));
        Ok(())
    }
}
