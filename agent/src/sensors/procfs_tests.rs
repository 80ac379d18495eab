//! procfs tests on generated trees: /proc/stat, odd command names, processes starting and
//! exiting, PID reuse, and owners read from each process's cgroup.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::sensors::cgroup::Owner;
use crate::testing::{cgroup_v2_systemd_containerd, CpuCounters, ProcfsFixture};

const SYSTEM: &str = "0::/system.slice/kubelet.service\n";

#[test]
fn proc_stat_totals_and_cpu_count() {
    let text = "cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\ncpu1 50 3 25 500 10 2 1 1 0 0\nintr 1 2\n";
    let cpu = parse_proc_stat(text).unwrap();
    assert_eq!(cpu.total_ticks, 100 + 5 + 50 + 1000 + 20 + 3 + 2 + 1);
    assert_eq!(cpu.active_ticks, cpu.total_ticks - 1000 - 20);
    assert_eq!(cpu.cpu_count, 2);
    assert_eq!(parse_proc_stat("intr 1\n"), None);
    assert_eq!(parse_proc_stat(""), None);
}

#[test]
fn comm_with_spaces_and_parentheses() {
    for comm in [
        "bash",
        "tmux: server",
        "weird) (name",
        "((x))",
        ") S 1 2 3",
        "a b c d e f",
    ] {
        let line = format!(
            "42 ({comm}) S 1 42 42 0 -1 4194560 100 0 0 0 17 23 0 0 20 0 1 0 999 1000000 100 18446744073709551615\n"
        );
        let fields = parse_pid_stat(&line).unwrap_or_else(|| panic!("{line}"));
        assert_eq!(fields.comm, comm);
        assert_eq!(fields.utime_ticks, 17, "{comm}");
        assert_eq!(fields.stime_ticks, 23, "{comm}");
        assert_eq!(fields.start_ticks, 999, "{comm}");
    }
    assert_eq!(parse_pid_stat("42 (truncated"), None);
    assert_eq!(parse_pid_stat("42 (x) S 1 2"), None);
}

#[test]
fn snapshot_reads_processes_and_owners() {
    let dir = tempfile::tempdir().unwrap();
    let f = ProcfsFixture::new(dir.path(), 4).unwrap();
    let uid = "11111111-2222-3333-4444-555555555555";
    let id = "a".repeat(64);
    f.node_cpu(CpuCounters {
        user: 400,
        system: 100,
        idle: 1500,
        iowait: 0,
    })
    .unwrap();
    f.process(1, "systemd", (10, 5), 1, SYSTEM).unwrap();
    f.process(
        200,
        "my app (v2)",
        (30, 10),
        500,
        &cgroup_v2_systemd_containerd("burstable", uid, &id),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("self")).unwrap(); // non-numeric entries are skipped
    let mut reader = ProcfsReader::new(dir.path());
    let snap = reader.snapshot().unwrap();
    assert_eq!(snap.node.cpu_count, 4);
    assert_eq!(snap.node.active_ticks, 500);
    assert_eq!(snap.memory_used_bytes, 4 * 1024 * 1024 * 1024);
    assert_eq!(snap.processes.len(), 2);
    let app = &snap.processes[1];
    assert_eq!(
        (app.pid, app.comm.as_str(), app.cpu_ticks),
        (200, "my app (v2)", 40)
    );
    match app.owner.as_ref() {
        Owner::Container(c) => {
            assert_eq!(c.pod_uid, uid);
            assert_eq!(c.container_id.as_deref(), Some(id.as_str()));
        }
        Owner::System => panic!("expected a container"),
    }
    assert_eq!(*snap.processes[0].owner, Owner::System);
}

#[test]
fn processes_starting_exiting_and_vanishing_mid_read_are_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = ProcfsFixture::new(dir.path(), 2).unwrap();
    f.process(10, "a", (1, 1), 1, SYSTEM).unwrap();
    f.process(11, "b", (1, 1), 1, SYSTEM).unwrap();
    let mut reader = ProcfsReader::new(dir.path());
    assert_eq!(reader.snapshot().unwrap().processes.len(), 2);
    f.remove_process(10).unwrap();
    f.process(12, "c", (3, 0), 9, SYSTEM).unwrap();
    // A process directory whose stat disappeared (exited between listing and reading).
    std::fs::create_dir_all(dir.path().join("13")).unwrap();
    // A stat that is garbage (truncated read).
    std::fs::create_dir_all(dir.path().join("14")).unwrap();
    std::fs::write(dir.path().join("14/stat"), "14 (trunc").unwrap();
    let snap = reader.snapshot().unwrap();
    let pids: Vec<u32> = snap.processes.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [11, 12]);
}

