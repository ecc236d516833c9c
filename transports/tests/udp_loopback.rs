//! The UDP convergence layer on real loopback sockets: a bundle per datagram, limits on both
//! sides, and hostile datagrams dropped and counted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use transports::udp::{UdpLink, UdpSendError};

#[tokio::test]
async fn bundles_travel_one_per_datagram_and_limits_hold() {
    let a = UdpLink::bind("127.0.0.1:0".parse().unwrap(), 1000)
        .await
        .unwrap();
    let b = UdpLink::bind("127.0.0.1:0".parse().unwrap(), 1000)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(8);
    let b_addr = b.local_addr().unwrap();
    let counters_owner = b.clone();
    tokio::spawn(b.receive(tx));

    a.send(b_addr, &[7u8; 1000]).await.unwrap();
    let (from, got) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(from, a.local_addr().unwrap());
    assert_eq!(got, vec![7u8; 1000]);

    assert!(matches!(
        a.send(b_addr, &[0u8; 1001]).await,
        Err(UdpSendError::TooLarge {
            len: 1001,
            limit: 1000
        })
    ));
    // A raw peer ignoring our limit, and an empty datagram: dropped and counted.
    let raw = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    raw.send_to(&[1u8; 5000], b_addr).await.unwrap();
    raw.send_to(&[], b_addr).await.unwrap();
    raw.send_to(b"ok", b_addr).await.unwrap();
    let (_, got) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"ok");
    let c = counters_owner.counters();
    assert_eq!(c.oversized.load(Ordering::Relaxed), 1);
    assert_eq!(c.empty.load(Ordering::Relaxed), 1);
    assert_eq!(c.received.load(Ordering::Relaxed), 2);
}
