//! End-to-end tests of `dtnctl bundle`: the real binary on real files.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// RFC 9173 Appendix A.1.4, signed with the key 1a2b... by ipn:2.1.
const RFC9173_A1: &str = "9f88070000820282010282028202018202820201820018281a000f4240850b0200005856810101018202820201828201078203008181820158403bdc69b3a34a2b5d3a8554368bd1e808f606219d2a10a846eae3886ae4ecc83c4ee550fdfb1cc636b904e2f1a73e303dcd4b6ccece003e95e8164dcc89a156e185010100005823526561647920746f2067656e657261746520612033322d62797465207061796c6f6164ff";

fn dtnctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dtnctl"))
        .args(args)
        .output()
        .expect("dtnctl runs")
}

fn ok(args: &[&str]) -> String {
    let out = dtnctl(args);
    assert!(
        out.status.success(),
        "dtnctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn fails(args: &[&str]) -> String {
    let out = dtnctl(args);
    assert_eq!(out.status.code(), Some(1), "dtnctl {args:?} should exit 1");
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }
    fn s(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

fn write(p: &Path, bytes: &[u8]) {
    std::fs::write(p, bytes).expect("write test file");
}

#[test]
fn encode_decode_json_roundtrip_is_byte_identical() {
    let d = Dir::new();
    ok(&[
        "bundle",
        "encode",
        "-d",
        "dtn://hub/twin",
        "-s",
        "ipn:7.0",
        "--payload",
        "state",
        "--hop-limit",
        "9",
        "--crc",
        "crc16",
        "--flag",
        "report-reception",
        "--creation-time-ms",
        "5000",
        "-o",
        &d.s("a"),
    ]);
    let json = ok(&["bundle", "decode", "--json", &d.s("a")]);
    assert!(json.contains("\"destination\": \"dtn://hub/twin\""));
    write(&d.path("a.json"), json.as_bytes());
    ok(&[
        "bundle",
        "encode",
        "--json",
        &d.s("a.json"),
        "-o",
        &d.s("b"),
    ]);
    assert_eq!(
        std::fs::read(d.path("a")).unwrap(),
        std::fs::read(d.path("b")).unwrap()
    );
    let text = ok(&["bundle", "decode", &d.s("a")]);
    assert!(text.contains("hop limit 9, hop count 0"), "{text}");
    assert!(text.contains("\"state\""), "{text}");
}

#[test]
fn rejections_name_the_rule_and_exit_1() {
    let d = Dir::new();
    ok(&[
        "bundle",
        "encode",
        "-d",
        "ipn:2.1",
        "-s",
        "ipn:1.0",
        "--payload",
        "abcdef",
        "-o",
        &d.s("a"),
    ]);
    let mut bytes = std::fs::read(d.path("a")).unwrap();
    let at = bytes.windows(6).position(|w| w == b"abcdef").unwrap();
    bytes[at] = b'X';
    write(&d.path("bad"), &bytes);
    assert!(fails(&["bundle", "decode", &d.s("bad")]).contains("block 1: CRC-32C mismatch"));
    write(&d.path("rfc"), &hex::decode(RFC9173_A1).unwrap());
    assert!(fails(&["bundle", "decode", &d.s("rfc")])
        .contains("primary block: CRC type none, and no BIB targets the primary block"));
    ok(&["bundle", "decode", "--lenient", &d.s("rfc")]);
    write(&d.path("junk"), b"\x01\x02");
    assert!(fails(&["bundle", "decode", &d.s("junk")]).contains("not a CBOR array"));
}

#[test]
fn rfc9173_a_1_verifies_through_the_cli_with_the_key_named_after_the_source() {
    let d = Dir::new();
    write(&d.path("rfc"), &hex::decode(RFC9173_A1).unwrap());
    write(&d.path("keys"), b"# RFC 9173 Appendix A.1 key\nipn:2.1 1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b\nwrong 00000000000000000000000000000000\n");
    let out = ok(&[
        "bundle",
        "verify",
        "--lenient",
        &d.s("rfc"),
        "--keys",
        &d.s("keys"),
    ]);
    assert!(
        out.contains("block 2: OK  HMAC 512/512 over target(s) [1] from ipn:2.1"),
        "{out}"
    );
    let out = fails(&[
        "bundle",
        "verify",
        "--lenient",
        &d.s("rfc"),
        "--keys",
        &d.s("keys"),
        "--key",
        "wrong",
    ]);
    assert!(out.contains("does not match"), "{out}");
}

#[test]
fn sign_encrypt_with_key_wrap_verify_decrypt() {
    let d = Dir::new();
    write(&d.path("keys"), b"ipn:1.0 000102030405060708090a0b0c0d0e0f\nsite 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n");
    let keys = d.s("keys");
    ok(&[
        "bundle",
        "encode",
        "-d",
        "ipn:2.1",
        "-s",
        "ipn:1.0",
        "--payload",
        "model delta",
        "-o",
        &d.s("plain"),
    ]);
    ok(&[
        "bundle",
        "sign",
        &d.s("plain"),
        "--keys",
        &keys,
        "--key",
        "ipn:1.0",
        "--variant",
        "hmac-sha256",
        "-o",
        &d.s("signed"),
    ]);
    assert!(ok(&["bundle", "verify", &d.s("signed"), "--keys", &keys]).contains("OK"));
    // RFC 9172 §3.9: encrypting the payload alone would leave its BIB readable.
    let err = fails(&[
        "bundle",
        "encrypt",
        &d.s("signed"),
        "--keys",
        &keys,
        "--key",
        "site",
        "-o",
        &d.s("x"),
    ]);
    assert!(err.contains("must target BIB 2 too"), "{err}");
    ok(&[
        "bundle",
        "encrypt",
        &d.s("signed"),
        "--keys",
        &keys,
        "--key",
        "site",
        "--wrap",
        "--target",
        "2",
        "--target",
        "1",
        "-o",
        &d.s("sealed"),
    ]);
    let shown = ok(&["bundle", "decode", &d.s("sealed")]);
    assert!(
        !shown.contains("model delta") && shown.contains("ciphertext"),
        "{shown}"
    );
    assert!(
        fails(&["bundle", "verify", &d.s("sealed"), "--keys", &keys])
            .contains("encrypted by BCB 3")
    );
    ok(&[
        "bundle",
        "decrypt",
        &d.s("sealed"),
        "--keys",
        &keys,
        "--key",
        "site",
        "-o",
        &d.s("opened"),
    ]);
    assert!(ok(&["bundle", "decode", &d.s("opened")]).contains("\"model delta\""));
    assert!(ok(&["bundle", "verify", &d.s("opened"), "--keys", &keys]).contains("block 2: OK"));
    // The wrong key-encryption key fails the RFC 3394 integrity check.
    write(
        &d.path("keys2"),
        b"site 0f112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    );
    let err = fails(&[
        "bundle",
        "decrypt",
        &d.s("sealed"),
        "--keys",
        &d.s("keys2"),
        "--key",
        "site",
        "-o",
        &d.s("y"),
    ]);
    assert!(err.contains("key unwrap failed"), "{err}");
}

#[test]
fn help_explains_every_subcommand() {
    for sub in ["decode", "encode", "sign", "encrypt", "verify", "decrypt"] {
        let out = ok(&["bundle", sub, "--help"]);
        assert!(out.contains("Usage: dtnctl bundle"), "{sub}: {out}");
    }
}
