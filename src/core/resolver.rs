//! Dependency resolution: which plugins can load, and in which order.
//!
//! The manager hands over the plugins it is about to load ([`Node`]s) and the
//! ones already loaded (available ids and versions). [`DependencyResolver::resolve`]
//! answers with a load order for every plugin that can load and one [`Error`]
//! per plugin that cannot, so one broken plugin never stops the others.
//!
//! Precedence of failures, when a plugin has several problems: its own
//! requirements (missing, wrong version) first, then a cycle it sits on, then
//! a dependency that cannot load.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap, VecDeque};

use semver::{Version, VersionReq};

use crate::error::Error;

/// One plugin's need for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    pub range: VersionReq,
    /// Absent is fine; present must still match `range` (as in Cargo).
    pub optional: bool,
}

/// A plugin to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub version: Version,
    pub requires: Vec<Requirement>,
    /// Plugins this one loads before, if they are being loaded too.
    pub before: Vec<String>,
    /// Plugins this one loads after, if they are being loaded too.
    pub after: Vec<String>,
    /// Only breaks ties between plugins that are ready at the same time; higher first.
    pub priority: i64,
}

/// What [`DependencyResolver::resolve`] decided.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Plugins that can load, dependencies first.
    pub order: Vec<String>,
    /// Plugins that cannot load, by id.
    pub failures: Vec<(String, Error)>,
}

/// Collects plugins to load and already-loaded plugins, then orders them.
#[derive(Debug, Default, Clone)]
pub struct DependencyResolver {
    /// Keyed by id so that every pass walks plugins in id order: results never
    /// depend on the order plugins were added in.
    nodes: BTreeMap<String, Node>,
    available: BTreeMap<String, Version>,
}

impl DependencyResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin to resolve; a second node with the same id, or an id
    /// already available, is [`Error::AlreadyLoaded`].
    pub fn add(&mut self, node: Node) -> Result<(), Error> {
        if self.nodes.contains_key(&node.id) || self.available.contains_key(&node.id) {
            return Err(Error::AlreadyLoaded { id: node.id });
        }
        self.nodes.insert(node.id.clone(), node);
        Ok(())
    }

    /// Declares an already-loaded plugin that requirements may use.
    ///
    /// Declaring an id that was already added shadows that node: the loaded
    /// plugin is the real one, so requirements resolve against it and the
    /// node fails with [`Error::AlreadyLoaded`].
    pub fn add_available(&mut self, id: &str, version: Version) {
        self.available.insert(id.to_owned(), version);
    }

    /// Removes an added node; `false` when there was none with this id.
    pub fn remove(&mut self, id: &str) -> bool {
        self.nodes.remove(id).is_some()
    }

    /// Number of added nodes (available plugins not counted).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every plugin that can load, in load order, plus one failure per plugin that cannot.
    pub fn resolve(&self) -> Resolution {
        let mut graph = Graph::build(self);
        graph.fail_cycles();
        graph.propagate_failures();
        let order = graph.load_order();
        let failures = graph
            .nodes
            .iter()
            .zip(graph.failures)
            .filter_map(|(node, failure)| failure.map(|e| (node.id.clone(), e)))
            .collect();
        Resolution { order, failures }
    }

    /// The order, or the first failure (by id) when any plugin cannot load.
    pub fn order(&self) -> Result<Vec<String>, Error> {
        let mut resolution = self.resolve();
        if resolution.failures.is_empty() {
            Ok(resolution.order)
        } else {
            Err(resolution.failures.swap_remove(0).1)
        }
    }
}

/// What a name in a requirement or in `before`/`after` refers to.
enum Target<'a> {
    /// An added node, by index.
    Node(usize),
    /// An already-loaded plugin: nothing to order against.
    Available(&'a Version),
    Absent,
}

/// The plugins as indices, in id order, with their edges.
struct Graph<'a> {
    nodes: Vec<&'a Node>,
    /// `needs[i]`: nodes that must load before node `i` (requirements and
    /// before/after alike), sorted and deduplicated.
    needs: Vec<Vec<usize>>,
    /// Requirement edges of node `i` in declaration order: only these carry
    /// failures, `before`/`after` only order.
    requires: Vec<Vec<(usize, &'a Requirement)>>,
    failures: Vec<Option<Error>>,
}

