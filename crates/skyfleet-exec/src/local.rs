//! `local`: jobs as child processes of this machine, with GPU slots handed out through
//! `CUDA_VISIBLE_DEVICES`. The embedded default, so the broker runs jobs with no server.
//!
//! Everything about a submission lives in files under `<state_dir>/<name>/`, so that a broker
//! that was `kill -9`ed and restarted answers `status`, `find` and `cancel` exactly as the old
//! one would have:
//!
//! | file        | written by | meaning                                                      |
//! |-------------|------------|--------------------------------------------------------------|
//! | `script`    | submit     | the composed script ([`crate::script::compose`])             |
//! | `gpus`      | submit     | GPUs it needs (nodes × GPUs per node)                        |
//! | `workdir`   | submit     | where it runs, if the spec named a folder                    |
//! | `queued`    | submit     | its place in the queue while it waits for slots              |
//! | `slots`     | launch     | the GPU slot indices it holds, e.g. `0,1,2,3`                |
//! | `pid`       | wrapper    | the wrapper's pid, which leads the job's own session         |
//! | `starttime` | launch     | the pid's start time in /proc, so a reused pid is not taken for it |
//! | `exit_code` | wrapper    | the job's exit status, written when it ends                  |
//! | `cancelled` | cancel     | cancel was asked                                             |
//! | `stdout`, `stderr` | the job | its output                                           |
//!
//! The job runs under `setsid -f sh -c WRAPPER`: detached from the broker, in its own session
//! and process group (so cancel signals the whole group), reparented to init when the broker
//! dies. The wrapper writes `pid`, runs the script, and writes `exit_code`. The job's
//! environment is what its script exports plus `PATH`, `HOME`, `USER`, `LOGNAME`, `LANG`,
//! `LC_ALL`, `TZ` and `TMPDIR` from the broker's, and `CUDA_VISIBLE_DEVICES`.
//!
//! Slots: a job that needs more GPUs than the executor has is rejected; one that does not fit
//! now waits (`Pending`), first come first served, and starts as soon as slots free up. Slots
//! are released and queued jobs started whenever the executor is called (the broker polls
//! `status` every few seconds), so no thread of its own is needed.
//!
//! Dry-run mode starts no process and writes no file: a submission is `Running` for its first
//! `dry_run_running_polls` calls of `status`, then `Succeeded`. It exists to benchmark the
//! broker's own throughput.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{cmd, script, ExecError, Executor, Found, Handle, LaunchSpec, RemoteState};

const BACKEND: &str = "local";

/// How long a launched wrapper may take to write its pid before the launch counts as failed.
const LAUNCH_GRACE: Duration = Duration::from_secs(5);
/// How long cancel waits after SIGTERM before it sends SIGKILL to the job's process group.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The broker's environment variables a local job inherits; the rest it does not see.
const INHERITED_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
];

/// The `local` executor's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Where per-submission state is kept. Created if missing.
    pub state_dir: PathBuf,
    /// GPU slots to hand out (`CUDA_VISIBLE_DEVICES` indices `0..gpus`).
    pub gpus: u32,
    /// Start no process: for benchmarks of the broker itself.
    #[serde(default)]
    pub dry_run: bool,
    /// In dry-run mode, how many `status` calls report `Running` before `Succeeded`.
    #[serde(default)]
    pub dry_run_running_polls: u32,
}

/// Runs jobs as processes on this machine. See the module docs.
pub struct LocalExecutor {
    config: LocalConfig,
    /// Running and queued submissions, rebuilt from the state directory at start.
    book: Mutex<Book>,
    /// Dry-run submissions: name → `status` calls so far, and whether it was cancelled. Ordered,
    /// so that `find` reads only the names under its prefix.
    dry: Mutex<BTreeMap<String, (u32, bool)>>,
}

#[derive(Debug, Default)]
struct Book {
    /// Launched and not yet seen to end: name → slots held.
    active: BTreeMap<String, Vec<u32>>,
    /// Waiting for slots, in arrival order: (sequence, name) → GPUs needed.
    queue: BTreeMap<(u128, String), u32>,
}