#[test]
fn reused_pid_gets_a_fresh_owner() {
    let dir = tempfile::tempdir().unwrap();
    let f = ProcfsFixture::new(dir.path(), 1).unwrap();
    let uid = "11111111-2222-3333-4444-555555555555";
    f.process(50, "old", (1, 0), 100, SYSTEM).unwrap();
    let mut reader = ProcfsReader::new(dir.path());
    assert_eq!(
        *reader.snapshot().unwrap().processes[0].owner,
        Owner::System
    );
    f.process(
        50,
        "new",
        (1, 0),
        200,
        &cgroup_v2_systemd_containerd("besteffort", uid, &"b".repeat(64)),
    )
    .unwrap();
    let snap = reader.snapshot().unwrap();
    assert!(matches!(snap.processes[0].owner.as_ref(), Owner::Container(c) if c.pod_uid == uid));
}

#[test]
fn missing_proc_stat_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut reader = ProcfsReader::new(dir.path());
    assert!(matches!(reader.snapshot(), Err(ProcfsError::Io { .. })));
    std::fs::write(dir.path().join("stat"), "nonsense\n").unwrap();
    assert!(matches!(reader.snapshot(), Err(ProcfsError::Parse { .. })));
}

#[test]
fn small_file_reader_reads_files_larger_than_its_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let text: String = (0..3000).map(|i| format!("{i}\n")).collect();
    std::fs::write(&path, &text).unwrap();
    let mut buf = String::from("stale");
    read_into(&path, &mut buf).unwrap();
    assert_eq!(buf, text);
    std::fs::write(&path, "short").unwrap();
    read_into(&path, &mut buf).unwrap();
    assert_eq!(buf, "short");
    assert!(read_into(&dir.path().join("missing"), &mut buf).is_err());
}

proptest::proptest! {
    #[test]
    fn arbitrary_stat_lines_never_panic(line in "\\PC{0,300}") {
        let _ = parse_pid_stat(&line);
        let _ = parse_proc_stat(&line);
    }

    #[test]
    fn any_comm_round_trips(comm in "\\PC{0,40}") {
        let line = format!("7 ({comm}) R 1 7 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 33 0 0\n");
        let fields = parse_pid_stat(&line).unwrap();
        proptest::prop_assert_eq!(fields.comm, comm);
        proptest::prop_assert_eq!((fields.utime_ticks, fields.stime_ticks, fields.start_ticks), (11, 22, 33));
    }
}

/// Found by `scripts/fuzz.sh procfs` (fuzz/corpus/procfs/regression-*): counters near 2^64
/// overflowed (a panic in debug builds, wrapped figures in release). A `/proc/stat` whose
/// counters do not fit is refused; a process's utime + stime and the memory in use saturate.
#[test]
fn counters_near_u64_max_neither_panic_nor_wrap() {
    let max = u64::MAX;
    assert_eq!(
        parse_proc_stat(&format!("cpu  {max} 1 1 1 1 0 0 0\ncpu0 1 1 1 1 1\n")),
        None
    );
    assert_eq!(
        parse_proc_stat(&format!("cpu  1 1 1 {max} 1 0 0 0\n")),
        None
    );
    let fits = parse_proc_stat(&format!("cpu  {} 0 0 1 0 0 0 0\n", max - 1)).unwrap();
    assert_eq!((fits.total_ticks, fits.active_ticks), (max, max - 1));

    let dir = tempfile::tempdir().unwrap();
    let fx = ProcfsFixture::new(dir.path(), 1).unwrap();
    fx.process(7, "big", (max, 5), 1, SYSTEM).unwrap();
    fx.meminfo(max, 0).unwrap();
    let snapshot = ProcfsReader::new(dir.path()).snapshot().unwrap();
    assert_eq!(snapshot.processes[0].cpu_ticks, max);
    assert_eq!(snapshot.memory_used_bytes, max);
}
