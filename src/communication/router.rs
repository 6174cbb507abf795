//! Topic routing: which subscriptions a message on a topic reaches, in order.
//!
//! Topics are dot-separated segments (`plugin.audio.status`). A subscription's
//! pattern may use `*` for exactly one segment and `#` for zero or more
//! (`plugin.*.status`, `plugin.#`). Patterns live in a segment trie, so finding
//! the subscriptions of a topic walks the topic's segments once instead of
//! testing every pattern.
//!
//! The Lua side keeps, per topic, the array of handlers a publish runs. The
//! router remembers which topics have such an array (each in a numbered slot)
//! and, when a subscription comes or goes, says which slots it made stale.

use std::collections::HashMap;

use crate::error::Error;

/// Which subscriptions a topic reaches, in delivery order, and the slot the
/// Lua side files the topic's handler array under.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub slot: u32,
    /// Subscription ids: highest priority first, then in subscription order.
    pub subscriptions: Vec<u64>,
    /// True when the cache was full and every earlier slot was dropped to make room.
    pub cache_cleared: bool,
}

/// One pattern segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `#`: zero or more segments.
    Any,
}

/// A parsed subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
}

fn check_segments<'a>(text: &'a str, what: &str) -> Result<Vec<&'a str>, String> {
    if text.is_empty() {
        return Err(format!("a {what} must not be empty"));
    }
    let segments: Vec<&str> = text.split('.').collect();
    if let Some(position) = segments.iter().position(|s| s.is_empty()) {
        return Err(format!(
            "segment {} is empty (two dots, or a dot at an end)",
            position + 1
        ));
    }
    Ok(segments)
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, Error> {
        let invalid = |reason: String| Error::InvalidPattern {
            pattern: text.to_string(),
            reason,
        };
        let segments = check_segments(text, "pattern").map_err(invalid)?;
        let mut parsed = Vec::with_capacity(segments.len());
        for segment in segments {
            parsed.push(match segment {
                "*" => Segment::One,
                "#" => Segment::Any,
                s if s.contains(['*', '#']) => {
                    return Err(invalid(format!(
                        "{s:?}: '*' and '#' stand only as whole segments"
                    )));
                }
                s => Segment::Literal(s.to_string()),
            });
        }
        Ok(Pattern { segments: parsed })
    }

    /// True when the pattern has no wildcard: it matches one topic, itself.
    pub fn is_exact(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Literal(_)))
    }

    pub fn matches(&self, topic: &str) -> bool {
        let words: Vec<&str> = topic.split('.').collect();
        matches_from(&self.segments, &words)
    }
}

fn matches_from(pattern: &[Segment], words: &[&str]) -> bool {
    match pattern.split_first() {
        None => words.is_empty(),
        Some((Segment::Any, rest)) => {
            (0..=words.len()).any(|skip| matches_from(rest, &words[skip..]))
        }
        Some((segment, rest)) => match words.split_first() {
            None => false,
            Some((word, words)) => {
                let fits = match segment {
                    Segment::Literal(literal) => literal == word,
                    _ => true,
                };
                fits && matches_from(rest, words)
            }
        },
    }
}

/// Checks a topic a message is published on: segments, and no wildcards.
pub fn check_topic(topic: &str) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidTopic {
        topic: topic.to_string(),
        reason,
    };
    let segments = check_segments(topic, "topic").map_err(invalid)?;
    if let Some(s) = segments.iter().find(|s| s.contains(['*', '#'])) {
        return Err(invalid(format!(
            "{s:?}: wildcards belong in subscription patterns, not in the topic a message is sent on"
        )));
    }
    Ok(())
}

