//! Who runs a run or holds a lease, and whether that process is still alive.

use std::path::Path;

use serde::Serialize;

/// The process that started a run or holds a lease.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Owner {
    /// Process id on `host`.
    pub pid: u32,
    /// Host name.
    pub host: String,
}

impl Owner {
    /// An owner with the given pid and host.
    pub fn new(pid: u32, host: impl Into<String>) -> Owner {
        Owner {
            pid,
            host: host.into(),
        }
    }

    /// This process on this host (see [`local_hostname`]).
    pub fn current() -> Owner {
        Owner::new(std::process::id(), local_hostname())
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)
    }
}

/// This machine's host name: `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `localhost`.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Tells whether an owner's process is known to be gone.
///
/// Implementations answer `true` only when certain; "cannot tell" (another host, no
/// `/proc`) is `false`, and the lease's expiry is then what ends the run. Any
/// `Fn(&Owner) -> bool + Send + Sync` closure is a `Liveness` (returning "is dead"),
/// which is how tests inject deaths.
pub trait Liveness: Send + Sync {
    /// `true` only when `owner`'s process certainly no longer exists.
    fn is_dead(&self, owner: &Owner) -> bool;
}

impl<F: Fn(&Owner) -> bool + Send + Sync> Liveness for F {
    fn is_dead(&self, owner: &Owner) -> bool {
        self(owner)
    }
}

/// Liveness from `/proc/<pid>` for owners on this host (Linux); never "dead" elsewhere.
///
/// A recycled pid looks alive: the run's lease expiry is the backstop for that case.
#[derive(Clone, Debug)]
pub struct ProcLiveness {
    host: String,
}

impl ProcLiveness {
    /// Checks owners whose host is [`local_hostname`].
    pub fn new() -> ProcLiveness {
        ProcLiveness::for_host(local_hostname())
    }

    /// Checks owners whose host is `host`.
    pub fn for_host(host: impl Into<String>) -> ProcLiveness {
        ProcLiveness { host: host.into() }
    }
}

impl Default for ProcLiveness {
    fn default() -> Self {
        ProcLiveness::new()
    }
}

impl Liveness for ProcLiveness {
    fn is_dead(&self, owner: &Owner) -> bool {
        owner.host == self.host
            && Path::new("/proc/self").exists()
            && (!Path::new(&format!("/proc/{}", owner.pid)).exists()
                || is_zombie(&format!("/proc/{}/stat", owner.pid)))
    }
}

/// Whether the process of a `/proc/<pid>/stat` file has exited and only waits to be reaped
/// (state `Z` or `X`): killed under `timeout -s KILL` or a supervisor that has not waited
/// for it yet, it keeps its `/proc` entry, and counted as alive it held its dates.
fn is_zombie(stat: &str) -> bool {
    // `pid (comm) state ...`; comm may hold spaces and parentheses: the state follows the
    // last `)`.
    std::fs::read_to_string(stat).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|state| matches!(state, 'Z' | 'X'))
    })
}
