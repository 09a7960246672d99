//! Readings from /proc and getrusage: the broker's CPU time and resident memory, the system's
//! available memory, and the generator's own CPU time (to show it costs less than the broker).

use std::fs;
use std::time::Duration;

/// User plus system CPU time of a whole process, exited threads included.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses; the fields after the last ')' are fixed.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // Fields 14 (utime) and 15 (stime) of proc(5); field 3 (state) is the first after the name.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks_per_second <= 0 {
        return None;
    }
    let ticks = utime + stime;
    Some(Duration::from_nanos(
        ticks * 1_000_000_000 / ticks_per_second as u64,
    ))
}

/// Resident set size in KiB (VmRSS of /proc/PID/status).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, "VmRSS:")
}

/// Peak resident set size in KiB (VmHWM of /proc/PID/status), since the process started.
pub fn peak_resident_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&status, "VmHWM:")
}

/// Number of threads of a process (Threads: of /proc/PID/status).
pub fn thread_count(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// MemAvailable of /proc/meminfo in KiB.
pub fn mem_available_kib() -> Option<u64> {
    meminfo_kib("MemAvailable:")
}

/// KernelStack of /proc/meminfo in KiB: grows by the kernel stack of every thread created.
pub fn kernel_stack_kib() -> Option<u64> {
    meminfo_kib("KernelStack:")
}

fn meminfo_kib(name: &str) -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&meminfo, name)
}

fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(name))?;
    line.split_whitespace().next()?.parse().ok()
}

/// CPU time (user + system) spent by this process so far.
pub fn own_cpu_time() -> Duration {
    // SAFETY: rusage is plain data; getrusage fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a live rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let to_duration = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    to_duration(usage.ru_utime) + to_duration(usage.ru_stime)
}
