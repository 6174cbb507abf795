//! Plugin states and the operations each state allows.
//!
//! `loaded` (on_load ran) → `running` (on_start ran) ⇄ `stopped`; any state may
//! become `failed` when a hook or update errors; `unloaded` is final. The
//! manager asks [`check`] before it runs a hook, so a refused operation
//! changes nothing and runs no plugin code.

use std::fmt;

use crate::error::Error;

/// Where a plugin is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Loaded,
    Running,
    Stopped,
    Failed,
    Unloaded,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Loaded,
        State::Running,
        State::Stopped,
        State::Failed,
        State::Unloaded,
    ];

    /// The lower-case name Lua sees (`"running"`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Loaded => "loaded",
            State::Running => "running",
            State::Stopped => "stopped",
            State::Failed => "failed",
            State::Unloaded => "unloaded",
        }
    }

    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller asks of a plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Start,
    Stop,
    Unload,
    Reload,
    Configure,
    /// The host marks the plugin failed (an export of it raised where the host called it).
    Fail,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::Unload => "unload",
            Operation::Reload => "reload",
            Operation::Configure => "configure",
            Operation::Fail => "fail",
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        [
            Operation::Start,
            Operation::Stop,
            Operation::Unload,
            Operation::Reload,
            Operation::Configure,
            Operation::Fail,
        ]
        .into_iter()
        .find(|o| o.as_str() == name)
    }

    /// The state the plugin is in once the operation's hook succeeded.
    pub fn target(self, from: State) -> State {
        match self {
            Operation::Start => State::Running,
            Operation::Stop => State::Stopped,
            Operation::Unload => State::Unloaded,
            // a reload keeps the plugin where it was; a failed one comes back running
            Operation::Reload => match from {
                State::Failed => State::Running,
                other => other,
            },
            Operation::Configure => from,
            Operation::Fail => State::Failed,
        }
    }
}

/// Whether `operation` is allowed in `state`.
pub fn allows(state: State, operation: Operation) -> bool {
    use Operation as O;
    use State as S;
    match (state, operation) {
        (S::Unloaded, _) => false,
        // a failed plugin may be started again: a retry after fixing its cause
        (S::Loaded | S::Stopped | S::Failed, O::Start) => true,
        (S::Running, O::Stop) => true,
        (_, O::Unload | O::Reload) => true,
        (S::Loaded | S::Running | S::Stopped, O::Configure | O::Fail) => true,
        _ => false,
    }
}

/// `Ok(target state)` when allowed, else the `invalid_state` error naming both.
pub fn check(plugin: &str, state: State, operation: Operation) -> Result<State, Error> {
    if allows(state, operation) {
        Ok(operation.target(state))
    } else {
        Err(Error::InvalidState {
            plugin: plugin.to_owned(),
            state: state.as_str().to_owned(),
            operation: operation.as_str().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("Running"), None);
        assert_eq!(Operation::parse("start"), Some(Operation::Start));
        assert_eq!(Operation::parse("explode"), None);
    }

    #[test]
    fn the_transition_table() {
        use Operation as O;
        use State as S;
        let table = [
            (S::Loaded, O::Start, Some(S::Running)),
            (S::Stopped, O::Start, Some(S::Running)),
            (S::Failed, O::Start, Some(S::Running)),
            (S::Running, O::Start, None),
            (S::Running, O::Stop, Some(S::Stopped)),
            (S::Loaded, O::Stop, None),
            (S::Stopped, O::Stop, None),
            (S::Running, O::Unload, Some(S::Unloaded)),
            (S::Failed, O::Unload, Some(S::Unloaded)),
            (S::Unloaded, O::Unload, None),
            (S::Running, O::Reload, Some(S::Running)),
            (S::Stopped, O::Reload, Some(S::Stopped)),
            (S::Failed, O::Reload, Some(S::Running)),
            (S::Unloaded, O::Reload, None),
            (S::Running, O::Configure, Some(S::Running)),
            (S::Failed, O::Configure, None),
            (S::Loaded, O::Fail, Some(S::Failed)),
            (S::Running, O::Fail, Some(S::Failed)),
            (S::Stopped, O::Fail, Some(S::Failed)),
            (S::Failed, O::Fail, None),
            (S::Unloaded, O::Fail, None),
        ];
        for (from, op, expected) in table {
            assert_eq!(check("p", from, op).ok(), expected, "{from} {op:?}");
        }
    }

    #[test]
    fn refusals_name_plugin_state_and_operation() {
        let err = check("greeter", State::Loaded, Operation::Stop).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("cannot stop plugin \"greeter\" while it is loaded".to_owned())
        );
    }
}