impl<'a> Graph<'a> {
    /// Indexes the nodes, checks every requirement and links the edges.
    fn build(resolver: &'a DependencyResolver) -> Self {
        let nodes: Vec<&Node> = resolver.nodes.values().collect();
        let index: HashMap<&str, usize> = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| (node.id.as_str(), i))
            .collect();
        // An available plugin wins over a node of the same id: it is already loaded.
        let target = |name: &str| match resolver.available.get(name) {
            Some(version) => Target::Available(version),
            None => index.get(name).map_or(Target::Absent, |&i| Target::Node(i)),
        };

        let n = nodes.len();
        let mut graph = Graph {
            nodes,
            needs: vec![Vec::new(); n],
            requires: vec![Vec::new(); n],
            failures: vec![None; n],
        };
        for i in 0..n {
            let node = graph.nodes[i];
            if resolver.available.contains_key(&node.id) {
                graph.failures[i] = Some(Error::AlreadyLoaded {
                    id: node.id.clone(),
                });
                continue;
            }
            for req in &node.requires {
                let found = match target(&req.name) {
                    Target::Node(j) => {
                        graph.needs[i].push(j);
                        graph.requires[i].push((j, req));
                        Some(&graph.nodes[j].version)
                    }
                    Target::Available(version) => Some(version),
                    Target::Absent => None,
                };
                if graph.failures[i].is_none() {
                    graph.failures[i] = check(node, req, found);
                }
            }
            for name in &node.before {
                if let Target::Node(j) = target(name) {
                    graph.needs[j].push(i);
                }
            }
            for name in &node.after {
                if let Target::Node(j) = target(name) {
                    graph.needs[i].push(j);
                }
            }
        }
        for needs in &mut graph.needs {
            needs.sort_unstable();
            needs.dedup();
        }
        graph
    }

    /// Fails every node on a cycle (unless it already failed on its own) with
    /// a cycle through it.
    fn fail_cycles(&mut self) {
        let component = strongly_connected(&self.needs);
        let mut size = vec![0usize; self.nodes.len()];
        for &c in &component {
            size[c] += 1;
        }
        let on_cycle = |i: usize| size[component[i]] > 1 || self.needs[i].binary_search(&i).is_ok();
        let cyclic: Vec<usize> = (0..self.nodes.len()).filter(|&i| on_cycle(i)).collect();

        // One search per uncovered member, in id order; every member on the
        // cycle found shares it. A simple cycle costs one search in total.
        let mut covered = vec![false; self.nodes.len()];
        let mut search = CycleSearch::new(self.nodes.len());
        for &m in &cyclic {
            if covered[m] || self.failures[m].is_some() {
                continue;
            }
            let path = search.shortest(m, &self.needs, &component);
            let ids: Vec<String> = path.iter().map(|&i| self.nodes[i].id.clone()).collect();
            for &i in &path {
                if !covered[i] {
                    covered[i] = true;
                    if self.failures[i].is_none() {
                        self.failures[i] = Some(Error::DependencyCycle { cycle: ids.clone() });
                    }
                }
            }
        }
    }

    /// Fails every node that requires (directly or not) a node that failed.
    fn propagate_failures(&mut self) {
        let n = self.nodes.len();
        let mut dependents = vec![Vec::new(); n];
        for (i, requires) in self.requires.iter().enumerate() {
            for &(j, _) in requires {
                dependents[j].push(i);
            }
        }
        let mut failed: Vec<bool> = self.failures.iter().map(Option::is_some).collect();
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| failed[i]).collect();
        while let Some(j) = queue.pop_front() {
            for &i in &dependents[j] {
                if !failed[i] {
                    failed[i] = true;
                    queue.push_back(i);
                }
            }
        }
        // Name the first failed requirement in declaration order, so the
        // reason does not depend on the order failures were discovered in.
        for i in 0..n {
            if !failed[i] || self.failures[i].is_some() {
                continue;
            }
            let Some(&(j, req)) = self.requires[i].iter().find(|(j, _)| failed[*j]) else {
                continue;
            };
            let code = self.failures[j]
                .as_ref()
                .map_or("dependency_missing", Error::code);
            self.failures[i] = Some(Error::DependencyMissing {
                plugin: self.nodes[i].id.clone(),
                dependency: req.name.clone(),
                range: req.range.to_string(),
                reason: format!("{:?} cannot load: {code}", req.name),
            });
        }
    }

    /// Kahn's algorithm over the nodes that can load; ties go to the higher
    /// priority, then the smaller id.
    fn load_order(&self) -> Vec<String> {
        let n = self.nodes.len();
        let ok = |i: usize| self.failures[i].is_none();
        let mut indegree = vec![0usize; n];
        let mut dependents = vec![Vec::new(); n];
        for i in (0..n).filter(|&i| ok(i)) {
            for &j in self.needs[i].iter().filter(|&&j| ok(j)) {
                indegree[i] += 1;
                dependents[j].push(i);
            }
        }
        let ready = |i: usize| Ready {
            priority: self.nodes[i].priority,
            id: &self.nodes[i].id,
            index: i,
        };
        let mut heap: BinaryHeap<Ready> = (0..n)
            .filter(|&i| ok(i) && indegree[i] == 0)
            .map(ready)
            .collect();
        let mut order = Vec::with_capacity(n);
        while let Some(Ready { id, index, .. }) = heap.pop() {
            order.push(id.to_owned());
            for &i in &dependents[index] {
                indegree[i] -= 1;
                if indegree[i] == 0 {
                    heap.push(ready(i));
                }
            }
        }
        // Every cycle member failed, so what remains is acyclic and all of it loads.
        debug_assert_eq!(order.len(), (0..n).filter(|&i| ok(i)).count());
        order
    }
}

