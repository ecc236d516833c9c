//! Our Ethernet layer on a real kernel path: a veth pair made by the test (as root; removed
//! after), an AF_PACKET socket on each end, and the reliable transfer of `ether::link` over
//! them. Bundles from 100 bytes to 2 MiB cross whole, also when the sender drops every
//! tenth frame it would send. Where the kernel refuses the veth pair or the socket (no root,
//! no iproute2), the test says so and skips.

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
use transports::ether::packet::PacketSocket;

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
async fn transfer(a: &str, b: &str, bundles: &[Vec<u8>], drop_every: usize) -> (Vec<Vec<u8>>, u64) {
    let socks = [
        PacketSocket::open(a).unwrap(),
        PacketSocket::open(b).unwrap(),
    ];
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
    let mut bufs = [vec![0u8; 65_536], vec![0u8; 65_536]];
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
                        socks[e].send(&frame).await.unwrap();
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
            n = socks[0].recv(ba) => { let n = n.unwrap(); links[0].handle(now(), Event::Frame(ba[..n].to_vec())); }
            n = socks[1].recv(bb) => { let n = n.unwrap(); links[1].handle(now(), Event::Frame(bb[..n].to_vec())); }
            _ = wait => {
                for l in &mut links {
                    l.handle(now(), Event::Tick);
                }
            }
        }
    }
    (delivered, links[0].counters.resent)
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
    if let Err(e) = PacketSocket::open(&a) {
        eprintln!(
            "SKIPPED: the kernel refused an AF_PACKET socket on {a} ({e}); needs CAP_NET_RAW"
        );
        return;
    }
    let bundles: Vec<Vec<u8>> = [100usize, 1500, 100_000, 2 << 20]
        .iter()
        .enumerate()
        .map(|(i, len)| (0..*len).map(|j| (j * 7 + i) as u8).collect())
        .collect();
    let (mut got, resent) = transfer(&a, &b, &bundles, 0).await;
    got.sort();
    let mut want = bundles.clone();
    want.sort();
    assert_eq!(got, want);
    // Nothing is lost on a quiet veth; a probe may go when the receiving loop lags.
    assert!(resent < 20, "{resent} frames sent again on a quiet veth");
    let (mut got, resent) = transfer(&a, &b, &bundles, 10).await;
    got.sort();
    assert_eq!(got, want);
    assert!(resent > 0, "the dropped frames were sent again");
    println!("with every 10th frame dropped: {resent} frames sent again");
}
