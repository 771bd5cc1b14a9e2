//! Who holds a lease or a claim: `pid N on HOST (run R)`, which a waiting run shows to its
//! user, and from which it can tell that a holder on this host is gone.

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "this host".into())
}

/// Who this process is, as a waiting run shows it to its user.
pub fn holder_id() -> String {
    format!(
        "pid {} on {} (run {:08x})",
        std::process::id(),
        host_name(),
        rand::random::<u32>()
    )
}

/// Whether `holder` (as `holder_id` wrote it) names a process of this host that no longer
/// runs: its lease is left over from a run that was killed, and waiting for its heartbeat to
/// expire would only make the next run wait for nobody. A pid taken since by another program
/// counts as gone too (its command name differs from ours). Holders on other hosts are never
/// judged: their leases expire by heartbeat.
pub(super) fn holder_is_gone_from_this_host(holder: &str) -> bool {
    let Some(rest) = holder.strip_prefix("pid ") else {
        return false;
    };
    let Some((pid, rest)) = rest.split_once(" on ") else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    let Some((host, _run)) = rest.rsplit_once(" (run ") else {
        return false;
    };
    let proc_root = std::path::Path::new("/proc");
    if host != host_name() || pid == std::process::id() || !proc_root.join("self").exists() {
        return false;
    }
    let command = |pid: &str| std::fs::read_to_string(proc_root.join(pid).join("comm")).ok();
    match command(&pid.to_string()) {
        None => true,
        Some(theirs) => Some(theirs) != command("self"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_holder_of_this_host_whose_process_is_gone_is_gone() {
        let me = holder_id();
        assert!(!holder_is_gone_from_this_host(&me), "this process runs");
        let host = host_name();
        assert!(holder_is_gone_from_this_host(&format!(
            "pid 4000000 on {host} (run 00000001)"
        )));
        assert!(!holder_is_gone_from_this_host(
            "pid 4000000 on another-host (run 00000001)"
        ));
        assert!(!holder_is_gone_from_this_host("a bootstrap elsewhere"));
    }
}
