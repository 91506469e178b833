//! The job lifecycle as an explicit state machine.
//!
//! ```text
//! pending ──place──▶ placed ──submitted──▶ submitted ──started──▶ running
//!    ▲                 │  ╲                  │    ╲                 │  ╲
//!    └─ preempted / lost / cluster down ─────┴─────╲────────────────┘   ╲
//!                      succeeded · failed · cancelled (terminal) ◀──────╯
//! ```
//!
//! [`step`] does no I/O: it takes a job's [`Core`] and an [`Event`], and returns the next core
//! and the [`Command`]s the broker must carry out (submit, cancel a remote copy, release GPUs).
//! An event that makes no sense in the current state is rejected, never half-applied. The store
//! persists every accepted transition (with the state it came from, so that two racing writers
//! cannot both apply one), and the reconciler and API only move jobs through here.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted and durable; waiting for a cluster with room (the reason is kept on the job).
    Pending,
    /// A cluster's GPUs are reserved for it; not yet handed to the cluster's executor.
    Placed,
    /// The executor accepted it (a handle is recorded); it may still queue there.
    Submitted,
    /// The executor says it runs.
    Running,
    /// Finished with success. Terminal.
    Succeeded,
    /// Finished with an error, or rejected by the executor. Terminal.
    Failed,
    /// Cancelled by its tenant or the admin. Terminal.
    Cancelled,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Pending,
        JobState::Placed,
        JobState::Submitted,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Placed => "placed",
            JobState::Submitted => "submitted",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Nothing more happens to a job in this state.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
    /// The job holds GPUs on a cluster in this state.
    pub fn holds_gpus(self) -> bool {
        matches!(
            self,
            JobState::Placed | JobState::Submitted | JobState::Running
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of a job the state machine reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Core {
    pub state: JobState,
    /// The cluster holding it (placed, submitted, running), or that last held it.
    pub cluster: Option<String>,
    /// 0 for the first try; +1 each time it goes back to pending after a preemption, a loss or
    /// its cluster going down. Exported to the job as `SKYFLEET_RESTART_COUNT`.
    pub attempt: u32,
    /// The executor's handle of the current attempt (submitted, running).
    pub handle: Option<String>,
    /// Why it waits, or why it failed.
    pub reason: Option<String>,
}

impl Core {
    pub fn new() -> Self {
        Core {
            state: JobState::Pending,
            cluster: None,
            attempt: 0,
            handle: None,
            reason: None,
        }
    }
}

impl Default for Core {
    fn default() -> Self {
        Self::new()
    }
}

/// Something that happened to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Placement found room on `cluster`.
    Place {
        cluster: String,
    },
    /// The executor accepted the submission (or an earlier one was found by name).
    Submitted {
        handle: String,
    },
    /// The executor says it runs.
    Started,
    Succeeded,
    /// It failed, or the executor rejected it.
    Failed {
        reason: String,
    },
    /// Its tenant or the admin cancelled it.
    Cancel,
    /// The backend took its capacity back (spot reclaim, Slurm preemption).
    Preempted,
    /// The backend no longer knows the submission.
    Lost {
        reason: String,
    },
    /// Its cluster was marked down after failing health checks.
    ClusterDown,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Place { .. } => "place",
            Event::Submitted { .. } => "submitted",
            Event::Started => "started",
            Event::Succeeded => "succeeded",
            Event::Failed { .. } => "failed",
            Event::Cancel => "cancel",
            Event::Preempted => "preempted",
            Event::Lost { .. } => "lost",
            Event::ClusterDown => "cluster_down",
        }
    }
}

/// What the broker must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Hand attempt `attempt` to `cluster`'s executor.
    Submit { cluster: String, attempt: u32 },
    /// Cancel the remote copy of `attempt` on `cluster` (by handle if known, else by name). If the
    /// cluster cannot be reached, remember it as a stale copy and cancel it when it returns.
    CancelRemote {
        cluster: String,
        attempt: u32,
        handle: Option<String>,
    },
    /// Give the job's GPUs on `cluster` back to placement.
    Release { cluster: String },
}

/// An event that does not apply to a job in its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot take the event `{event}`")]
pub struct Rejected {
    pub from: JobState,
    pub event: &'static str,
}