/// A node of the pattern trie: the subscriptions whose pattern ends here, and
/// the ways on.
#[derive(Debug, Default)]
struct Node {
    subscriptions: Vec<u64>,
    literals: HashMap<String, Node>,
    one: Option<Box<Node>>,
    any: Option<Box<Node>>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.literals.is_empty()
            && self.one.is_none()
            && self.any.is_none()
    }

    fn insert(&mut self, segments: &[Segment], id: u64) {
        match segments.split_first() {
            None => self.subscriptions.push(id),
            Some((Segment::Literal(s), rest)) => {
                self.literals.entry(s.clone()).or_default().insert(rest, id)
            }
            Some((Segment::One, rest)) => self.one.get_or_insert_default().insert(rest, id),
            Some((Segment::Any, rest)) => self.any.get_or_insert_default().insert(rest, id),
        }
    }

    /// Removes `id` under `segments`, pruning nodes left empty.
    fn remove(&mut self, segments: &[Segment], id: u64) {
        fn prune(child: &mut Option<Box<Node>>, rest: &[Segment], id: u64) {
            if let Some(node) = child {
                node.remove(rest, id);
                if node.is_empty() {
                    *child = None;
                }
            }
        }
        match segments.split_first() {
            None => self.subscriptions.retain(|&s| s != id),
            Some((Segment::Literal(s), rest)) => {
                if let Some(node) = self.literals.get_mut(s) {
                    node.remove(rest, id);
                    if node.is_empty() {
                        self.literals.remove(s);
                    }
                }
            }
            Some((Segment::One, rest)) => prune(&mut self.one, rest, id),
            Some((Segment::Any, rest)) => prune(&mut self.any, rest, id),
        }
    }

    /// Adds the subscriptions of every pattern matching `words` to `out`
    /// (possibly twice: `a.#.#` reaches one topic several ways).
    fn collect(&self, words: &[&str], out: &mut Vec<u64>) {
        if let Some(any) = &self.any {
            for skip in 0..=words.len() {
                any.collect(&words[skip..], out);
            }
        }
        match words.split_first() {
            None => out.extend_from_slice(&self.subscriptions),
            Some((word, rest)) => {
                if let Some(node) = self.literals.get(*word) {
                    node.collect(rest, out);
                }
                if let Some(node) = &self.one {
                    node.collect(rest, out);
                }
            }
        }
    }
}

#[derive(Debug)]
struct Subscription {
    pattern: Pattern,
    text: String,
    priority: i64,
}

/// Topics with a handler array on the Lua side stop being remembered past this
/// many (topics can carry ids, so there may be no end to them); the cache then
/// starts over.
pub const DEFAULT_CACHE_LIMIT: usize = 4096;

/// The subscriptions of one bus and the topics whose routes the Lua side holds.
#[derive(Debug)]
pub struct Router {
    trie: Node,
    /// By id; ids grow, so they also give subscription order.
    subscriptions: HashMap<u64, Subscription>,
    next_id: u64,
    slots: HashMap<String, u32>,
    next_slot: u32,
    cache_limit: usize,
}

impl Default for Router {
    fn default() -> Self {
        Router::with_cache_limit(DEFAULT_CACHE_LIMIT)
    }
}

impl Router {
    pub fn with_cache_limit(cache_limit: usize) -> Router {
        Router {
            trie: Node::default(),
            subscriptions: HashMap::new(),
            next_id: 1,
            slots: HashMap::new(),
            next_slot: 1,
            cache_limit: cache_limit.max(1),
        }
    }

    /// Adds a subscription; returns its id and the slots whose routes it changes.
    pub fn subscribe(&mut self, pattern: &str, priority: i64) -> Result<(u64, Vec<u32>), Error> {
        let parsed = Pattern::parse(pattern)?;
        let id = self.next_id;
        self.next_id += 1;
        self.trie.insert(&parsed.segments, id);
        let stale = self.forget_matching(&parsed);
        self.subscriptions.insert(
            id,
            Subscription {
                pattern: parsed,
                text: pattern.to_string(),
                priority,
            },
        );
        Ok((id, stale))
    }

    /// Removes a subscription; returns the slots whose routes it changes
    /// (none when the id is unknown).
    pub fn unsubscribe(&mut self, id: u64) -> Vec<u32> {
        match self.subscriptions.remove(&id) {
            Some(subscription) => {
                self.trie.remove(&subscription.pattern.segments, id);
                self.forget_matching(&subscription.pattern)
            }
            None => Vec::new(),
        }
    }