/// Checks one requirement against what its name refers to (`None`: nothing).
fn check(node: &Node, req: &Requirement, found: Option<&Version>) -> Option<Error> {
    match found {
        Some(version) if !req.range.matches(version) => Some(Error::DependencyVersion {
            plugin: node.id.clone(),
            dependency: req.name.clone(),
            range: req.range.to_string(),
            found: version.to_string(),
        }),
        Some(_) => None,
        None if req.optional => None,
        None => Some(Error::DependencyMissing {
            plugin: node.id.clone(),
            dependency: req.name.clone(),
            range: req.range.to_string(),
            reason: format!("no plugin {:?} is loaded or being loaded", req.name),
        }),
    }
}

/// A node whose predecessors are all placed; the heap's greatest loads next.
#[derive(PartialEq, Eq)]
struct Ready<'a> {
    priority: i64,
    id: &'a str,
    index: usize,
}

impl Ord for Ready<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.id.cmp(self.id))
    }
}

impl PartialOrd for Ready<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Tarjan's strongly connected components, iterative so that a long chain of
/// thousands of plugins cannot overflow the stack. Returns each node's component.
fn strongly_connected(adjacency: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = adjacency.len();
    let mut visit = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut component = vec![UNSEEN; n];
    let mut components = 0;
    let mut counter = 0;
    // Frames of the simulated recursion: (node, next edge to follow).
    let mut calls: Vec<(usize, usize)> = Vec::new();

    for root in 0..n {
        if visit[root] != UNSEEN {
            continue;
        }
        visit[root] = counter;
        low[root] = counter;
        counter += 1;
        stack.push(root);
        on_stack[root] = true;
        calls.push((root, 0));
        while let Some(frame) = calls.last_mut() {
            let (v, next) = *frame;
            if let Some(&w) = adjacency[v].get(next) {
                frame.1 += 1;
                if visit[w] == UNSEEN {
                    visit[w] = counter;
                    low[w] = counter;
                    counter += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    calls.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(visit[w]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == visit[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component[w] = components;
                    if w == v {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

/// Breadth-first search for a shortest cycle through a node, reusing its
/// buffers across searches (a stamp per search instead of clearing).
struct CycleSearch {
    stamp: Vec<usize>,
    parent: Vec<usize>,
    round: usize,
}

impl CycleSearch {
    fn new(n: usize) -> Self {
        Self {
            stamp: vec![0; n],
            parent: vec![0; n],
            round: 0,
        }
    }

    /// A shortest cycle through `start` along `needs` edges ("a needs b needs
    /// a"), rotated to begin at its smallest index (its smallest id), with the
    /// first node repeated at the end. `start` must be on a cycle.
    fn shortest(&mut self, start: usize, needs: &[Vec<usize>], component: &[usize]) -> Vec<usize> {
        self.round += 1;
        self.stamp[start] = self.round;
        let mut queue = VecDeque::from([start]);
        let mut last = None;
        'search: while let Some(v) = queue.pop_front() {
            for &w in &needs[v] {
                if w == start {
                    last = Some(v);
                    break 'search;
                }
                if component[w] == component[start] && self.stamp[w] != self.round {
                    self.stamp[w] = self.round;
                    self.parent[w] = v;
                    queue.push_back(w);
                }
            }
        }
        let mut path = Vec::new();
        let mut v = last.unwrap_or(start);
        while v != start {
            path.push(v);
            v = self.parent[v];
        }
        path.push(start);
        path.reverse();
        let smallest = path
            .iter()
            .enumerate()
            .min_by_key(|&(_, &i)| i)
            .map_or(0, |(at, _)| at);
        path.rotate_left(smallest);
        path.push(path[0]);
        path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(input: &str) -> Result<Version, Error> {
        Version::parse(input).map_err(|e| Error::InvalidVersion {
            input: input.into(),
            reason: e.to_string(),
        })
    }

    fn range(input: &str) -> Result<VersionReq, Error> {
        VersionReq::parse(input).map_err(|e| Error::InvalidRange {
            input: input.into(),
            reason: e.to_string(),
        })
    }

    fn node(id: &str, v: &str) -> Result<Node, Error> {
        Ok(Node {
            id: id.into(),
            version: version(v)?,
            requires: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            priority: 0,
        })
    }

    /// Builder steps for test nodes.
    trait Build: Sized {
        fn needs(self, name: &str, range: &str) -> Result<Self, Error>;
        fn wants(self, name: &str, range: &str) -> Result<Self, Error>;
        fn before(self, names: &[&str]) -> Self;
        fn after(self, names: &[&str]) -> Self;
        fn priority(self, priority: i64) -> Self;
    }

    impl Build for Node {
        fn needs(mut self, name: &str, r: &str) -> Result<Self, Error> {
            self.requires.push(Requirement {
                name: name.into(),
                range: range(r)?,
                optional: false,
            });
            Ok(self)
        }

        fn wants(mut self, name: &str, r: &str) -> Result<Self, Error> {
            self.requires.push(Requirement {
                name: name.into(),
                range: range(r)?,
                optional: true,
            });
            Ok(self)
        }

        fn before(mut self, names: &[&str]) -> Self {
            self.before.extend(names.iter().map(|&s| s.to_owned()));
            self
        }

        fn after(mut self, names: &[&str]) -> Self {
            self.after.extend(names.iter().map(|&s| s.to_owned()));
            self
        }

        fn priority(mut self, priority: i64) -> Self {
            self.priority = priority;
            self
        }
    }

    fn resolver(nodes: Vec<Node>) -> Result<DependencyResolver, Error> {
        let mut r = DependencyResolver::new();
        for n in nodes {
            r.add(n)?;
        }
        Ok(r)
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|&s| s.to_owned()).collect()
    }

    fn failure<'r>(resolution: &'r Resolution, id: &str) -> Option<&'r Error> {
        resolution
            .failures
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, e)| e)
    }

    fn cycle(names: &[&str]) -> Error {
        Error::DependencyCycle { cycle: ids(names) }
    }

    #[test]
    fn empty_resolves_to_nothing() {
        let r = DependencyResolver::new();
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
        assert_eq!(r.resolve(), Resolution::default());
        assert_eq!(r.order(), Ok(Vec::new()));
    }

    #[test]
    fn chain_loads_dependencies_first() -> Result<(), Error> {
        let r = resolver(vec![
            node("c", "1.0.0")?.needs("b", "^1")?,
            node("a", "1.0.0")?,
            node("b", "1.2.0")?.needs("a", ">=1.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["a", "b", "c"]));
        Ok(())
    }

    #[test]
    fn diamond_orders_by_priority_then_id() -> Result<(), Error> {
        let d = node("d", "1.0.0")?.needs("b", "*")?.needs("c", "*")?;
        let r = resolver(vec![
            d.clone(),
            node("c", "1.0.0")?.needs("a", "*")?,
            node("b", "1.0.0")?.needs("a", "*")?,
            node("a", "1.0.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["a", "b", "c", "d"]));

        let r = resolver(vec![
            d,
            node("c", "1.0.0")?.needs("a", "*")?.priority(5),
            node("b", "1.0.0")?.needs("a", "*")?,
            node("a", "1.0.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["a", "c", "b", "d"]));
        Ok(())
    }

    #[test]
    fn priority_breaks_ties_and_id_breaks_equal_priority() -> Result<(), Error> {
        let r = resolver(vec![
            node("b", "1.0.0")?,
            node("a", "1.0.0")?,
            node("z", "1.0.0")?.priority(10),
            node("m", "1.0.0")?.priority(-3),
            node("B", "1.0.0")?,
        ])?;
        // "B" < "a" < "b" in byte order.
        assert_eq!(r.order()?, ids(&["z", "B", "a", "b", "m"]));
        Ok(())
    }

    #[test]
    fn priority_never_overrides_dependencies() -> Result<(), Error> {
        let r = resolver(vec![
            node("low", "1.0.0")?.priority(-100),
            node("high", "1.0.0")?.needs("low", "*")?.priority(100),
            node("mid", "1.0.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["mid", "low", "high"]));
        Ok(())
    }

    #[test]
    fn before_and_after_order_softly() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.after(&["c"]),
            node("b", "1.0.0")?.before(&["c"]),
            node("c", "1.0.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["b", "c", "a"]));
        Ok(())
    }

    #[test]
    fn before_and_after_absent_or_available_plugins_are_ignored() -> Result<(), Error> {
        let mut r = resolver(vec![
            node("a", "1.0.0")?.after(&["ghost", "loaded"]),
            node("b", "1.0.0")?
                .before(&["ghost", "loaded"])
                .priority(-1),
        ])?;
        r.add_available("loaded", version("1.0.0")?);
        assert_eq!(r.resolve().failures, Vec::new());
        assert_eq!(r.order()?, ids(&["a", "b"]));
        Ok(())
    }

    #[test]
    fn failed_plugin_named_in_before_after_does_not_fail_others() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("ghost", "*")?,
            node("b", "1.0.0")?.after(&["a"]),
            node("c", "1.0.0")?.before(&["a"]),
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["b", "c"]));
        assert_eq!(res.failures.len(), 1);
        assert_eq!(res.failures[0].0, "a");
        Ok(())
    }

    #[test]
    fn optional_absent_is_ignored() -> Result<(), Error> {
        let r = resolver(vec![node("a", "1.0.0")?.wants("ghost", "^1")?])?;
        assert_eq!(r.order()?, ids(&["a"]));
        Ok(())
    }

    #[test]
    fn optional_present_in_set_is_ordered_first() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.wants("z", "^2")?,
            node("z", "2.1.0")?,
        ])?;
        assert_eq!(r.order()?, ids(&["z", "a"]));
        Ok(())
    }

    #[test]
    fn optional_present_with_wrong_version_fails() -> Result<(), Error> {
        let mut r = resolver(vec![node("a", "1.0.0")?.wants("loaded", "^2")?])?;
        r.add_available("loaded", version("1.4.0")?);
        let expected = Error::DependencyVersion {
            plugin: "a".into(),
            dependency: "loaded".into(),
            range: "^2".into(),
            found: "1.4.0".into(),
        };
        assert_eq!(r.resolve().failures, vec![("a".into(), expected.clone())]);
        assert_eq!(r.order(), Err(expected));

        let r = resolver(vec![
            node("a", "1.0.0")?.wants("z", "^2")?,
            node("z", "1.0.0")?,
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["z"]));
        assert_eq!(
            failure(&res, "a").map(Error::code),
            Some("dependency_version")
        );
        Ok(())
    }

    #[test]
    fn missing_dependency_fails() -> Result<(), Error> {
        let r = resolver(vec![
            node("app", "1.0.0")?.needs("logger", ">=1.2")?,
            node("other", "1.0.0")?,
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["other"]));
        let expected = Error::DependencyMissing {
            plugin: "app".into(),
            dependency: "logger".into(),
            range: ">=1.2".into(),
            reason: "no plugin \"logger\" is loaded or being loaded".into(),
        };
        assert_eq!(res.failures, vec![("app".into(), expected.clone())]);
        assert_eq!(r.order(), Err(expected));
        Ok(())
    }

    #[test]
    fn version_mismatch_against_added_node() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "^2.0")?,
            node("b", "1.9.3")?,
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["b"]));
        assert_eq!(
            failure(&res, "a"),
            Some(&Error::DependencyVersion {
                plugin: "a".into(),
                dependency: "b".into(),
                range: "^2.0".into(),
                found: "1.9.3".into(),
            })
        );
        Ok(())
    }

    #[test]
    fn available_dependency_satisfies_or_mismatches() -> Result<(), Error> {
        let mut r = resolver(vec![
            node("ok", "1.0.0")?.needs("core", "~1.2")?,
            node("bad", "1.0.0")?.needs("core", ">=2")?,
        ])?;
        r.add_available("core", version("1.2.7")?);
        let res = r.resolve();
        assert_eq!(res.order, ids(&["ok"]));
        assert_eq!(
            res.failures,
            vec![(
                "bad".into(),
                Error::DependencyVersion {
                    plugin: "bad".into(),
                    dependency: "core".into(),
                    range: ">=2".into(),
                    found: "1.2.7".into(),
                }
            )]
        );
        Ok(())
    }

    #[test]
    fn first_requirement_problem_is_reported() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("x", "*")?.needs("b", "^9")?,
            node("b", "1.0.0")?,
        ])?;
        let res = r.resolve();
        assert_eq!(
            failure(&res, "a").map(Error::code),
            Some("dependency_missing")
        );
        Ok(())
    }

    #[test]
    fn failure_propagates_through_chain() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("ghost", "*")?,
            node("b", "1.0.0")?.needs("a", "^1")?,
            node("c", "1.0.0")?.needs("b", "*")?,
            node("d", "1.0.0")?,
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["d"]));
        let names: Vec<&str> = res.failures.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(
            failure(&res, "b"),
            Some(&Error::DependencyMissing {
                plugin: "b".into(),
                dependency: "a".into(),
                range: "^1".into(),
                reason: "\"a\" cannot load: dependency_missing".into(),
            })
        );
        let Some(Error::DependencyMissing {
            dependency, reason, ..
        }) = failure(&res, "c")
        else {
            panic!("c should miss b: {res:?}");
        };
        assert_eq!(dependency, "b");
        assert_eq!(reason, "\"b\" cannot load: dependency_missing");
        Ok(())
    }

    #[test]
    fn propagated_reason_names_the_dependency_error_code() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "^2")?,
            node("b", "1.0.0")?,
            node("c", "1.0.0")?.wants("a", "*")?,
        ])?;
        let res = r.resolve();
        let Some(Error::DependencyMissing { reason, .. }) = failure(&res, "c") else {
            panic!("c should fail: {res:?}");
        };
        assert_eq!(reason, "\"a\" cannot load: dependency_version");
        assert_eq!(res.order, ids(&["b"]));
        Ok(())
    }

    #[test]
    fn cycle_of_two() -> Result<(), Error> {
        let r = resolver(vec![
            node("b", "1.0.0")?.needs("a", "*")?,
            node("a", "1.0.0")?.needs("b", "*")?,
            node("c", "1.0.0")?,
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["c"]));
        assert_eq!(
            res.failures,
            vec![
                ("a".into(), cycle(&["a", "b", "a"])),
                ("b".into(), cycle(&["a", "b", "a"])),
            ]
        );
        assert_eq!(r.order(), Err(cycle(&["a", "b", "a"])));
        Ok(())
    }

    #[test]
    fn cycle_of_three_with_tail() -> Result<(), Error> {
        // a needs c needs b needs a; tail needs b.
        let r = resolver(vec![
            node("tail", "1.0.0")?.needs("b", "*")?,
            node("b", "1.0.0")?.needs("a", "*")?,
            node("c", "1.0.0")?.needs("b", "*")?,
            node("a", "1.0.0")?.needs("c", "*")?,
        ])?;
        let res = r.resolve();
        assert!(res.order.is_empty());
        let expected = cycle(&["a", "c", "b", "a"]);
        for id in ["a", "b", "c"] {
            assert_eq!(failure(&res, id), Some(&expected), "{id}");
        }
        assert_eq!(
            failure(&res, "tail"),
            Some(&Error::DependencyMissing {
                plugin: "tail".into(),
                dependency: "b".into(),
                range: "*".into(),
                reason: "\"b\" cannot load: dependency_cycle".into(),
            })
        );
        Ok(())
    }

    #[test]
    fn self_dependency_is_a_cycle() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("a", "*")?,
            node("b", "1.0.0")?.before(&["b"]),
        ])?;
        let res = r.resolve();
        assert_eq!(
            res.failures,
            vec![
                ("a".into(), cycle(&["a", "a"])),
                ("b".into(), cycle(&["b", "b"])),
            ]
        );
        Ok(())
    }

    #[test]
    fn cycle_through_before_and_after_only() -> Result<(), Error> {
        // a before b (b needs a), a after b (a needs b).
        let r = resolver(vec![
            node("a", "1.0.0")?.before(&["b"]).after(&["b"]),
            node("b", "1.0.0")?,
            // A soft edge to a cycle member orders, it does not fail.
            node("c", "1.0.0")?.after(&["a"]),
        ])?;
        let res = r.resolve();
        assert_eq!(res.order, ids(&["c"]));
        assert_eq!(failure(&res, "a"), Some(&cycle(&["a", "b", "a"])));
        assert_eq!(failure(&res, "b"), Some(&cycle(&["a", "b", "a"])));

        // Mixed: x needs y, y loads after z, z loads before... x (x before z).
        let r = resolver(vec![
            node("x", "1.0.0")?.needs("y", "*")?.before(&["z"]),
            node("y", "1.0.0")?.after(&["z"]),
            node("z", "1.0.0")?,
        ])?;
        let res = r.resolve();
        for id in ["x", "y", "z"] {
            assert_eq!(
                failure(&res, id),
                Some(&cycle(&["x", "y", "z", "x"])),
                "{id}"
            );
        }
        Ok(())
    }

    #[test]
    fn separate_cycles_report_their_own() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "*")?,
            node("b", "1.0.0")?.needs("a", "*")?,
            node("x", "1.0.0")?.needs("y", "*")?,
            node("y", "1.0.0")?.needs("z", "*")?,
            node("z", "1.0.0")?.needs("x", "*")?,
        ])?;
        let res = r.resolve();
        assert_eq!(failure(&res, "a"), Some(&cycle(&["a", "b", "a"])));
        assert_eq!(failure(&res, "b"), Some(&cycle(&["a", "b", "a"])));
        for id in ["x", "y", "z"] {
            assert_eq!(
                failure(&res, id),
                Some(&cycle(&["x", "y", "z", "x"])),
                "{id}"
            );
        }
        Ok(())
    }

    #[test]
    fn overlapping_cycles_name_a_cycle_through_each_member() -> Result<(), Error> {
        // Two cycles sharing b: a <-> b and b <-> c.
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "*")?,
            node("b", "1.0.0")?.needs("a", "*")?.needs("c", "*")?,
            node("c", "1.0.0")?.needs("b", "*")?,
        ])?;
        let res = r.resolve();
        assert_eq!(failure(&res, "a"), Some(&cycle(&["a", "b", "a"])));
        assert_eq!(failure(&res, "b"), Some(&cycle(&["a", "b", "a"])));
        assert_eq!(failure(&res, "c"), Some(&cycle(&["b", "c", "b"])));
        Ok(())
    }

    #[test]
    fn own_requirement_failure_wins_over_cycle() -> Result<(), Error> {
        let r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "^5")?,
            node("b", "1.0.0")?.needs("a", "*")?,
        ])?;
        let res = r.resolve();
        assert_eq!(
            failure(&res, "a").map(Error::code),
            Some("dependency_version")
        );
        assert_eq!(failure(&res, "b"), Some(&cycle(&["a", "b", "a"])));
        Ok(())
    }

    #[test]
    fn duplicate_add_is_already_loaded() -> Result<(), Error> {
        let mut r = resolver(vec![node("a", "1.0.0")?])?;
        assert_eq!(
            r.add(node("a", "2.0.0")?),
            Err(Error::AlreadyLoaded { id: "a".into() })
        );
        assert_eq!(r.len(), 1);
        Ok(())
    }

    #[test]
    fn add_of_available_id_is_already_loaded() -> Result<(), Error> {
        let mut r = DependencyResolver::new();
        r.add_available("a", version("1.0.0")?);
        assert_eq!(
            r.add(node("a", "1.0.0")?),
            Err(Error::AlreadyLoaded { id: "a".into() })
        );
        assert!(r.is_empty());
        Ok(())
    }

    #[test]
    fn available_declared_after_add_shadows_the_node() -> Result<(), Error> {
        let mut r = resolver(vec![
            node("a", "1.0.0")?,
            node("b", "1.0.0")?.needs("a", "^2")?,
        ])?;
        r.add_available("a", version("2.0.0")?);
        let res = r.resolve();
        assert_eq!(res.order, ids(&["b"]));
        assert_eq!(
            res.failures,
            vec![("a".into(), Error::AlreadyLoaded { id: "a".into() })]
        );
        Ok(())
    }

    #[test]
    fn remove_drops_the_node() -> Result<(), Error> {
        let mut r = resolver(vec![
            node("a", "1.0.0")?.needs("b", "*")?,
            node("b", "1.0.0")?.needs("a", "*")?,
        ])?;
        assert!(r.order().is_err());
        assert!(r.remove("a"));
        assert!(!r.remove("a"));
        assert_eq!(r.len(), 1);
        assert_eq!(r.order().map_err(|e| e.code()), Err("dependency_missing"));
        r.add(node("a", "1.0.0")?)?;
        assert_eq!(r.order()?, ids(&["a", "b"]));
        Ok(())
    }

    #[test]
    fn insertion_order_does_not_change_the_result() -> Result<(), Error> {
        let nodes = vec![
            node("a", "1.0.0")?,
            node("b", "1.0.0")?.needs("a", "*")?.priority(2),
            node("c", "1.0.0")?.needs("a", "*")?.before(&["b"]),
            node("d", "1.0.0")?.after(&["c"]),
            node("e", "1.0.0")?.needs("ghost", "*")?,
            node("f", "1.0.0")?.needs("e", "*")?,
            node("g", "1.0.0")?.needs("h", "*")?,
            node("h", "1.0.0")?.needs("g", "*")?,
            node("i", "1.0.0")?.priority(7),
        ];
        let forward = resolver(nodes.clone())?.resolve();
        let backward = resolver(nodes.into_iter().rev().collect())?.resolve();
        assert_eq!(forward, backward);
        assert_eq!(forward.order, ids(&["i", "a", "c", "b", "d"]));
        let failed: Vec<&str> = forward.failures.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(failed, ["e", "f", "g", "h"]);
        Ok(())
    }

    /// Numerical Recipes' LCG: deterministic, no `rand` needed.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, bound: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % bound as u64) as usize
        }
    }

    #[test]
    fn large_graph_loads_every_dependency_first() -> Result<(), Error> {
        const N: usize = 500;
        let mut rng = Lcg(42);
        let name = |i: usize| format!("p{i:03}");
        let mut nodes = Vec::with_capacity(N);
        let mut edges = Vec::new();
        for i in 0..N {
            let mut n = node(&name(i), "1.0.0")?.priority(rng.below(5) as i64 - 2);
            if i > 0 {
                for _ in 0..rng.below(4) {
                    let j = rng.below(i);
                    n = if rng.below(3) == 0 {
                        n.after(&[&name(j)])
                    } else {
                        n.needs(&name(j), "^1")?
                    };
                    edges.push((j, i));
                }
                if rng.below(5) == 0 {
                    // Loads before a later plugin: still acyclic.
                    let k = i + 1 + rng.below(N - i);
                    if k < N {
                        n = n.before(&[&name(k)]);
                        edges.push((i, k));
                    }
                }
            }
            nodes.push(n);
        }
        // Shuffle the insertion order to exercise determinism at scale too.
        let mut shuffled = nodes.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.below(i + 1));
        }

        let res = resolver(nodes)?.resolve();
        assert!(res.failures.is_empty(), "{:?}", res.failures);
        assert_eq!(res.order.len(), N);
        let mut position = vec![usize::MAX; N];
        for (at, id) in res.order.iter().enumerate() {
            let i: usize = id[1..]
                .parse()
                .map_err(|_| Error::UnknownPlugin { id: id.clone() })?;
            position[i] = at;
        }
        for (first, then) in edges {
            assert!(position[first] < position[then], "{first} before {then}");
        }
        assert_eq!(resolver(shuffled)?.resolve(), res);
        Ok(())
    }

    #[test]
    fn long_chain_and_long_cycle_do_not_recurse() -> Result<(), Error> {
        // Each plugin needs the next, so a depth-first walk from the first
        // would go thousands of frames deep if it recursed.
        fn chain(len: usize, closed: bool) -> Result<DependencyResolver, Error> {
            let name = |i: usize| format!("n{i:05}");
            let mut r = DependencyResolver::new();
            for i in 0..len {
                let next = if i + 1 < len {
                    Some(i + 1)
                } else {
                    closed.then_some(0)
                };
                let mut n = node(&name(i), "1.0.0")?;
                if let Some(next) = next {
                    n = n.needs(&name(next), "*")?;
                }
                r.add(n)?;
            }
            Ok(r)
        }

        let order = chain(5000, false)?.order()?;
        assert_eq!(order.len(), 5000);
        assert_eq!(order.first().map(String::as_str), Some("n04999"));
        assert_eq!(order.last().map(String::as_str), Some("n00000"));

        // Closed into one big cycle: every member names the same path.
        let res = chain(1000, true)?.resolve();
        assert!(res.order.is_empty());
        assert_eq!(res.failures.len(), 1000);
        for (_, e) in &res.failures {
            let Error::DependencyCycle { cycle } = e else {
                panic!("expected a cycle, got {e:?}");
            };
            assert_eq!(cycle.len(), 1001);
            assert_eq!(cycle.first().map(String::as_str), Some("n00000"));
            assert_eq!(cycle.get(1).map(String::as_str), Some("n00001"));
            assert_eq!(cycle.last().map(String::as_str), Some("n00000"));
        }
        Ok(())
    }
}
