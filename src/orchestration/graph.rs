//! The shape of a workflow: the steps, what each waits for, and an order that
//! runs every step after the steps it depends on; or every reason there is none.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

/// One step as the graph sees it: its name and the names it depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepShape {
    pub name: String,
    pub depends_on: Vec<String>,
}

/// Why a workflow has no order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Two steps have the same name.
    Duplicate { name: String },
    /// A step depends on a name no step has.
    UnknownDependency { step: String, dependency: String },
    /// Steps depend on each other in a circle; `path` runs in the order the
    /// steps would have to run and ends where it starts (`a -> b -> a`: b
    /// depends on a, a depends on b).
    Cycle { path: Vec<String> },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Duplicate { name } => write!(f, "two steps are named {name:?}"),
            Problem::UnknownDependency { step, dependency } => {
                write!(
                    f,
                    "step {step:?} depends on {dependency:?}, which is no step"
                )
            }
            Problem::Cycle { path } => write!(
                f,
                "steps depend on each other in a cycle: {} (each waits for the one before it)",
                path.join(" -> ")
            ),
        }
    }
}

/// The indices of `steps` in an order where every step comes after the steps
/// it depends on; among steps free to run, the one added first goes first.
/// Otherwise every duplicate name and unknown dependency, and a cycle if there
/// is one. A name given twice counts as its first step.
pub fn order(steps: &[StepShape]) -> Result<Vec<usize>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut index_of: HashMap<&str, usize> = HashMap::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        if index_of.contains_key(step.name.as_str()) {
            problems.push(Problem::Duplicate {
                name: step.name.clone(),
            });
        } else {
            index_of.insert(&step.name, i);
        }
    }
    // depends_on[i]: the steps step i waits for, each once
    let mut depends_on: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
    for step in steps {
        let mut mine: Vec<usize> = Vec::with_capacity(step.depends_on.len());
        for dependency in &step.depends_on {
            match index_of.get(dependency.as_str()) {
                Some(&d) if !mine.contains(&d) => mine.push(d),
                Some(_) => {}
                None => problems.push(Problem::UnknownDependency {
                    step: step.name.clone(),
                    dependency: dependency.clone(),
                }),
            }
        }
        depends_on.push(mine);
    }

    let mut waiting_for: Vec<usize> = depends_on.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, mine) in depends_on.iter().enumerate() {
        for &d in mine {
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..steps.len())
        .filter(|&i| waiting_for[i] == 0)
        .map(Reverse)
        .collect();
    let mut ordered = Vec::with_capacity(steps.len());
    while let Some(Reverse(i)) = ready.pop() {
        ordered.push(i);
        for &dependent in &dependents[i] {
            waiting_for[dependent] -= 1;
            if waiting_for[dependent] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    if ordered.len() < steps.len() {
        let stuck: Vec<bool> = waiting_for.iter().map(|&n| n > 0).collect();
        problems.push(Problem::Cycle {
            path: cycle_path(steps, &depends_on, &stuck),
        });
    }
    if problems.is_empty() {
        Ok(ordered)
    } else {
        Err(problems)
    }
}

/// A cycle among the steps left `stuck` by the ordering, in run order. Every
/// stuck step waits for another stuck step (a step whose dependencies all ran
/// would have run), so following dependencies from the first stuck step must
/// come back to a step already seen.
fn cycle_path(steps: &[StepShape], depends_on: &[Vec<usize>], stuck: &[bool]) -> Vec<String> {
    let Some(start) = stuck.iter().position(|&s| s) else {
        return Vec::new();
    };
    let mut seen_at: HashMap<usize, usize> = HashMap::new();
    let mut walk = vec![start];
    let mut current = start;
    loop {
        seen_at.insert(current, walk.len() - 1);
        let Some(&next) = depends_on[current].iter().find(|&&d| stuck[d]) else {
            return Vec::new();
        };
        if let Some(&at) = seen_at.get(&next) {
            // walk[at..] follows dependencies from `next`; run order is the
            // reverse, starting and ending at `next`
            let mut path = vec![steps[next].name.clone()];
            path.extend(walk[at..].iter().rev().map(|&i| steps[i].name.clone()));
            return path;
        }
        walk.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(spec: &[(&str, &[&str])]) -> Vec<StepShape> {
        spec.iter()
            .map(|(name, deps)| StepShape {
                name: (*name).into(),
                depends_on: deps.iter().map(|d| (*d).into()).collect(),
            })
            .collect()
    }

    fn names(steps: &[StepShape], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| steps[i].name.clone()).collect()
    }

    #[test]
    fn a_chain_runs_in_order() {
        let steps = shape(&[
            ("load", &[]),
            ("process", &["load"]),
            ("save", &["process"]),
        ]);
        assert_eq!(
            order(&steps).map(|o| names(&steps, &o)),
            Ok(vec!["load".to_string(), "process".into(), "save".into()])
        );
    }

    #[test]
    fn steps_may_name_steps_added_after_them() {
        let steps = shape(&[("save", &["load"]), ("load", &[])]);
        assert_eq!(order(&steps), Ok(vec![1, 0]));
    }

    #[test]
    fn a_diamond_joins_after_both_branches_and_free_steps_keep_their_places() {
        let steps = shape(&[
            ("a", &[]),
            ("c", &["a"]),
            ("b", &["a"]),
            ("d", &["b", "c"]),
            ("lone", &[]),
        ]);
        // among steps free to run, the one added first
        assert_eq!(order(&steps), Ok(vec![0, 1, 2, 3, 4]));
        let steps = shape(&[("d", &["b", "c"]), ("c", &["a"]), ("b", &["a"]), ("a", &[])]);
        assert_eq!(order(&steps), Ok(vec![3, 1, 2, 0]));
    }

    #[test]
    fn a_dependency_named_twice_counts_once() {
        let steps = shape(&[("a", &[]), ("b", &["a", "a"])]);
        assert_eq!(order(&steps), Ok(vec![0, 1]));
    }

    #[test]
    fn duplicates_and_unknown_dependencies_are_all_reported() {
        let steps = shape(&[("a", &[]), ("a", &[]), ("b", &["x", "a"]), ("c", &["y"])]);
        let problems = order(&steps).unwrap_err();
        assert_eq!(
            problems,
            vec![
                Problem::Duplicate { name: "a".into() },
                Problem::UnknownDependency {
                    step: "b".into(),
                    dependency: "x".into()
                },
                Problem::UnknownDependency {
                    step: "c".into(),
                    dependency: "y".into()
                },
            ]
        );
        assert_eq!(
            problems[1].to_string(),
            "step \"b\" depends on \"x\", which is no step"
        );
    }

    #[test]
    fn a_cycle_is_named_in_run_order() {
        // b waits for a, c for b, a for c: a -> b -> c -> a
        let steps = shape(&[
            ("start", &[]),
            ("a", &["c"]),
            ("b", &["a"]),
            ("c", &["b"]),
            ("end", &["c"]),
        ]);
        let problems = order(&steps).unwrap_err();
        assert_eq!(
            problems,
            vec![Problem::Cycle {
                path: vec!["a".into(), "b".into(), "c".into(), "a".into()]
            }]
        );
        assert_eq!(
            problems[0].to_string(),
            "steps depend on each other in a cycle: a -> b -> c -> a (each waits for the one before it)"
        );
    }

    #[test]
    fn a_step_depending_on_itself_is_a_cycle_of_one() {
        let steps = shape(&[("a", &["a"])]);
        assert_eq!(
            order(&steps),
            Err(vec![Problem::Cycle {
                path: vec!["a".into(), "a".into()]
            }])
        );
    }

    #[test]
    fn a_step_stuck_behind_a_cycle_is_not_in_the_path() {
        // "late" waits for the cycle but is not part of it; it comes first
        let steps = shape(&[("late", &["x"]), ("x", &["y"]), ("y", &["x"])]);
        assert_eq!(
            order(&steps),
            Err(vec![Problem::Cycle {
                path: vec!["x".into(), "y".into(), "x".into()]
            }])
        );
    }

    #[test]
    fn an_empty_workflow_has_an_empty_order() {
        assert_eq!(order(&[]), Ok(vec![]));
    }
}