    /// Drops the remembered topics `pattern` matches and returns their slots.
    fn forget_matching(&mut self, pattern: &Pattern) -> Vec<u32> {
        let topics: Vec<String> = if pattern.is_exact() {
            let topic = pattern
                .segments
                .iter()
                .filter_map(|s| match s {
                    Segment::Literal(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(".");
            self.slots
                .contains_key(&topic)
                .then_some(topic)
                .into_iter()
                .collect()
        } else {
            self.slots
                .keys()
                .filter(|topic| pattern.matches(topic))
                .cloned()
                .collect()
        };
        topics
            .iter()
            .filter_map(|topic| self.slots.remove(topic))
            .collect()
    }

    /// The subscriptions a message on `topic` reaches, in delivery order, and
    /// the slot the route is remembered under until a change makes it stale.
    pub fn route(&mut self, topic: &str) -> Result<Route, Error> {
        let mut found = self.matching(topic)?;
        let priority = |id: &u64| self.subscriptions.get(id).map_or(0, |s| s.priority);
        // stable: equal priorities keep id (subscription) order
        found.sort_by_key(|id| std::cmp::Reverse(priority(id)));
        let mut cache_cleared = false;
        let slot = match self.slots.get(topic) {
            Some(&slot) => slot,
            None => {
                if self.slots.len() >= self.cache_limit {
                    self.slots.clear();
                    cache_cleared = true;
                }
                let slot = self.next_slot;
                self.next_slot = self.next_slot.wrapping_add(1).max(1);
                self.slots.insert(topic.to_string(), slot);
                slot
            }
        };
        Ok(Route {
            slot,
            subscriptions: found,
            cache_cleared,
        })
    }

    /// How many subscriptions a message on `topic` reaches.
    pub fn count(&self, topic: &str) -> Result<usize, Error> {
        Ok(self.matching(topic)?.len())
    }

    /// The ids of the subscriptions whose pattern matches `topic`, ascending, each once.
    fn matching(&self, topic: &str) -> Result<Vec<u64>, Error> {
        check_topic(topic)?;
        let words: Vec<&str> = topic.split('.').collect();
        let mut found = Vec::new();
        self.trie.collect(&words, &mut found);
        found.sort_unstable();
        found.dedup();
        Ok(found)
    }

    /// Every pattern with at least one subscription, sorted, each once.
    pub fn patterns(&self) -> Vec<&str> {
        let mut patterns: Vec<&str> = self
            .subscriptions
            .values()
            .map(|s| s.text.as_str())
            .collect();
        patterns.sort_unstable();
        patterns.dedup();
        patterns
    }

    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }

    /// How many topics have a remembered route.
    pub fn cached(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, topic, matches)
    const MATCHING: &[(&str, &str, bool)] = &[
        ("a.b", "a.b", true),
        ("a.b", "a.c", false),
        ("a.b", "a.b.c", false),
        ("a.b", "a", false),
        ("a.*", "a.b", true),
        ("a.*", "a", false),
        ("a.*", "a.b.c", false),
        ("*.b", "a.b", true),
        ("*", "a", true),
        ("*", "a.b", false),
        ("plugin.*.status", "plugin.audio.status", true),
        ("plugin.*.status", "plugin.status", false),
        ("plugin.*.status", "plugin.a.b.status", false),
        ("#", "a", true),
        ("#", "a.b.c", true),
        ("a.#", "a", true),
        ("a.#", "a.b", true),
        ("a.#", "a.b.c", true),
        ("a.#", "b.a", false),
        ("#.c", "c", true),
        ("#.c", "a.b.c", true),
        ("#.c", "a.b.c.d", false),
        ("a.#.c", "a.c", true),
        ("a.#.c", "a.b.c", true),
        ("a.#.c", "a.b.b.c", true),
        ("a.#.c", "a.b.d", false),
        ("a.#.#", "a", true),
        ("a.*.#", "a", false),
        ("a.*.#", "a.b", true),
        ("a.*.#", "a.b.c.d", true),
        ("#.*", "a", true),
        ("#.*.#", "a.b", true),
        ("a.b.*.d", "a.b.c.d", true),
        ("a.b.*.d", "a.b.c.e", false),
        ("A.b", "a.b", false),
    ];

    #[test]
    fn patterns_match_the_table() -> Result<(), Error> {
        for &(pattern, topic, expected) in MATCHING {
            let parsed = Pattern::parse(pattern)?;
            assert_eq!(parsed.matches(topic), expected, "{pattern} on {topic}");
        }
        Ok(())
    }

    #[test]
    fn the_trie_agrees_with_the_table() -> Result<(), Error> {
        let mut router = Router::default();
        let mut ids = HashMap::new();
        for &(pattern, _, _) in MATCHING {
            if !ids.contains_key(pattern) {
                ids.insert(pattern, router.subscribe(pattern, 0)?.0);
            }
        }
        for &(pattern, topic, expected) in MATCHING {
            let route = router.route(topic)?;
            assert_eq!(
                route.subscriptions.contains(&ids[pattern]),
                expected,
                "{pattern} on {topic}"
            );
        }
        Ok(())
    }

    #[test]
    fn bad_patterns_and_topics_say_why() {
        for (pattern, reason) in [
            ("", "empty"),
            ("a..b", "segment 2 is empty"),
            (".a", "segment 1 is empty"),
            ("a.", "segment 2 is empty"),
            ("a.b*", "whole segments"),
            ("a#", "whole segments"),
        ] {
            match Pattern::parse(pattern) {
                Err(err) => {
                    assert_eq!(err.code(), "invalid_pattern");
                    assert!(
                        err.details().contains(reason),
                        "{pattern}: {}",
                        err.details()
                    );
                }
                Ok(_) => panic!("{pattern:?} parsed"),
            }
        }
        for topic in ["", "a..b", "a.*", "#", "a.b#"] {
            assert_eq!(
                check_topic(topic).map_err(|e| e.code()),
                Err("invalid_topic"),
                "{topic:?}"
            );
        }
    }

    #[test]
    fn routes_order_by_priority_then_subscription() -> Result<(), Error> {
        let mut router = Router::default();
        let low = router.subscribe("a.b", -1)?.0;
        let first = router.subscribe("a.*", 0)?.0;
        let high = router.subscribe("#", 5)?.0;
        let second = router.subscribe("a.b", 0)?.0;
        let route = router.route("a.b")?;
        assert_eq!(route.subscriptions, vec![high, first, second, low]);
        Ok(())
    }

    #[test]
    fn a_pattern_reaching_a_topic_twice_is_listed_once() -> Result<(), Error> {
        let mut router = Router::default();
        let id = router.subscribe("a.#.#", 0)?.0;
        assert_eq!(router.route("a.b.c")?.subscriptions, vec![id]);
        assert_eq!(router.count("a.b.c")?, 1);
        Ok(())
    }

    #[test]
    fn changes_name_the_stale_routes_only() -> Result<(), Error> {
        let mut router = Router::default();
        let ab = router.route("a.b")?.slot;
        let ac = router.route("a.c")?.slot;
        let xy = router.route("x.y")?.slot;
        let (id, stale) = router.subscribe("a.*", 0)?;
        let mut stale_sorted = stale.clone();
        stale_sorted.sort_unstable();
        assert_eq!(stale_sorted, vec![ab, ac]);
        // the stale routes are forgotten: routing again files them anew
        let ab2 = router.route("a.b")?.slot;
        assert_ne!(ab2, ab);
        assert_eq!(router.subscribe("x.y", 0)?.1, vec![xy]);
        assert_eq!(router.unsubscribe(id), vec![ab2]);
        assert_eq!(router.unsubscribe(id), Vec::<u32>::new());
        Ok(())
    }

    #[test]
    fn unsubscribing_prunes_the_trie() -> Result<(), Error> {
        let mut router = Router::default();
        let ids: Vec<u64> = ["a.b.c", "a.*.c", "a.#", "#"]
            .iter()
            .map(|p| router.subscribe(p, 0).map(|(id, _)| id))
            .collect::<Result<_, _>>()?;
        for id in ids {
            router.unsubscribe(id);
        }
        assert!(router.trie.is_empty());
        assert!(router.is_empty());
        Ok(())
    }

    #[test]
    fn the_route_cache_starts_over_when_full() -> Result<(), Error> {
        let mut router = Router::with_cache_limit(2);
        assert!(!router.route("a")?.cache_cleared);
        assert!(!router.route("b")?.cache_cleared);
        assert!(!router.route("a")?.cache_cleared);
        assert!(router.route("c")?.cache_cleared);
        assert_eq!(router.cached(), 1);
        Ok(())
    }

    #[test]
    fn patterns_are_listed_once_each() -> Result<(), Error> {
        let mut router = Router::default();
        router.subscribe("b.*", 0)?;
        router.subscribe("a", 0)?;
        router.subscribe("b.*", 1)?;
        assert_eq!(router.patterns(), vec!["a", "b.*"]);
        assert_eq!(router.len(), 3);
        Ok(())
    }
}