/// One transition: the next core, and what to do.
pub fn step(core: &Core, ev: &Event) -> Result<(Core, Vec<Command>), Rejected> {
    use JobState::*;
    let reject = || Rejected {
        from: core.state,
        event: ev.name(),
    };
    let mut next = core.clone();
    let mut cmds = Vec::new();
    let cluster = core.cluster.clone().unwrap_or_default();
    match (core.state, ev) {
        (Pending, Event::Place { cluster }) => {
            next.state = Placed;
            next.cluster = Some(cluster.clone());
            next.reason = None;
            cmds.push(Command::Submit {
                cluster: cluster.clone(),
                attempt: core.attempt,
            });
        }
        (Placed, Event::Submitted { handle }) => {
            next.state = Submitted;
            next.handle = Some(handle.clone());
        }
        (Submitted, Event::Started) => next.state = Running,
        (Submitted | Running, Event::Succeeded) => {
            next.state = Succeeded;
            cmds.push(Command::Release { cluster });
        }
        (Placed | Submitted | Running, Event::Failed { reason }) => {
            next.state = Failed;
            next.reason = Some(reason.clone());
            cmds.push(Command::Release { cluster });
        }
        (Pending, Event::Cancel) => next.state = Cancelled,
        (Placed | Submitted | Running, Event::Cancel) => {
            next.state = Cancelled;
            cmds.push(Command::CancelRemote {
                cluster: cluster.clone(),
                attempt: core.attempt,
                handle: core.handle.clone(),
            });
            cmds.push(Command::Release { cluster });
        }
        (
            Placed | Submitted | Running,
            Event::Preempted | Event::Lost { .. } | Event::ClusterDown,
        ) => {
            next.state = Pending;
            next.attempt = core.attempt + 1;
            next.handle = None;
            next.reason = Some(match ev {
                Event::Preempted => format!("preempted on {cluster}"),
                Event::Lost { reason } => format!("lost on {cluster}: {reason}"),
                _ => format!("cluster {cluster} went down"),
            });
            // The old copy may still run, or run again (a down cluster that returns, a
            // preempted job the cluster requeues): cancel it, now or when the cluster answers.
            cmds.push(Command::CancelRemote {
                cluster: cluster.clone(),
                attempt: core.attempt,
                handle: core.handle.clone(),
            });
            cmds.push(Command::Release { cluster });
        }
        _ => return Err(reject()),
    }
    Ok((next, cmds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    fn at(state: JobState) -> Core {
        Core {
            state,
            cluster: (state != Pending).then(|| "a".to_string()),
            attempt: 0,
            handle: matches!(state, Submitted | Running).then(|| "h1".to_string()),
            reason: None,
        }
    }

    fn events() -> Vec<Event> {
        vec![
            Event::Place {
                cluster: "b".into(),
            },
            Event::Submitted {
                handle: "h2".into(),
            },
            Event::Started,
            Event::Succeeded,
            Event::Failed {
                reason: "exit 1".into(),
            },
            Event::Cancel,
            Event::Preempted,
            Event::Lost {
                reason: "gone".into(),
            },
            Event::ClusterDown,
        ]
    }

    /// The whole table: for every state and event, the next state or a rejection.
    #[test]
    fn every_transition_and_every_rejection() {
        let expected: &[(JobState, &[Option<JobState>])] = &[
            // place, submitted, started, succeeded, failed, cancel, preempted, lost, cluster_down
            (
                Pending,
                &[
                    Some(Placed),
                    None,
                    None,
                    None,
                    None,
                    Some(Cancelled),
                    None,
                    None,
                    None,
                ],
            ),
            (
                Placed,
                &[
                    None,
                    Some(Submitted),
                    None,
                    None,
                    Some(Failed),
                    Some(Cancelled),
                    Some(Pending),
                    Some(Pending),
                    Some(Pending),
                ],
            ),
            (
                Submitted,
                &[
                    None,
                    None,
                    Some(Running),
                    Some(Succeeded),
                    Some(Failed),
                    Some(Cancelled),
                    Some(Pending),
                    Some(Pending),
                    Some(Pending),
                ],
            ),
            (
                Running,
                &[
                    None,
                    None,
                    None,
                    Some(Succeeded),
                    Some(Failed),
                    Some(Cancelled),
                    Some(Pending),
                    Some(Pending),
                    Some(Pending),
                ],
            ),
            (Succeeded, &[None; 9]),
            (Failed, &[None; 9]),
            (Cancelled, &[None; 9]),
        ];
        for (from, row) in expected {
            for (ev, want) in events().iter().zip(row.iter()) {
                let got = step(&at(*from), ev);
                match want {
                    Some(to) => assert_eq!(
                        got.as_ref().map(|(c, _)| c.state),
                        Ok(*to),
                        "{from} + {ev:?}"
                    ),
                    None => assert_eq!(
                        got,
                        Err(Rejected {
                            from: *from,
                            event: ev.name()
                        }),
                        "{from} + {ev:?} must be rejected"
                    ),
                }
            }
        }
    }

    #[test]
    fn placing_submits_and_records_the_cluster() {
        let (c, cmds) = step(
            &at(Pending),
            &Event::Place {
                cluster: "b".into(),
            },
        )
        .unwrap();
        assert_eq!(c.cluster.as_deref(), Some("b"));
        assert_eq!(
            cmds,
            [Command::Submit {
                cluster: "b".into(),
                attempt: 0
            }]
        );
        let (c, cmds) = step(&c, &Event::Submitted { handle: "h".into() }).unwrap();
        assert_eq!(c.handle.as_deref(), Some("h"));
        assert!(cmds.is_empty());
    }

    #[test]
    fn going_back_to_pending_counts_an_attempt_and_releases() {
        let (c, cmds) = step(&at(Running), &Event::Preempted).unwrap();
        assert_eq!((c.state, c.attempt, c.handle.clone()), (Pending, 1, None));
        assert_eq!(c.reason.as_deref(), Some("preempted on a"));
        let moved = [
            Command::CancelRemote {
                cluster: "a".into(),
                attempt: 0,
                handle: Some("h1".into()),
            },
            Command::Release {
                cluster: "a".into(),
            },
        ];
        assert_eq!(
            cmds, moved,
            "a requeued old copy must not run beside the new one"
        );
        let (c, cmds) = step(&at(Running), &Event::ClusterDown).unwrap();
        assert_eq!(c.attempt, 1);
        assert_eq!(cmds, moved);
        let (_, cmds) = step(&at(Running), &Event::Lost { reason: "x".into() }).unwrap();
        assert_eq!(cmds, moved);
    }

    #[test]
    fn cancel_of_a_running_job_cancels_the_remote_copy() {
        let (c, cmds) = step(&at(Running), &Event::Cancel).unwrap();
        assert_eq!(c.state, Cancelled);
        assert_eq!(cmds.len(), 2);
        let (_, cmds) = step(&at(Pending), &Event::Cancel).unwrap();
        assert!(cmds.is_empty(), "a pending job holds nothing");
    }

    #[test]
    fn states_round_trip_by_name() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(s.holds_gpus(), matches!(s, Placed | Submitted | Running));
        }
    }
}
