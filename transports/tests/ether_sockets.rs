//! Our Ethernet layer on a real kernel path: a veth pair made by the test (as root; removed
//! after), a frame socket on each end (AF_XDP in generic copy mode, and the AF_PACKET
//! fallback), and the reliable transfer of `ether::link` over them. Bundles from 100 bytes
//! to 2 MiB cross whole, also when the sender drops every tenth frame it would send. Where
//! the kernel refuses the veth pair or the socket (no root, no iproute2, no bpf syscall), the
//! test says so and skips.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;
use std::time::{Duration, Instant};

use transports::ether::link::{Action, EtherConfig, EtherLink, Event};
use transports::ether::socket::{FrameSocket, Want};
use transports::ether::xdp::XdpMode;

/// A veth pair, deleted when dropped.
struct Veth(String);

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Makes a veth pair `<tag>a` - `<tag>b`, both up.
fn veth(tag: &str) -> Result<(Veth, String, String), String> {
    let (a, b) = (format!("{tag}a"), format!("{tag}b"));
    let _ = ip(&["link", "del", &a]);
    ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
    let guard = Veth(a.clone());
    ip(&["link", "set", &a, "up"])?;
    ip(&["link", "set", &b, "up"])?;
    Ok((guard, a, b))
}

/// Sends `bundles` from end 0 to end 1; the sender drops every `drop_every`th frame it
/// would send (0: none). Returns what arrived and how many frames were sent again.
async fn transfer(
    socks: &[FrameSocket; 2],
    bundles: &[Vec<u8>],
    drop_every: usize,
) -> (Vec<Vec<u8>>, u64) {
    let mut links = [
        EtherLink::new(EtherConfig::new(socks[0].interface.mac)),
        EtherLink::new(EtherConfig::new(socks[1].interface.mac)),
    ];
    let to = socks[1].interface.mac;
    let start = Instant::now();
    let now = || start.elapsed().as_millis() as u64;
    for (tag, bundle) in bundles.iter().enumerate() {
        links[0].handle(
            now(),
            Event::Send {
                tag: tag as u64,
                to,
                bundle: bundle.clone(),
            },
        );
    }
    let (mut delivered, mut sent, mut frames) = (Vec::new(), 0, 0usize);
    let mut bufs = [Vec::new(), Vec::new()];
    while sent < bundles.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "transfer stalled"
        );
        for e in 0..2 {
            while let Some(action) = links[e].poll_action() {
                match action {
                    Action::Transmit(frame) => {
                        frames += 1;
                        if e == 0 && drop_every > 0 && frames % drop_every == 0 {
                            continue;
                        }
                        socks[e].send_batch(&[frame]).await.unwrap();
                    }
                    Action::Deliver {
                        from,
                        transfer,
                        bundle,
                    } => {
                        delivered.push(bundle);
                        links[e].handle(now(), Event::Stored { from, transfer });
                    }
                    Action::Sent { ok, .. } => {
                        assert!(ok, "a bundle was given up");
                        sent += 1;
                    }
                }
            }
        }
        let [ba, bb] = &mut bufs;
        let wait = tokio::time::sleep(Duration::from_millis(5));
        tokio::select! {
            r = socks[0].recv_batch(ba, 64) => {
                r.unwrap();
                for f in ba.drain(..) { links[0].handle(now(), Event::Frame(f)); }
            }
            r = socks[1].recv_batch(bb, 64) => {
                r.unwrap();
                for f in bb.drain(..) { links[1].handle(now(), Event::Frame(f)); }
            }
            _ = wait => {
                for l in &mut links {
                    l.handle(now(), Event::Tick);
                }
            }
        }
    }
    (delivered, links[0].counters.resent)
}

fn bundles() -> Vec<Vec<u8>> {
    [100usize, 1500, 100_000, 2 << 20]
        .iter()
        .enumerate()
        .map(|(i, len)| (0..*len).map(|j| (j * 7 + i) as u8).collect())
        .collect()
}

/// Opens both ends as `want` says, or says why the kernel refused and returns `None`.
fn open(a: &str, b: &str, want: Want) -> Option<[FrameSocket; 2]> {
    match (FrameSocket::open(a, want), FrameSocket::open(b, want)) {
        (Ok(x), Ok(y)) => Some([x, y]),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("SKIPPED: the kernel refused a {want:?} socket on {a}/{b} ({e})");
            None
        }
    }
}

/// Both ways of the check: whole bundles on a quiet link, and whole bundles with frames
/// dropped (sent again).
async fn check(socks: &[FrameSocket; 2]) {
    let bundles = bundles();
    let (mut got, resent) = transfer(socks, &bundles, 0).await;
    got.sort();
    let mut want = bundles.clone();
    want.sort();
    assert_eq!(got, want);
    // Nothing is lost on a quiet veth; a probe may go when the receiving loop lags.
    assert!(resent < 20, "{resent} frames sent again on a quiet veth");
    let (mut got, resent) = transfer(socks, &bundles, 10).await;
    got.sort();
    assert_eq!(got, want);
    assert!(resent > 0, "the dropped frames were sent again");
    println!(
        "{}: with every 10th frame dropped, {resent} frames sent again",
        socks[0].path
    );
}

#[tokio::test(flavor = "current_thread")]
async fn bundles_cross_a_veth_pair_over_af_packet_also_when_frames_are_lost() {
    let tag = format!("dq{}", std::process::id() % 100_000);
    let (_veth, a, b) = match veth(&tag) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("SKIPPED: the kernel refused a veth pair ({e}); this test needs root");
            return;
        }
    };
    let Some(socks) = open(&a, &b, Want::Packet) else {
        return;
    };
    assert_eq!(socks[0].path, "AF_PACKET");
    check(&socks).await;
}

#[tokio::test(flavor = "current_thread")]
async fn bundles_cross_a_veth_pair_over_af_xdp_in_generic_copy_mode_also_when_frames_are_lost() {
    let tag = format!("dx{}", std::process::id() % 100_000);
    let (_veth, a, b) = match veth(&tag) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("SKIPPED: the kernel refused a veth pair ({e}); this test needs root");
            return;
        }
    };
    let Some(socks) = open(&a, &b, Want::Xdp(XdpMode::Generic)) else {
        return;
    };
    assert!(socks[0].is_xdp());
    assert!(
        socks[0].path.contains("copy mode, generic XDP"),
        "{}",
        socks[0].path
    );
    check(&socks).await;
}
