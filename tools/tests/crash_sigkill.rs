//! Crash test: a real `dtnd` receiving a steady stream of bundles over TCPCLv4 is killed
//! with SIGKILL at random moments and restarted. The sender (this test, speaking TCPCLv4 with
//! the `transports` crate) retransmits whatever was not acknowledged when a session died, as a
//! convergence layer does. At the end every bundle the sender saw acknowledged must reach
//! the application exactly once, and no bundle may arrive twice. Every other bundle is
//! padded past 4 KiB, so both places the store keeps a bundle (RocksDB itself, and the value
//! log for larger ones) are crashed into.
//!
//! `CRASH_KILLS` sets the number of kills (default 3, the CI version);
//! `CRASH_KILLS=20 cargo test -p tools --test crash_sigkill -- --nocapture` is the long run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bundle_agent::wire::{BundleBuilder, CreationTimestamp, DtnTime, Eid};
use common::{free_port, Node};
use tokio::sync::mpsc;
use transports::tcpcl::connection::{connect, Command, Upcall};
use transports::tcpcl::SessionConfig;

/// Bundle `i`'s payload: its name, and for odd `i` padding to 8 KiB.
fn payload(i: u64) -> String {
    let name = format!("bundle {i:05}");
    if i % 2 == 1 {
        format!("{name:<8192}")
    } else {
        name
    }
}

fn bundle(i: u64) -> Vec<u8> {
    // One creation time for the whole run: the sequence number tells bundles apart.
    BundleBuilder::new(
        Eid::ipn(2, 1),
        Eid::ipn(1, 0),
        CreationTimestamp::new(DtnTime(850_000_000_000), i),
    )
    .lifetime_ms(86_400_000 * 365 * 30)
    .payload(payload(i).as_bytes())
    .build()
    .unwrap()
}

/// Streams new bundles until `killing_done`, then retransmits until every bundle made is
/// acknowledged; returns how many were made and the acknowledged set.
async fn sender(
    tcpcl: u16,
    killing_done: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> (u64, BTreeSet<u64>) {
    let addr = format!("127.0.0.1:{tcpcl}").parse().unwrap();
    let mut acked = BTreeSet::new();
    let mut made = 0u64;
    // Bundles whose transfer failed or was never acknowledged, to send again.
    let mut retry: Vec<u64> = Vec::new();
    loop {
        let finished = killing_done.load(Ordering::Relaxed);
        if finished && acked.len() as u64 == made {
            break;
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (up_tx, mut up) = mpsc::channel(64);
        let session = tokio::spawn(connect(
            addr,
            SessionConfig::new("ipn:1.0"),
            None,
            Duration::from_secs(2),
            cmd_rx,
            up_tx,
        ));
        // Tag -> bundle; transfer ID -> bundle.
        let mut queued: BTreeMap<u64, u64> = BTreeMap::new();
        let mut transfers: BTreeMap<u64, u64> = BTreeMap::new();
        let mut established = false;
        loop {
            let in_flight = queued.len() + transfers.len();
            if established && in_flight < 16 {
                let next = retry.pop().or_else(|| {
                    (!killing_done.load(Ordering::Relaxed)).then(|| {
                        made += 1;
                        made - 1
                    })
                });
                if let Some(i) = next {
                    if cmd_tx
                        .send(Command::Send {
                            tag: i,
                            bundle: bundle(i).into(),
                        })
                        .await
                        .is_err()
                    {
                        retry.push(i);
                        break;
                    }
                    queued.insert(i, i);
                    // A steady stream, not a burst.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                }
            }
            match tokio::time::timeout(Duration::from_secs(5), up.recv()).await {
                Ok(Some(Upcall::Established(_))) => established = true,
                Ok(Some(Upcall::Queued { tag, result })) => {
                    queued.remove(&tag);
                    match result {
                        Ok(t) => {
                            transfers.insert(t, tag);
                        }
                        Err(_) => retry.push(tag),
                    }
                }
                Ok(Some(Upcall::Acked(t))) => {
                    if let Some(i) = transfers.remove(&t) {
                        acked.insert(i);
                    }
                }
                Ok(Some(Upcall::Failed(t, _))) => {
                    if let Some(i) = transfers.remove(&t) {
                        retry.push(i);
                    }
                }
                Ok(Some(Upcall::Received { .. })) => {}
                Ok(Some(Upcall::Closed(_)) | None) | Err(_) => break,
            }
            if killing_done.load(Ordering::Relaxed) && acked.len() as u64 == made {
                break;
            }
        }
        drop(cmd_tx);
        session.abort();
        // Whatever was handed over but not acknowledged goes again.
        retry.extend(queued.into_values());
        retry.extend(transfers.into_values());
        retry.retain(|i| !acked.contains(i));
        retry.sort_unstable_by(|a, b| b.cmp(a));
        retry.dedup();
        if !(killing_done.load(Ordering::Relaxed) && acked.len() as u64 == made) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    done.store(true, Ordering::Relaxed);
    (made, acked)
}

/// A small deterministic generator, so a failing run can be repeated with `CRASH_SEED`.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn acknowledged_bundles_survive_repeated_sigkill_exactly_once() {
    let kills: u32 = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let dir = tempfile::tempdir().unwrap();
    let tcpcl = free_port();
    let mut b = Node::start(dir.path(), "ipn:2.0", tcpcl, &[], &[]);
    assert_eq!(b.post("/register?endpoint=ipn:2.1", b"").0, 204);

    let killing_done = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sending = rt.spawn(sender(tcpcl, killing_done.clone(), done.clone()));

    let mut rng = Rng(seed);
    let started = Instant::now();
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        b.kill9();
        b.spawn();
        eprintln!(
            "kill {} of {kills} at {:?} (store holds {})",
            k + 1,
            started.elapsed(),
            b.status()["stored_bundles"]
        );
    }
    killing_done.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done.load(Ordering::Relaxed) {
        assert!(Instant::now() < deadline, "sender did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (made, acked) = rt.block_on(sending).unwrap();
    assert_eq!(
        acked.len() as u64,
        made,
        "every bundle acknowledged in the end"
    );
    assert!(made > 50, "a stream, not a trickle: {made} bundles");

    // One more crash with everything at rest, then the application takes what arrived.
    b.kill9();
    b.spawn();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    loop {
        match b.get("/recv?endpoint=ipn:2.1") {
            Some((200, payload)) => {
                *seen.entry(String::from_utf8(payload).unwrap()).or_default() += 1;
            }
            Some((204, _)) => break,
            other => panic!("recv: {other:?}"),
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    for i in &acked {
        assert!(
            seen.contains_key(&payload(*i)),
            "acknowledged bundle {i} lost"
        );
    }
    assert_eq!(seen.len() as u64, made);
    eprintln!("{kills} kills, {} bundles, each delivered once", seen.len());
}
