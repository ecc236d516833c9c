//! An emulator killed before it could clean up leaves namespaces, veths and running daemons
//! behind; the next one removes those of processes no longer running (stopping the daemons),
//! and leaves a live one's alone. Needs root; says so and skips without it.

// Test code: a panic is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use netsim::emulate::hosts::{remove_stale, Hosts};

/// A PID no process has now.
fn dead_pid() -> u32 {
    (2..4_000_000u32)
        .rev()
        .step_by(7919)
        .find(|p| !Path::new(&format!("/proc/{p}")).exists())
        .unwrap()
}

fn namespace_exists(name: &str) -> bool {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

#[test]
fn a_dead_emulators_namespaces_and_veths_are_removed_a_live_ones_kept() {
    let dead = format!("dtx{}", dead_pid());
    let live = format!("dtx{}", std::process::id());
    // Two "emulators": one dead, one (this process) alive, with a node each.
    let (stale, mine) = match (
        Hosts::namespaces(1, &dead, 209),
        Hosts::namespaces(1, &live, 208),
    ) {
        (Ok(s), Ok(m)) => (s, m),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("SKIPPED: namespaces and veths need root ({e})");
            return;
        }
    };
    // The dead one never cleaned up, and one of its daemons still runs.
    std::mem::forget(stale);
    let mut orphan = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("{dead}s0"), "sleep", "60"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(namespace_exists(&format!("{dead}s0")));
    assert!(Path::new(&format!("/sys/class/net/{dead}m0")).exists());
    assert!(remove_stale() >= 1);
    assert!(
        !namespace_exists(&format!("{dead}s0")),
        "the dead one's namespace is gone"
    );
    assert!(!Path::new(&format!("/sys/class/net/{dead}m0")).exists());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while orphan.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphaned daemon was stopped"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        namespace_exists(&format!("{live}s0")),
        "a live emulator's stays"
    );
    drop(mine);
    assert!(!namespace_exists(&format!("{live}s0")));
}