impl LocalExecutor {
    /// An executor over `config.state_dir`, adopting whatever an earlier process left there.
    pub fn new(config: LocalConfig) -> Result<Self, ExecError> {
        let exec = LocalExecutor {
            book: Mutex::new(Book::default()),
            dry: Mutex::new(BTreeMap::new()),
            config,
        };
        if !exec.config.dry_run {
            fs::create_dir_all(&exec.config.state_dir).map_err(|e| {
                other(format!(
                    "cannot create state directory {}: {e}",
                    exec.config.state_dir.display()
                ))
            })?;
            *exec.book.lock().unwrap() = exec.load()?;
        }
        Ok(exec)
    }

    /// The folder that holds one submission's files.
    pub fn submission_dir(&self, handle: &Handle) -> PathBuf {
        self.config.state_dir.join(&handle.0)
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.config.state_dir.join(name)
    }

    /// Rebuild the book from the state directory.
    fn load(&self) -> Result<Book, ExecError> {
        let mut book = Book::default();
        for name in self.names()? {
            let d = self.dir(&name);
            if d.join("exit_code").exists() {
                continue;
            }
            if let Some(slots) = read(&d.join("slots")) {
                book.active.insert(name, parse_slots(&slots));
            } else if let Some(seq) = read(&d.join("queued")).and_then(|s| s.trim().parse().ok()) {
                if !d.join("cancelled").exists() {
                    book.queue.insert((seq, name), self.gpus_of(&d));
                }
            }
        }
        Ok(book)
    }

