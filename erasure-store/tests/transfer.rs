//! Blob transfers between two nodes' transfer machines and real on-disk stores, with the
//! payloads carried (or dropped) by the test: 30% of shard bundles lost, and the blob still
//! arrives intact with only the missing shards' worth of repair; a receiver restarted
//! mid-transfer finishes without any shard it already stored being sent again; a corrupted
//! shard is discarded and counted.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::wire::Eid;
use erasure_store::wire::Message;
use erasure_store::{BlobStore, Code, Hash, Progress, TransferConfig, Transfers};

const REPAIR: u64 = 1000;

fn cfg() -> TransferConfig {
    TransferConfig {
        repair_after_ms: REPAIR,
        ..TransferConfig::default()
    }
}

fn blob(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
        .collect()
}

/// A seeded coin.
struct Coin(u64);
impl Coin {
    fn lose(&mut self, p: f64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0 < p
    }
}

struct Node {
    id: Eid,
    store: BlobStore,
    t: Transfers,
    dir: tempfile::TempDir,
}

fn node(n: u32, now: u64) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::open(dir.path(), 1 << 30).unwrap();
    let t = Transfers::open(cfg(), &store, now).unwrap();
    Node {
        id: Eid::ipn(n, 0),
        store,
        t,
        dir,
    }
}

/// Moves payloads from `a` to `b`, dropping shards with probability `loss`; returns the
/// shard payloads delivered and dropped.
fn carry(now: u64, a: &mut Node, b: &mut Node, coin: &mut Coin, loss: f64) -> (u64, u64) {
    let (mut went, mut lost) = (0, 0);
    while let Some(out) = a.t.poll_outgoing(&a.store) {
        assert_eq!(out.to, b.id);
        let is_shard = matches!(Message::decode(&out.payload), Ok(Message::Shard { .. }));
        if is_shard && coin.lose(loss) {
            lost += 1;
            continue;
        }
        went += u64::from(is_shard);
        b.t.receive(now, &mut b.store, &a.id.service(66, "blob"), &out.payload)
            .unwrap();
    }
    (went, lost)
}

#[test]
fn a_blob_arrives_through_30_percent_shard_loss_with_only_the_missing_shards_repaired() {
    let mut a = node(1, 0);
    let mut b = node(2, 0);
    let data = blob(6 << 20);
    let h = a.store.put(&data).unwrap();
    // k = 10, m = 4, 64 KiB shards: 10 stripes of 14.
    let mh =
        a.t.send(
            0,
            &mut a.store,
            h,
            &b.id,
            Code {
                k: 10,
                m: 4,
                shard: 64 << 10,
            },
        )
        .unwrap();
    let mut coin = Coin(0x5eed);
    let (mut now, mut first, mut lost_total) = (0, 0, 0);
    let (went, lost) = carry(now, &mut a, &mut b, &mut coin, 0.30);
    first += went + lost;
    lost_total += lost;
    assert_eq!(first, 10 * 14);
    // Repair rounds: the receiver asks for exactly what each stripe lacks.
    let mut rounds = 0;
    while !b.store.has(&h) {
        rounds += 1;
        assert!(rounds < 50, "no progress");
        now += REPAIR;
        b.t.tick(now);
        carry(now, &mut b, &mut a, &mut coin, 0.0);
        let (_, lost) = carry(now, &mut a, &mut b, &mut coin, 0.30);
        lost_total += lost;
    }
    assert_eq!(b.store.get(&h).unwrap(), data);
    // The completion reaches the sender, which forgets the transfer.
    carry(now, &mut b, &mut a, &mut coin, 0.0);
    assert!(matches!(a.t.status(&mh), Some(Progress::Complete { .. })));
    assert!(matches!(b.t.status(&h), Some(Progress::Complete { .. })));
    let (sa, sb) = (a.t.stats(), b.t.stats());
    // Only the missing shards' worth: every shard sent again was asked for, and no more were
    // asked for than the stripes lacked (the first round's losses beyond the 4 parity shards
    // of a stripe, and the repairs lost in turn).
    assert_eq!(sa.resent, sb.requested);
    assert!(lost_total > 20, "{lost_total} lost");
    assert!(
        sb.requested <= lost_total,
        "{} requested for {lost_total} lost",
        sb.requested
    );
    // The receiver keeps only the blob: shards and manifest are gone.
    assert_eq!(b.store.list().len(), 1);
}

