//! An in-memory executor for the broker's tests only (the product uses skyfleet-exec's backends).

use skyfleet_exec::{ExecError, Executor, Found, Handle, LaunchSpec, RemoteState};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Default)]
pub struct Fake {
    pub down: AtomicBool,
    /// Cancels fail (the cluster otherwise answers).
    pub fail_cancel: AtomicBool,
    next: AtomicU64,
    /// handle -> (name, state, spec)
    pub subs: Mutex<BTreeMap<String, (String, RemoteState, LaunchSpec)>>,
    /// Runs at the start of each submit, before the copy exists (to stage a race).
    #[allow(clippy::type_complexity)]
    pub on_submit: Mutex<Option<Box<dyn Fn() + Send + Sync>>>,
}

impl Fake {
    fn check(&self) -> Result<(), ExecError> {
        if self.down.load(Ordering::SeqCst) {
            Err(ExecError::Unreachable {
                backend: "fake",
                detail: "down".into(),
            })
        } else {
            Ok(())
        }
    }
    /// Sets the state of every submission of `job_id`'s attempt `attempt`.
    pub fn set(&self, job_id: &str, attempt: u32, st: RemoteState) {
        let name = skyfleet_exec::submission_name(job_id, attempt);
        for (n, s, _) in self.subs.lock().unwrap().values_mut() {
            if *n == name {
                *s = st.clone();
            }
        }
    }
    /// Names of submissions not yet finished.
    pub fn live(&self) -> Vec<String> {
        self.subs
            .lock()
            .unwrap()
            .values()
            .filter(|(_, s, _)| !s.is_terminal())
            .map(|(n, _, _)| n.clone())
            .collect()
    }
    pub fn specs(&self) -> Vec<LaunchSpec> {
        self.subs
            .lock()
            .unwrap()
            .values()
            .map(|(_, _, sp)| sp.clone())
            .collect()
    }
}

impl Executor for Fake {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn health(&self) -> Result<(), ExecError> {
        self.check()
    }
    fn submit(&self, spec: &LaunchSpec) -> Result<Handle, ExecError> {
        self.check()?;
        if let Some(hook) = self.on_submit.lock().unwrap().as_ref() {
            hook();
        }
        let h = format!("f{}", self.next.fetch_add(1, Ordering::SeqCst));
        self.subs
            .lock()
            .unwrap()
            .insert(h.clone(), (spec.name(), RemoteState::Pending, spec.clone()));
        Ok(Handle(h))
    }
    fn status(&self, handle: &Handle) -> Result<RemoteState, ExecError> {
        self.check()?;
        Ok(self
            .subs
            .lock()
            .unwrap()
            .get(&handle.0)
            .map_or(RemoteState::Lost, |(_, s, _)| s.clone()))
    }
    fn cancel(&self, handle: &Handle) -> Result<(), ExecError> {
        self.check()?;
        if self.fail_cancel.load(Ordering::SeqCst) {
            return Err(ExecError::Unreachable {
                backend: "fake",
                detail: "cancel refused".into(),
            });
        }
        if let Some((_, s, _)) = self.subs.lock().unwrap().get_mut(&handle.0) {
            if !s.is_terminal() {
                *s = RemoteState::Cancelled;
            }
        }
        Ok(())
    }
    fn find(&self, prefix: &str) -> Result<Vec<Found>, ExecError> {
        self.check()?;
        Ok(self
            .subs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, (n, _, _))| n.starts_with(prefix))
            .map(|(h, (n, s, _))| Found {
                handle: Handle(h.clone()),
                name: n.clone(),
                state: s.clone(),
            })
            .collect())
    }
}
