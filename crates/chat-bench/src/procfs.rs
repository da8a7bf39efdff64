//! What Linux says about the server process: its resident memory
//! (`/proc/PID/status`) and the CPU time it has used (`/proc/PID/stat`).

use std::time::Duration;

use crate::error::BenchError;

/// Clock ticks per second of `/proc/PID/stat`'s CPU times (`USER_HZ`): 100 on
/// every Linux architecture the bench runs on, and asking `sysconf` would
/// need `unsafe`, which the workspace forbids.
const TICKS_PER_SECOND: u64 = 100;

/// The resident memory of process `pid` (`VmRSS`), in KiB.
pub fn resident_kib(pid: u32) -> Result<u64, BenchError> {
    let path = format!("/proc/{pid}/status");
    let text = read(&path)?;
    parse_vm_rss(&text).ok_or_else(|| malformed(&path, "no VmRSS line"))
}

/// The CPU time process `pid` has used so far, user and system together.
pub fn cpu_time(pid: u32) -> Result<Duration, BenchError> {
    let path = format!("/proc/{pid}/stat");
    let text = read(&path)?;
    let ticks = parse_cpu_ticks(&text).ok_or_else(|| malformed(&path, "no utime and stime"))?;
    Ok(Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND))
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

/// `VmRSS:     12345 kB` → 12345.
fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
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
        assert_eq!(parse_vm_rss(status), Some(12345));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
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
