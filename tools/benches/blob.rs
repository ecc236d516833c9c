//! Blob transfer between two of our `dtnd` on loopback (TCPCLv4), against sending the same
//! bytes as one bundle, in one run. A blob goes as erasure-coded shards (the default code,
//! k = 10, m = 4, 1 MiB shards: 1.4 times its bytes on the wire), each its own bundle; the
//! clock runs from `POST /blob/send` at A to the blob stored and checked at B. One bundle goes
//! through `POST /send` at A to `GET /recv` at B. A bundle is limited to 256 MiB by default
//! (the decoder's limit, headers included), so the single-bundle rows stop at 255 MiB; blobs
//! have no such limit.
//!
//!     cargo bench -p tools --bench blob
//!
//! `BLOB_BENCH_QUICK=1` uses 16 MiB (for CI).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{dtnd_node, free_port, http};
use serde_json::Value;

fn json(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Value {
    let mut r = r.unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn mbps(bytes: u64, secs: f64) -> String {
    format!("{:.0}", bytes as f64 / secs / 1e6)
}

fn main() {
    let quick = std::env::var_os("BLOB_BENCH_QUICK").is_some();
    let dir = tempfile::tempdir().unwrap();
    let (tb, ab, ta, aa) = (free_port(), free_port(), free_port(), free_port());
    let _b = dtnd_node(dir.path(), "ipn:2.0", tb, ab, None, &[]);
    let _a = dtnd_node(dir.path(), "ipn:1.0", ta, aa, Some(tb), &[]);
    let (a, b) = (
        format!("http://127.0.0.1:{aa}"),
        format!("http://127.0.0.1:{ab}"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while json(http().get(format!("{a}/status")).call())["sessions"] != 1 {
        assert!(Instant::now() < deadline, "no session");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sizes: Vec<u64> = if quick {
        vec![16 << 20]
    } else {
        vec![255 << 20, 1 << 30]
    };
    println!("| what | size | time | MB/s of the blob |\n|---|---|---|---|");
    for (i, &size) in sizes.iter().enumerate() {
        let path = dir.path().join(format!("blob{i}.bin"));
        let data: Vec<u8> = (0..size)
            .map(|x| ((x as u32).wrapping_mul(2_654_435_761) ^ i as u32).rotate_left(9) as u8)
            .collect();
        std::fs::write(&path, &data).unwrap();
        let put = json(
            http()
                .post(format!("{a}/blob"))
                .query("path", path.display().to_string())
                .send_empty(),
        );
        let hash = put["hash"].as_str().unwrap().to_string();
        let t = Instant::now();
        json(
            http()
                .post(format!("{a}/blob/send"))
                .query("hash", &hash)
                .query("to", "ipn:2.0")
                .send_empty(),
        );
        loop {
            let s = json(
                http()
                    .get(format!("{b}/blob/status"))
                    .query("hash", &hash)
                    .call(),
            );
            if !s["stored"].is_null() {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(900),
                "blob never arrived: {s}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| blob, k=10 m=4, 1 MiB shards | {} MiB | {secs:.2} s | {} |",
            size >> 20,
            mbps(size, secs)
        );
        if size < 256 << 20 {
            let status = http()
                .post(format!("{b}/register"))
                .query("endpoint", "ipn:2.1")
                .send_empty()
                .unwrap()
                .status()
                .as_u16();
            assert!(status < 300);
            let t = Instant::now();
            let mut r = http()
                .post(format!("{a}/send"))
                .query("destination", "ipn:2.1")
                .send(&data[..])
                .unwrap();
            assert!(
                r.status().as_u16() < 300,
                "{}",
                r.body_mut().read_to_string().unwrap()
            );
            loop {
                let mut r = http()
                    .get(format!("{b}/recv"))
                    .query("endpoint", "ipn:2.1")
                    .call()
                    .unwrap();
                if r.status().as_u16() == 200 {
                    let got = r
                        .body_mut()
                        .with_config()
                        .limit(u64::MAX)
                        .read_to_vec()
                        .unwrap();
                    assert_eq!(got.len() as u64, size);
                    break;
                }
                assert!(
                    t.elapsed() < Duration::from_secs(900),
                    "bundle never arrived"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "| one bundle | {} MiB | {secs:.2} s | {} |",
                size >> 20,
                mbps(size, secs)
            );
        }
    }
}
