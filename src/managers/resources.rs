//! Resources held by owners: who holds what, in which order, within which quotas.
//!
//! The Lua side keeps each resource's release function (a Lua value); this
//! keeps the books: ids in registration order, owners and kinds, quotas per
//! owner and kind, so that everything an owner holds can be released newest
//! first when it goes, and what is still held can be reported.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::error::Error;

/// One resource on the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: u64,
    pub owner: String,
    pub kind: String,
    /// What the holder called it, for reports.
    pub label: String,
    pub since: Instant,
}

/// Counts of what an owner holds, by kind.
pub type KindCounts = BTreeMap<String, u64>;

#[derive(Debug, Default)]
pub struct Resources {
    /// By id; ids grow, so this is registration order.
    held: BTreeMap<u64, Held>,
    next_id: u64,
    /// (owner, kind) -> limit; owner "" is the limit for every owner without its own.
    quotas: HashMap<(String, String), u64>,
    /// (owner, kind) -> how many are held, kept beside `held` so a register is O(1).
    counts: HashMap<(String, String), u64>,
    released: u64,
}

impl Resources {
    /// Sets (`Some`) or lifts (`None`) the limit of `kind` for `owner`, or for
    /// every owner without a limit of its own when `owner` is None.
    pub fn set_quota(&mut self, owner: Option<&str>, kind: &str, limit: Option<u64>) {
        let key = (owner.unwrap_or("").to_string(), kind.to_string());
        match limit {
            Some(limit) => {
                self.quotas.insert(key, limit);
            }
            None => {
                self.quotas.remove(&key);
            }
        }
    }

    /// The limit that applies to `owner` for `kind`, if any.
    pub fn quota(&self, owner: &str, kind: &str) -> Option<u64> {
        self.quotas
            .get(&(owner.to_string(), kind.to_string()))
            .or_else(|| self.quotas.get(&(String::new(), kind.to_string())))
            .copied()
    }

    /// How many resources of `kind` `owner` holds.
    pub fn count(&self, owner: &str, kind: &str) -> u64 {
        self.counts
            .get(&(owner.to_string(), kind.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Puts a resource on the books; refused when the owner's quota for the kind is full.
    pub fn register(&mut self, owner: &str, kind: &str, label: &str) -> Result<u64, Error> {
        if let Some(limit) = self.quota(owner, kind)
            && self.count(owner, kind) >= limit
        {
            return Err(Error::QuotaExceeded {
                owner: owner.to_string(),
                kind: kind.to_string(),
                limit,
            });
        }
        self.next_id += 1;
        let id = self.next_id;
        self.held.insert(
            id,
            Held {
                id,
                owner: owner.to_string(),
                kind: kind.to_string(),
                label: label.to_string(),
                since: Instant::now(),
            },
        );
        *self
            .counts
            .entry((owner.to_string(), kind.to_string()))
            .or_insert(0) += 1;
        Ok(id)
    }

    /// Takes a resource off the books; None when it is not held (released already).
    pub fn release(&mut self, id: u64) -> Option<Held> {
        let held = self.held.remove(&id)?;
        let key = (held.owner.clone(), held.kind.clone());
        if let Some(count) = self.counts.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.counts.remove(&key);
            }
        }
        self.released += 1;
        Some(held)
    }

    /// The ids `owner` holds, newest first: the order to release them in.
    pub fn owned_by(&self, owner: &str) -> Vec<u64> {
        self.held
            .values()
            .rev()
            .filter(|h| h.owner == owner)
            .map(|h| h.id)
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<&Held> {
        self.held.get(&id)
    }

    /// Everything still held, oldest first.
    pub fn held(&self) -> impl Iterator<Item = &Held> {
        self.held.values()
    }

    /// What each owner holds, by kind.
    pub fn by_owner(&self) -> BTreeMap<String, KindCounts> {
        let mut owners: BTreeMap<String, KindCounts> = BTreeMap::new();
        for ((owner, kind), count) in &self.counts {
            owners
                .entry(owner.clone())
                .or_default()
                .insert(kind.clone(), *count);
        }
        owners
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many releases there have been.
    pub fn released(&self) -> u64 {
        self.released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_release_newest_first() -> Result<(), Error> {
        let mut r = Resources::default();
        let a = r.register("p", "file", "a")?;
        let other = r.register("q", "file", "x")?;
        let b = r.register("p", "timer", "b")?;
        let c = r.register("p", "file", "c")?;
        assert_eq!(r.owned_by("p"), vec![c, b, a]);
        assert_eq!(r.owned_by("q"), vec![other]);
        assert_eq!(r.count("p", "file"), 2);
        assert_eq!(r.release(b).map(|h| h.label), Some("b".to_string()));
        assert_eq!(r.release(b), None);
        assert_eq!(r.owned_by("p"), vec![c, a]);
        assert_eq!(r.released(), 1);
        Ok(())
    }

    #[test]
    fn quotas_apply_per_owner_and_kind_with_a_default() -> Result<(), Error> {
        let mut r = Resources::default();
        r.set_quota(None, "socket", Some(1));
        r.set_quota(Some("big"), "socket", Some(3));
        r.register("small", "socket", "1")?;
        match r.register("small", "socket", "2") {
            Err(err) => {
                assert_eq!(err.code(), "quota_exceeded");
                assert!(err.to_string().contains("\"small\""));
            }
            Ok(id) => panic!("registered {id} beyond the quota"),
        }
        // other kinds are not limited
        r.register("small", "file", "f")?;
        for i in 0..3 {
            r.register("big", "socket", &i.to_string())?;
        }
        assert!(r.register("big", "socket", "4").is_err());
        // releasing makes room again
        let first = r.owned_by("small").last().copied().unwrap_or(0);
        r.release(first);
        r.register("small", "socket", "again")?;
        // lifting the quota
        r.set_quota(Some("big"), "socket", None);
        assert_eq!(r.quota("big", "socket"), Some(1));
        Ok(())
    }

    #[test]
    fn counts_by_owner_and_kind() -> Result<(), Error> {
        let mut r = Resources::default();
        r.register("p", "file", "")?;
        r.register("p", "file", "")?;
        r.register("q", "timer", "")?;
        let owners = r.by_owner();
        assert_eq!(owners["p"]["file"], 2);
        assert_eq!(owners["q"]["timer"], 1);
        assert_eq!(r.len(), 3);
        Ok(())
    }
}
