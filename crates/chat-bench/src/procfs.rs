//! What Linux says about the server: its memory and the CPU time it has
//! used, summed over the process and its descendants (nginx serves from
//! worker processes under its master; chat-server is one process).
//!
//! Memory is the proportional set size (`Pss` of `/proc/PID/smaps_rollup`):
//! pages shared between the processes (Nchan's shared memory, the code) are
//! counted once in the sum, not once per process; for a single process its
//! growth is the growth of its resident memory. Where `smaps_rollup` cannot
//! be read, `VmRSS` of `/proc/PID/status` stands in. CPU time is
//! `utime + stime` of `/proc/PID/stat`.

use std::time::Duration;

use crate::error::BenchError;

/// Clock ticks per second of `/proc/PID/stat`'s CPU times (`USER_HZ`): 100 on
/// every Linux architecture the bench runs on, and asking `sysconf` would
/// need `unsafe`, which the workspace forbids.
const TICKS_PER_SECOND: u64 = 100;

/// The memory of process `pid` and its descendants, in KiB.
pub fn resident_kib(pid: u32) -> Result<u64, BenchError> {
    tree(pid)?
        .into_iter()
        .map(|member| or_gone(pid, member, process_kib(member)))
        .sum()
}

/// The CPU time process `pid` and its descendants have used so far, user
/// and system together.
pub fn cpu_time(pid: u32) -> Result<Duration, BenchError> {
    let ticks = tree(pid)?
        .into_iter()
        .map(|member| {
            let path = format!("/proc/{member}/stat");
            let ticks = read(&path).and_then(|text| {
                parse_cpu_ticks(&text).ok_or_else(|| malformed(&path, "no utime and stime"))
            });
            or_gone(pid, member, ticks)
        })
        .sum::<Result<u64, BenchError>>()?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
}

/// A descendant that ended since the tree was read counts for nothing; the
/// server process itself must be readable.
fn or_gone(pid: u32, member: u32, read: Result<u64, BenchError>) -> Result<u64, BenchError> {
    match read {
        Err(_) if member != pid => Ok(0),
        other => other,
    }
}

/// One process's memory: its `Pss`, or else its `VmRSS`.
fn process_kib(pid: u32) -> Result<u64, BenchError> {
    if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        if let Some(kib) = parse_kib_field(&text, "Pss:") {
            return Ok(kib);
        }
    }
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    parse_kib_field(&text, "VmRSS:").ok_or_else(|| malformed(&path, "no VmRSS line"))
}

/// `pid` and every process descended from it, found through the parent
/// field of each `/proc/N/stat` (a process that ends meanwhile is skipped).
fn tree(pid: u32) -> Result<Vec<u32>, BenchError> {
    read(&format!("/proc/{pid}/stat"))?;
    let entries = std::fs::read_dir("/proc").map_err(|error| BenchError::Proc {
        path: "/proc".to_owned(),
        reason: error.to_string(),
    })?;
    let parents: Vec<(u32, u32)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|member| {
            let stat = std::fs::read_to_string(format!("/proc/{member}/stat")).ok()?;
            Some((member, parse_parent(&stat)?))
        })
        .collect();
    let mut members = vec![pid];
    let mut at = 0;
    while at < members.len() {
        let parent = members[at];
        members.extend(
            parents
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(child, _)| *child),
        );
        at += 1;
    }
    Ok(members)
}

fn read(path: &str) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|error| BenchError::Proc {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

fn malformed(path: &str, reason: &str) -> BenchError {
    BenchError::Proc {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// `VmRSS:     12345 kB` → 12345 (for `field` `VmRSS:`).
fn parse_kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
}

/// The parent pid, field 4 of `stat` (counted after the name, like the rest).
fn parse_parent(stat: &str) -> Option<u32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime, fields 14 and 15 of `stat`. The command name (field 2) is
/// in parentheses and may itself hold spaces and parentheses, so the fields
/// are counted from the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name come field 3 (state) onwards: utime is the 12th of them.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tchat-server\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_kib_field(status, "VmRSS:"), Some(12345));
        assert_eq!(parse_kib_field("Name:\tkthreadd\n", "VmRSS:"), None);
        let rollup = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  9000 kB\nPss:   4321 kB\n";
        assert_eq!(parse_kib_field(rollup, "Pss:"), Some(4321));
    }

    #[test]
    fn the_parent_is_read_after_the_name() {
        assert_eq!(
            parse_parent("4243 (nginx: worker (x)) S 4242 4242 0"),
            Some(4242)
        );
        assert_eq!(parse_parent("4243 (truncated)"), None);
    }

    #[test]
    fn a_process_tree_includes_the_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let members = tree(std::process::id()).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(members[0], std::process::id());
        assert!(members.contains(&child.id()), "{members:?}");
    }

    #[test]
    fn cpu_ticks_are_counted_after_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (chat (server) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (truncated) S 1"), None);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(resident_kib(pid).unwrap() > 0);
        cpu_time(pid).unwrap();
    }
}
