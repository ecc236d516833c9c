//! The emulator's link relay on real sockets: bytes arrive no sooner than the link's rate
//! and delay allow (and not much later), and a link taken down cuts its connections and
//! refuses new ones until it is up again.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use netsim::emulate::proxy::LinkRelay;
use netsim::link::LinkModel;
use netsim::rng::Rng;

/// A server that reads until EOF and reports how many bytes and when the last came.
fn sink() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<(usize, Instant)>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut total = 0;
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            total += n;
                            let _ = tx.send((total, Instant::now()));
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn model(rate: u64, delay_ms: u64) -> LinkModel {
    lossy(rate, delay_ms, 0.0)
}

fn lossy(rate: u64, delay_ms: u64, loss: f64) -> LinkModel {
    LinkModel {
        rate,
        delay_ms,
        loss,
        ber: 0.0,
        outages: None,
    }
}

#[test]
fn bytes_take_the_rate_and_the_delay_of_the_link() {
    let (target, got) = sink();
    let relay = LinkRelay::start(target, model(100_000, 200), true, Rng::stream(1, "t")).unwrap();
    let mut c = TcpStream::connect(relay.addr).unwrap();
    let start = Instant::now();
    c.write_all(&vec![7u8; 100_000]).unwrap();
    let mut last = start;
    while let Ok((total, at)) = got.recv_timeout(Duration::from_secs(10)) {
        last = at;
        if total >= 100_000 {
            break;
        }
    }
    let took = last - start;
    // 100 kB at 100 kB/s, plus 200 ms: 1.2 s at the least; generous above (a busy machine).
    assert!(took >= Duration::from_millis(1_150), "took {took:?}");
    assert!(took <= Duration::from_millis(4_000), "took {took:?}");
    assert_eq!(
        relay.bytes[0].load(std::sync::atomic::Ordering::Relaxed),
        100_000
    );
}

#[test]
fn a_link_that_goes_down_cuts_and_refuses_connections() {
    let (target, _got) = sink();
    let relay = LinkRelay::start(target, model(10_000_000, 0), true, Rng::stream(1, "t")).unwrap();
    let mut c = TcpStream::connect(relay.addr).unwrap();
    c.write_all(b"hello").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    relay.set_up(false);
    // The relay shut the connection: reading sees its end.
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)), "cut");
    // New connections are closed at once while the link is down.
    let mut d = TcpStream::connect(relay.addr).unwrap();
    d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(d.read(&mut buf), Ok(0) | Err(_)), "refused");
    relay.stop();
}

#[test]
fn a_loss_cuts_the_connection() {
    let (target, _got) = sink();
    let relay =
        LinkRelay::start(target, lossy(10_000_000, 0, 1.0), true, Rng::stream(1, "t")).unwrap();
    let mut c = TcpStream::connect(relay.addr).unwrap();
    c.write_all(b"a bundle that will be lost").unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(c.read(&mut buf), Ok(0) | Err(_)),
        "the transfer's connection is cut"
    );
    relay.stop();
}