    /// Names of every submission in the state directory.
    fn names(&self) -> Result<Vec<String>, ExecError> {
        let entries = fs::read_dir(&self.config.state_dir).map_err(|e| {
            other(format!(
                "cannot read state directory {}: {e}",
                self.config.state_dir.display()
            ))
        })?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("script").exists())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    fn gpus_of(&self, d: &Path) -> u32 {
        read(&d.join("gpus"))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Forget active submissions that have ended, then start queued ones that now fit, in order.
    fn pump(&self, book: &mut Book) {
        let ended: Vec<String> = book
            .active
            .keys()
            .filter(|name| self.observe(name).is_terminal())
            .cloned()
            .collect();
        for name in ended {
            book.active.remove(&name);
        }
        while let Some((key, need)) = book.queue.first_key_value() {
            let (key, need) = (key.clone(), *need);
            let used: BTreeSet<u32> = book.active.values().flatten().copied().collect();
            let free: Vec<u32> = (0..self.config.gpus)
                .filter(|s| !used.contains(s))
                .collect();
            if (free.len() as u32) < need {
                break;
            }
            book.queue.remove(&key);
            let slots = free[..need as usize].to_vec();
            // A launch that fails is recorded as the job's failure (exit_code), so it ends.
            if self.launch(&key.1, &slots).is_ok() {
                book.active.insert(key.1, slots);
            }
        }
    }

    /// Start a queued submission on `slots`.
    fn launch(&self, name: &str, slots: &[u32]) -> Result<(), ()> {
        let d = self.dir(name);
        let slot_list = slots
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        // `slots` first: from here on a restarted broker counts it as launched, never as
        // queued, so it can never be started twice.
        if write_atomic(&d.join("slots"), &slot_list).is_err() {
            return Err(());
        }
        let _ = fs::remove_file(d.join("queued"));
        let workdir = read(&d.join("workdir"))
            .map(PathBuf::from)
            .unwrap_or_else(|| d.clone());
        const WRAPPER: &str = r#"d=$1
echo $$ > "$d/pid.tmp" && mv "$d/pid.tmp" "$d/pid"
sh "$d/script" > "$d/stdout" 2> "$d/stderr" < /dev/null
echo $? > "$d/exit_code.tmp" && mv "$d/exit_code.tmp" "$d/exit_code""#;
        // setsid's own complaints go to the job's stderr file (the wrapper truncates it). A pipe
        // here would be inherited by the job and held open until it ends.
        let Ok(launch_err) = fs::File::create(d.join("stderr")) else {
            let _ = write_atomic(&d.join("exit_code"), "127");
            return Err(());
        };
        let mut command = Command::new("setsid");
        // The job sees the environment its script exports and a few basics, not the broker's
        // (no database URL or token leaks into jobs), as with Slurm's --export=NONE.
        command.env_clear();
        for key in INHERITED_ENV {
            if let Some(v) = std::env::var_os(key) {
                command.env(key, v);
            }
        }
        let status = command
            .arg("-f")
            .arg("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("skyfleet-local")
            .arg(&d)
            .current_dir(&workdir)
            .env("CUDA_VISIBLE_DEVICES", &slot_list)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(launch_err)
            .status();
        let failure = match status {
            Ok(status) if status.success() => None,
            Ok(status) => Some(format!("setsid -f failed ({status})")),
            Err(e) => Some(format!(
                "cannot start the job in {}: {e}",
                workdir.display()
            )),
        };
        if let Some(why) = failure {
            let _ = fs::OpenOptions::new()
                .append(true)
                .open(d.join("stderr"))
                .and_then(|mut f| std::io::Write::write_all(&mut f, why.as_bytes()));
            let _ = write_atomic(&d.join("exit_code"), "127");
            return Err(());
        }
        // The wrapper writes its pid first thing; wait for it, then pin its start time.
        let t0 = Instant::now();
        while t0.elapsed() < LAUNCH_GRACE {
            if let Some(pid) = read(&d.join("pid")).and_then(|p| p.trim().parse::<u32>().ok()) {
                if let Some((_, start)) = proc_stat(pid) {
                    let _ = write_atomic(&d.join("starttime"), &start.to_string());
                }
                return Ok(());
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(()) // `observe` reports it failed if the pid never appears
    }

    /// What the files say about a submission now.
    fn observe(&self, name: &str) -> RemoteState {
        let d = self.dir(name);
        if !d.join("script").exists() {
            return RemoteState::Lost;
        }
        let cancelled = d.join("cancelled").exists();
        if let Some(state) = ended(&d, cancelled) {
            return state;
        }
        if !d.join("slots").exists() {
            return if cancelled {
                RemoteState::Cancelled
            } else {
                RemoteState::Pending
            };
        }
        match read(&d.join("pid")).and_then(|p| p.trim().parse::<u32>().ok()) {
            Some(pid) if alive(pid, read(&d.join("starttime"))) => RemoteState::Running,
            Some(_) => ended(&d, cancelled).unwrap_or(if cancelled {
                RemoteState::Cancelled
            } else {
                RemoteState::Failed {
                    reason: "the job's process ended without recording an exit code (killed?)"
                        .into(),
                }
            }),
            None if age(&d.join("slots")) < LAUNCH_GRACE => RemoteState::Running,
            None => RemoteState::Failed {
                reason: "the job's process never started".into(),
            },
        }
    }

    fn submit_dry(&self, name: String) -> Handle {
        self.dry.lock().unwrap().entry(name.clone()).or_default();
        Handle(name)
    }

    fn status_dry(&self, handle: &Handle) -> RemoteState {
        let mut dry = self.dry.lock().unwrap();
        // A handle this process never saw was accepted by an earlier one: dry-run jobs cost
        // nothing, so it is done.
        let Some((polls, cancelled)) = dry.get_mut(&handle.0) else {
            return RemoteState::Succeeded;
        };
        if *cancelled {
            return RemoteState::Cancelled;
        }
        *polls += 1;
        if *polls <= self.config.dry_run_running_polls {
            RemoteState::Running
        } else {
            RemoteState::Succeeded
        }
    }
}

impl Executor for LocalExecutor {
    fn kind(&self) -> &'static str {
        BACKEND
    }

    fn health(&self) -> Result<(), ExecError> {
        if self.config.dry_run {
            return Ok(());
        }
        let probe = self.config.state_dir.join(".health-probe");
        fs::write(&probe, b"ok")
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| ExecError::Unreachable {
                backend: BACKEND,
                detail: format!(
                    "state directory {} is not writable: {e}",
                    self.config.state_dir.display()
                ),
            })?;
        let mut book = self.book.lock().unwrap();
        self.pump(&mut book);
        Ok(())
    }

    fn submit(&self, spec: &LaunchSpec) -> Result<Handle, ExecError> {
        let name = spec.name();
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\0']) {
            return Err(rejected(format!(
                "`{name}` cannot be a file name (job ids must not contain `/`)"
            )));
        }
        let need = spec.nodes.saturating_mul(spec.gpus_per_node);
        if need > self.config.gpus {
            return Err(rejected(format!(
                "{name} needs {need} GPUs ({} nodes x {}), this machine has {}",
                spec.nodes, spec.gpus_per_node, self.config.gpus
            )));
        }
        let script = script::compose(spec).map_err(rejected)?;
        if let Some(w) = &spec.workdir {
            if !w.is_dir() {
                return Err(rejected(format!(
                    "working directory {} does not exist",
                    w.display()
                )));
            }
        }
        if self.config.dry_run {
            return Ok(self.submit_dry(name));
        }
        let mut book = self.book.lock().unwrap();
        let d = self.dir(&name);
        if !d.join("script").exists() {
            // Written aside and renamed into place: a crash never leaves half a submission.
            let tmp = self.dir(&format!(".{name}.tmp"));
            let _ = fs::remove_dir_all(&tmp);
            let seq = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let written = fs::create_dir_all(&tmp)
                .and_then(|_| fs::write(tmp.join("gpus"), need.to_string()))
                .and_then(|_| fs::write(tmp.join("queued"), seq.to_string()))
                .and_then(|_| match &spec.workdir {
                    Some(w) => fs::write(tmp.join("workdir"), w.to_string_lossy().as_bytes()),
                    None => Ok(()),
                })
                .and_then(|_| fs::write(tmp.join("script"), &script))
                .and_then(|_| fs::rename(&tmp, &d));
            written.map_err(|e| other(format!("cannot record {name} in {}: {e}", d.display())))?;
            book.queue.insert((seq, name.clone()), need);
        }
        self.pump(&mut book);
        Ok(Handle(name))
    }

    fn status(&self, handle: &Handle) -> Result<RemoteState, ExecError> {
        if self.config.dry_run {
            return Ok(self.status_dry(handle));
        }
        let mut book = self.book.lock().unwrap();
        self.pump(&mut book);
        Ok(self.observe(&handle.0))
    }

    fn cancel(&self, handle: &Handle) -> Result<(), ExecError> {
        if self.config.dry_run {
            if let Some(entry) = self.dry.lock().unwrap().get_mut(&handle.0) {
                entry.1 = true;
            }
            return Ok(());
        }
        let d = self.dir(&handle.0);
        let pid = {
            let mut book = self.book.lock().unwrap();
            if !d.join("script").exists() || self.observe(&handle.0).is_terminal() {
                return Ok(());
            }
            fs::write(d.join("cancelled"), b"")
                .map_err(|e| other(format!("cannot mark {} cancelled: {e}", handle.0)))?;
            book.queue.retain(|(_, name), _| name != &handle.0);
            let _ = fs::remove_file(d.join("queued"));
            read(&d.join("pid")).and_then(|p| p.trim().parse::<u32>().ok())
        };
        if let Some(pid) = pid {
            // The wrapper leads its own session and process group: signal all of it.
            cmd::signal_group(pid, "TERM");
            let t0 = Instant::now();
            while alive(pid, read(&d.join("starttime"))) && t0.elapsed() < CANCEL_GRACE {
                thread::sleep(Duration::from_millis(20));
            }
            if alive(pid, read(&d.join("starttime"))) {
                cmd::kill_group(pid);
            }
        }
        let mut book = self.book.lock().unwrap();
        self.pump(&mut book);
        Ok(())
    }

    fn find(&self, prefix: &str) -> Result<Vec<Found>, ExecError> {
        if self.config.dry_run {
            let dry = self.dry.lock().unwrap();
            return Ok(dry
                .range::<str, _>((
                    std::ops::Bound::Included(prefix),
                    std::ops::Bound::Unbounded,
                ))
                .take_while(|(n, _)| n.starts_with(prefix))
                .map(|(name, &(polls, cancelled))| Found {
                    handle: Handle(name.clone()),
                    name: name.clone(),
                    state: if cancelled {
                        RemoteState::Cancelled
                    } else if polls < self.config.dry_run_running_polls {
                        RemoteState::Running
                    } else {
                        RemoteState::Succeeded
                    },
                })
                .collect());
        }
        let mut book = self.book.lock().unwrap();
        self.pump(&mut book);
        Ok(self
            .names()?
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .map(|name| Found {
                handle: Handle(name.clone()),
                state: self.observe(&name),
                name,
            })
            .collect())
    }

    fn logs(&self, handle: &Handle, max_bytes: usize) -> Result<Option<String>, ExecError> {
        if self.config.dry_run {
            return Ok(None);
        }
        let d = self.dir(&handle.0);
        if !d.join("script").exists() {
            return Ok(None);
        }
        let mut text = tail(&d.join("stdout"), max_bytes);
        let err = tail(&d.join("stderr"), max_bytes);
        if !err.is_empty() {
            text.push_str(&err);
        }
        let cut = text.len().saturating_sub(max_bytes);
        let cut = (cut..=text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        Ok(Some(text[cut..].to_string()))
    }
}

/// The final state if `exit_code` has been written.
fn ended(d: &Path, cancelled: bool) -> Option<RemoteState> {
    let code: i32 = read(&d.join("exit_code"))?.trim().parse().ok()?;
    Some(match (cancelled, code) {
        (true, _) => RemoteState::Cancelled,
        (false, 0) => RemoteState::Succeeded,
        (false, code) => RemoteState::Failed {
            reason: format!("exit code {code}"),
        },
    })
}

/// Is `pid` alive, not a zombie, and (when known) the same process that started at `start`?
fn alive(pid: u32, start: Option<String>) -> bool {
    match proc_stat(pid) {
        Some((state, now)) => {
            state != 'Z'
                && state != 'X'
                && start.is_none_or(|s| s.trim().parse::<u64>().ok() == Some(now))
        }
        None => false,
    }
}

/// (state, start time in clock ticks) of a process, from /proc/<pid>/stat.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields after it follow the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

fn parse_slots(s: &str) -> Vec<u32> {
    s.trim()
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect()
}

fn read(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

fn age(path: &Path) -> Duration {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or(Duration::MAX)
}

/// The last `max` bytes of a file, lossily decoded.
fn tail(path: &Path, max: usize) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max as u64)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

backend_errors!(rejected => Rejected, other => Other);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_reads_our_own_process() {
        let (state, start) = proc_stat(std::process::id()).unwrap();
        assert!(state != 'Z', "{state}");
        assert!(start > 0);
        assert!(alive(std::process::id(), Some(start.to_string())));
        assert!(!alive(std::process::id(), Some((start + 1).to_string())));
    }

    #[test]
    fn slots_parse() {
        assert_eq!(parse_slots("0,1, 3\n"), vec![0, 1, 3]);
        assert_eq!(parse_slots(""), Vec::<u32>::new());
    }

    #[test]
    fn dry_run_is_deterministic() {
        let exec = LocalExecutor::new(LocalConfig {
            state_dir: "/nonexistent/never-created".into(),
            gpus: 8,
            dry_run: true,
            dry_run_running_polls: 2,
        })
        .unwrap();
        let spec = LaunchSpec {
            job_id: "d".into(),
            attempt: 0,
            setup: None,
            run: "exit 1".into(),
            env: BTreeMap::new(),
            nodes: 1,
            gpus_per_node: 8,
            accelerator: "h100".into(),
            workdir: None,
        };
        let h = exec.submit(&spec).unwrap();
        assert_eq!(exec.status(&h).unwrap(), RemoteState::Running);
        assert_eq!(exec.status(&h).unwrap(), RemoteState::Running);
        assert_eq!(exec.status(&h).unwrap(), RemoteState::Succeeded);
        assert_eq!(
            exec.status(&Handle("skyfleet-other-0".into())).unwrap(),
            RemoteState::Succeeded
        );
        assert!(exec.health().is_ok());
        assert_eq!(exec.find("skyfleet-d-").unwrap().len(), 1);
        let too_big = LaunchSpec { nodes: 2, ..spec };
        assert!(matches!(
            exec.submit(&too_big),
            Err(ExecError::Rejected { .. })
        ));
    }
}
