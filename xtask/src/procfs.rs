//! What `/proc` says about processes: their group, parent and state (to know when a service's
//! whole process group is gone) and their resident memory (the soak's memory figures).

use std::path::Path;

/// The fields of `/proc/PID/stat` xtask reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
}

impl ProcStat {
    /// Parses a `/proc/PID/stat` line: `pid (comm) state ppid pgrp …`, where `comm` may itself
    /// hold spaces and parentheses (hence the split at the last `)`).
    pub fn parse(stat: &str) -> Option<Self> {
        let (head, rest) = stat.rsplit_once(')')?;
        let mut fields = rest.split_whitespace();
        Some(Self {
            pid: head.split_whitespace().next()?.parse().ok()?,
            state: fields.next()?.chars().next()?,
            ppid: fields.next()?.parse().ok()?,
            pgrp: fields.next()?.parse().ok()?,
        })
    }

    /// A zombie (or dead) process: exited, waiting to be reaped; it runs nothing.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Every process `/proc` lists now; `None` if `/proc` cannot be read.
pub fn processes() -> Option<Vec<ProcStat>> {
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .filter_map(|stat| ProcStat::parse(&stat))
            .collect(),
    )
}

/// A process's short name (`/proc/PID/comm`), e.g. `workerd` or `node`.
pub fn command_name(pid: i32) -> Option<String> {
    std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("comm"))
        .ok()
        .map(|name| name.trim().to_owned())
}

/// A process's command line, its arguments joined by spaces.
pub fn command_line(pid: i32) -> Option<String> {
    std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline"))
        .ok()
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
}

/// A process's resident memory, from `/proc/PID/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: everything resident, mapped files and shared memory included.
    pub rss: u64,
    /// `RssAnon`: private, anonymous memory (heaps, stacks): where a leak shows.
    pub anon: u64,
    /// `RssShmem`: shared memory this process has touched (Postgres's shared buffers, counted
    /// again in every backend that touched a page).
    pub shmem: u64,
}

impl Memory {
    /// A service's memory over its processes: resident and private memory add up; shared
    /// memory is counted once, as the most any one process has touched (a lower bound).
    pub fn of_processes(pids: impl IntoIterator<Item = i32>) -> Self {
        pids.into_iter()
            .filter_map(memory)
            .fold(Self::default(), |total, one| Self {
                rss: total.rss + one.rss,
                anon: total.anon + one.anon,
                shmem: total.shmem.max(one.shmem),
            })
    }
}

/// A process's resident memory; `None` once it is gone (and for kernel threads, which have
/// none).
pub fn memory(pid: i32) -> Option<Memory> {
    let status =
        std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    parse_memory(&status)
}

fn parse_memory(status: &str) -> Option<Memory> {
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
    };
    Some(Memory {
        rss: kib("VmRSS")?,
        anon: kib("RssAnon")?,
        shmem: kib("RssShmem")?,
    })
}

/// `root` and every process descended from it, as pids (Postgres: the postmaster and its
/// backends, which share no process group with xtask's services).
pub fn tree(all: &[ProcStat], root: i32) -> Vec<i32> {
    let mut found = vec![root];
    let mut next = 0;
    while next < found.len() {
        let parent = found[next];
        found.extend(
            all.iter()
                .filter(|p| p.ppid == parent && !p.is_zombie())
                .map(|p| p.pid),
        );
        next += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_pid_state_parent_and_group_from_stat() {
        let stat = "4242 (my (odd) name) S 1 4240 4240 0 -1 4194560 0 0";
        assert_eq!(
            ProcStat::parse(stat),
            Some(ProcStat {
                pid: 4242,
                state: 'S',
                ppid: 1,
                pgrp: 4240
            })
        );
        assert!(ProcStat::parse("17 (sleep) Z 1 15 15").is_some_and(|p| p.is_zombie()));
        assert_eq!(ProcStat::parse("garbage"), None);
    }

    #[test]
    fn reads_resident_private_and_shared_memory() {
        let status = "Name:\tpostgres\nVmPeak:\t  2000 kB\nVmRSS:\t   1234 kB\n\
                      RssAnon:\t    200 kB\nRssFile:\t    900 kB\nRssShmem:\t    134 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss: 1234,
                anon: 200,
                shmem: 134
            })
        );
        assert_eq!(parse_memory("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn a_tree_is_the_root_and_all_its_descendants() {
        let p = |pid, ppid| ProcStat {
            pid,
            state: 'S',
            ppid,
            pgrp: 1,
        };
        let all = [p(10, 1), p(11, 10), p(12, 11), p(13, 1), p(14, 10)];
        let mut found = tree(&all, 10);
        found.sort_unstable();
        assert_eq!(found, [10, 11, 12, 14]);
    }

    #[test]
    fn sees_this_process() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(processes().unwrap().iter().any(|p| p.pid == me));
        let mine = memory(me).unwrap();
        assert!(mine.anon > 0 && mine.rss >= mine.anon, "{mine:?}");
    }
}