#[test]
fn a_receiver_restarted_mid_transfer_finishes_without_shards_sent_twice() {
    let mut a = node(1, 0);
    let mut b = node(2, 0);
    let data = blob(3 << 20);
    let h = a.store.put(&data).unwrap();
    a.t.send(
        0,
        &mut a.store,
        h,
        &b.id,
        Code {
            k: 8,
            m: 2,
            shard: 64 << 10,
        },
    )
    .unwrap();
    // Half the payloads arrive, then the receiver stops (its state is dropped).
    let mut half = 0;
    while let Some(out) = a.t.poll_outgoing(&a.store) {
        half += 1;
        if half > 25 {
            break;
        }
        b.t.receive(0, &mut b.store, &a.id, &out.payload).unwrap();
    }
    let stored_before = b.store.list().len();
    assert!(stored_before > 20);
    let dir = b.dir;
    drop(b.t);
    drop(b.store);
    let store = BlobStore::open(dir.path(), 1 << 30).unwrap();
    let t = Transfers::open(cfg(), &store, 10).unwrap();
    let mut b = Node {
        id: Eid::ipn(2, 0),
        store,
        t,
        dir,
    };
    assert!(matches!(b.t.status(&h), Some(Progress::Receiving { .. })));
    // The rest of the first send is lost with the old session; the restarted receiver asks.
    while a.t.poll_outgoing(&a.store).is_some() {}
    b.t.tick(10 + REPAIR);
    let mut coin = Coin(1);
    carry(10 + REPAIR, &mut b, &mut a, &mut coin, 0.0);
    let (went, _) = carry(10 + REPAIR, &mut a, &mut b, &mut coin, 0.0);
    assert!(b.store.has(&h));
    assert_eq!(b.store.get(&h).unwrap(), data);
    // 6 stripes of 8 + 2 (512 KiB each): 48 shards needed. The manifest and shards 0-23 had
    // arrived: stripes 0 and 1 complete (10 each, 8 needed), 4 of stripe 2. Exactly the 4
    // stripe 2 lacks and the 8 of each of stripes 3-5 were sent: 28.
    assert_eq!(went, 4 + 3 * 8);
    assert_eq!(b.t.stats().duplicates, 0);
}

#[test]
fn a_corrupted_shard_is_discarded_and_counted() {
    let mut a = node(1, 0);
    let mut b = node(2, 0);
    let h = a.store.put(&blob(100_000)).unwrap();
    let mh =
        a.t.send(
            0,
            &mut a.store,
            h,
            &b.id,
            Code {
                k: 4,
                m: 2,
                shard: 64 << 10,
            },
        )
        .unwrap();
    let manifest = a.t.poll_outgoing(&a.store).unwrap();
    b.t.receive(0, &mut b.store, &a.id, &manifest.payload)
        .unwrap();
    let mut shard = a.t.poll_outgoing(&a.store).unwrap().payload;
    let last = shard.len() - 1;
    shard[last] ^= 1;
    assert!(b.t.receive(0, &mut b.store, &a.id, &shard).is_err());
    assert_eq!(b.t.stats().corrupt, 1);
    match b.t.status(&mh) {
        Some(Progress::Receiving { received, .. }) => assert_eq!(received, 0),
        other => panic!("{other:?}"),
    }
    // A manifest for an absurd blob is refused before anything is kept.
    let mut absurd = manifest.payload.clone();
    absurd[40..48].copy_from_slice(&(1u64 << 62).to_be_bytes());
    assert!(b.t.receive(0, &mut b.store, &a.id, &absurd).is_err());
    let _ = Hash::of(b"");
}

#[test]
fn a_lost_manifest_is_announced_again_and_the_transfer_completes() {
    let mut a = node(1, 0);
    let mut b = node(2, 0);
    let data = blob(400_000);
    let h = a.store.put(&data).unwrap();
    a.t.send(
        0,
        &mut a.store,
        h,
        &b.id,
        Code {
            k: 4,
            m: 2,
            shard: 64 << 10,
        },
    )
    .unwrap();
    // Everything of the first send is lost.
    while a.t.poll_outgoing(&a.store).is_some() {}
    let mut coin = Coin(3);
    let mut now = 0;
    for _ in 0..10 {
        if b.store.has(&h) {
            break;
        }
        now += REPAIR;
        a.t.tick(now);
        b.t.tick(now);
        carry(now, &mut a, &mut b, &mut coin, 0.0);
        carry(now, &mut b, &mut a, &mut coin, 0.0);
    }
    assert_eq!(b.store.get(&h).unwrap(), data);
}
