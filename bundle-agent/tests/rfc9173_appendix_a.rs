//! RFC 9173 Appendix A: the four worked examples, rebuilt byte for byte from their inputs,
//! and verified and decrypted from their published bytes.
//!
//! The published bundles carry a primary block with CRC type none and no BIB over it, which
//! RFC 9171 §4.3.1 forbids; they are decoded with `DecodeOptions::lenient()`, and one test
//! checks that the default options name that rule.

// Test code: a panic is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use bundle_agent::bpsec::{
    add_bcb, add_bib, decrypt_bcb, verify_bib, AesVariant, BcbSpec, BibSpec, BpsecError,
    KeyMaterial, ScopeFlags, ShaVariant,
};
use bundle_agent::wire::{
    BlockFlags, Bundle, BundleView, CrcType, DecodeError, DecodeOptions, Eid,
};

const PAYLOAD: &[u8] = b"Ready to generate a 32-byte payload";
const A1_KEY: &str = "1a2b1a2b1a2b1a2b1a2b1a2b1a2b1a2b";
const A2_KEK: &str = "6162636465666768696a6b6c6d6e6f70";
const A2_CEK: &str = "71776572747975696f70617364666768";
const A4_KEY: &str = "71776572747975696f7061736466676871776572747975696f70617364666768";
const IV: [u8; 12] = *b"Twelve121212";

/// A.1.1.3, the bundle every example starts from.
const ORIGINAL: &str = "9f88070000820282010282028202018202820201820018281a000f424085010100005823526561647920746f2067656e657261746520612033322d62797465207061796c6f6164ff";
/// A.3.1.4: the same with a bundle age block of 300 ms.
const ORIGINAL_A3: &str = "9f88070000820282010282028202018202820201820018281a000f424085070200004319012c85010100005823526561647920746f2067656e657261746520612033322d62797465207061796c6f6164ff";
/// A.1.4.
const FINAL_A1: &str = "9f88070000820282010282028202018202820201820018281a000f4240850b0200005856810101018202820201828201078203008181820158403bdc69b3a34a2b5d3a8554368bd1e808f606219d2a10a846eae3886ae4ecc83c4ee550fdfb1cc636b904e2f1a73e303dcd4b6ccece003e95e8164dcc89a156e185010100005823526561647920746f2067656e657261746520612033322d62797465207061796c6f6164ff";
/// A.2.4.
const FINAL_A2: &str = "9f88070000820282010282028202018202820201820018281a000f4240850c02010058508101020182028202018482014c5477656c76653132313231328202018203581869c411276fecddc4780df42c8a2af89296fabf34d7fae7008204008181820150efa4b5ac0108e3816c5606479801bc04850101000058233a09c1e63fe23a7f66a59c7303837241e070b02619fc59c5214a22f08cd70795e73e9aff";
/// A.3.5.
const FINAL_A3: &str = "9f88070000820282010282028202018202820201820018281a000f4240850b030000585c8200020101820282030082820105820300828182015820cac6ce8e4c5dae57988b757e49a6dd1431dc04763541b2845098265bc817241b81820158203ed614c0d97f49b3633627779aa18a338d212bf3c92b97759d9739cd50725596850c0401005834 8101020182028202018382014c5477656c76653132313231328202018204008181820150efa4b5ac0108e3816c5606479801bc0485070200004319012c850101000058233a09c1e63fe23a7f66a59c7303837241e070b02619fc59c5214a22f08cd70795e73e9aff";
/// A.4.5.
const FINAL_A4: &str = "9f88070000820282010282028202018202820201820018281a000f4240850b0300005846438ed6208eb1c1ffb94d952175167df0902902064a2983910c4fb2340790bf420a7d1921d5bf7c4721e02ab87a93ab1e0b75cf62e4948727c8b5dae46ed2af05439b88029191850c0201005849820301020182028202018382014c5477656c76653132313231328202038204078281820150220ffc45c8a901999ecc60991dd78b2981820150d2c51cb2481792dae8b21d848cede99b8501010000582390eab6457593379298a8724e16e61f837488e127212b59ac91f8a86287b7d07630a122ff";

fn bytes(hex: &str) -> Vec<u8> {
    hex::decode(hex.replace(' ', "")).expect("test vector hex")
}

fn key(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("key hex")
}

fn decode(hex: &str) -> Bundle {
    let b = bytes(hex);
    BundleView::decode_with(&b, &DecodeOptions::lenient())
        .expect("vector decodes")
        .to_bundle()
}

fn encode(bundle: &Bundle) -> String {
    hex::encode(
        bundle
            .encode_with(&DecodeOptions::lenient())
            .expect("encodes"),
    )
}

fn source() -> Eid {
    Eid::ipn(2, 1)
}

#[test]
fn rfc9171_4_3_1_published_examples_lack_the_primary_crc() {
    let b = bytes(ORIGINAL);
    assert_eq!(
        BundleView::decode(&b).unwrap_err(),
        DecodeError::PrimaryCrcMissing
    );
    assert_eq!(
        DecodeError::PrimaryCrcMissing.to_string(),
        "primary block: CRC type none, and no BIB targets the primary block (RFC 9171 §4.3.1)"
    );
}

#[test]
fn rfc9173_a_1_simple_integrity_rebuilt_byte_for_byte() {
    let mut bundle = decode(ORIGINAL);
    assert_eq!(bundle.payload(), Some(PAYLOAD));
    let k = key(A1_KEY);
    let spec = BibSpec {
        targets: vec![1],
        source: source(),
        variant: ShaVariant::Hmac512,
        scope: ScopeFlags(0),
        block_number: Some(2),
        flags: BlockFlags(0),
        crc_type: CrcType::None,
        key: KeyMaterial::Direct(&k),
    };
    assert_eq!(add_bib(&mut bundle, &spec).unwrap(), 2);
    assert_eq!(encode(&bundle), FINAL_A1);
}

#[test]
fn rfc9173_a_1_verified_from_published_bytes() {
    let bundle = decode(FINAL_A1);
    let v = verify_bib(&bundle, 2, &key(A1_KEY)).unwrap();
    assert_eq!(v.targets, vec![1]);
    assert_eq!(v.variant, ShaVariant::Hmac512);
    // One flipped payload bit, or the wrong key, fails with a named error.
    let mut tampered = bundle.clone();
    let block = tampered.block_mut(1).unwrap();
    let mut data = block.data.to_vec();
    data[0] ^= 1;
    block.data = data.into();
    assert!(matches!(
        verify_bib(&tampered, 2, &key(A1_KEY)),
        Err(BpsecError::IntegrityCheckFailed {
            block: 2,
            target: 1,
            ..
        })
    ));
    assert!(matches!(
        verify_bib(&bundle, 2, &key(A2_KEK)),
        Err(BpsecError::IntegrityCheckFailed { .. })
    ));
}

#[test]
fn rfc9173_a_2_simple_confidentiality_with_key_wrap_rebuilt_byte_for_byte() {
    let mut bundle = decode(ORIGINAL);
    let (kek, cek) = (key(A2_KEK), key(A2_CEK));
    let spec = BcbSpec {
        targets: vec![1],
        source: source(),
        variant: AesVariant::A128Gcm,
        scope: ScopeFlags(0),
        block_number: Some(2),
        flags: BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT),
        crc_type: CrcType::None,
        iv: IV,
        key: KeyMaterial::Wrapped {
            kek: &kek,
            content_key: &cek,
        },
    };
    assert_eq!(add_bcb(&mut bundle, &spec).unwrap(), 2);
    assert_eq!(encode(&bundle), FINAL_A2);
}

#[test]
fn rfc9173_a_2_decrypted_from_published_bytes_with_the_kek() {
    let mut bundle = decode(FINAL_A2);
    assert_eq!(decrypt_bcb(&mut bundle, 2, &key(A2_KEK)).unwrap(), vec![1]);
    assert_eq!(bundle.payload(), Some(PAYLOAD));
    assert_eq!(encode(&bundle), ORIGINAL);
    // The content key is not the key-encryption key: the unwrap integrity check says so.
    let mut again = decode(FINAL_A2);
    assert_eq!(
        decrypt_bcb(&mut again, 2, &key(A2_CEK)),
        Err(BpsecError::KeyUnwrap(2))
    );
    assert_eq!(encode(&again), hex::encode(bytes(FINAL_A2)));
}

#[test]
fn rfc9173_a_3_multiple_sources_rebuilt_byte_for_byte() {
    let mut bundle = decode(ORIGINAL_A3);
    let (k1, k3) = (key(A1_KEY), key(A2_CEK));
    let bib = BibSpec {
        targets: vec![0, 2],
        source: Eid::ipn(3, 0),
        variant: ShaVariant::Hmac256,
        scope: ScopeFlags(0),
        block_number: Some(3),
        flags: BlockFlags(0),
        crc_type: CrcType::None,
        key: KeyMaterial::Direct(&k1),
    };
    add_bib(&mut bundle, &bib).unwrap();
    let bcb = BcbSpec {
        targets: vec![1],
        source: source(),
        variant: AesVariant::A128Gcm,
        scope: ScopeFlags(0),
        block_number: Some(4),
        flags: BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT),
        crc_type: CrcType::None,
        iv: IV,
        key: KeyMaterial::Direct(&k3),
    };
    add_bcb(&mut bundle, &bcb).unwrap();
    assert_eq!(encode(&bundle), hex::encode(bytes(FINAL_A3)));
}

#[test]
fn rfc9173_a_3_verified_and_decrypted_from_published_bytes() {
    let mut bundle = decode(FINAL_A3);
    // A BIB over the primary block satisfies RFC 9171 §4.3.1: strict decoding accepts it.
    assert!(BundleView::decode(&bytes(FINAL_A3)).is_ok());
    assert_eq!(
        verify_bib(&bundle, 3, &key(A1_KEY)).unwrap().targets,
        vec![0, 2]
    );
    decrypt_bcb(&mut bundle, 4, &key(A2_CEK)).unwrap();
    assert_eq!(bundle.payload(), Some(PAYLOAD));
    assert_eq!(
        verify_bib(&bundle, 3, &key(A1_KEY)).unwrap().targets,
        vec![0, 2]
    );
}

#[test]
fn rfc9173_a_4_full_scope_rebuilt_byte_for_byte() {
    let mut bundle = decode(ORIGINAL);
    let (k1, k4) = (key(A1_KEY), key(A4_KEY));
    let bib = BibSpec {
        targets: vec![1],
        source: source(),
        variant: ShaVariant::Hmac384,
        scope: ScopeFlags::ALL,
        block_number: Some(3),
        flags: BlockFlags(0),
        crc_type: CrcType::None,
        key: KeyMaterial::Direct(&k1),
    };
    add_bib(&mut bundle, &bib).unwrap();
    let bcb = BcbSpec {
        targets: vec![3, 1],
        source: source(),
        variant: AesVariant::A256Gcm,
        scope: ScopeFlags::ALL,
        block_number: Some(2),
        flags: BlockFlags(BlockFlags::REPLICATE_IN_EVERY_FRAGMENT),
        crc_type: CrcType::None,
        iv: IV,
        key: KeyMaterial::Direct(&k4),
    };
    add_bcb(&mut bundle, &bcb).unwrap();
    assert_eq!(encode(&bundle), FINAL_A4);
}

#[test]
fn rfc9173_a_4_decrypted_then_verified_from_published_bytes() {
    let mut bundle = decode(FINAL_A4);
    // The BIB is ciphertext until the BCB is processed.
    assert_eq!(
        verify_bib(&bundle, 3, &key(A1_KEY)),
        Err(BpsecError::TargetEncrypted {
            block: 3,
            target: 3,
            bcb: 2
        })
    );
    assert_eq!(
        decrypt_bcb(&mut bundle, 2, &key(A4_KEY)).unwrap(),
        vec![3, 1]
    );
    assert_eq!(bundle.payload(), Some(PAYLOAD));
    assert_eq!(
        verify_bib(&bundle, 3, &key(A1_KEY)).unwrap().variant,
        ShaVariant::Hmac384
    );
}

#[test]
fn rfc9172_3_target_rules() {
    let k = key(A4_KEY);
    let bcb = |targets: Vec<u64>, flags: u64| BcbSpec {
        targets,
        source: source(),
        variant: AesVariant::A256Gcm,
        scope: ScopeFlags::ALL,
        block_number: None,
        flags: BlockFlags(flags),
        crc_type: CrcType::Crc32c,
        iv: IV,
        key: KeyMaterial::Direct(&k),
    };
    let bib = |targets: Vec<u64>| BibSpec {
        targets,
        source: source(),
        variant: ShaVariant::Hmac256,
        scope: ScopeFlags::ALL,
        block_number: None,
        flags: BlockFlags(0),
        crc_type: CrcType::Crc32c,
        key: KeyMaterial::Direct(&k),
    };
    let mut b = decode(ORIGINAL_A3);
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![0], 1)),
        Err(BpsecError::BcbTargetsPrimary)
    );
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![1, 1], 1)),
        Err(BpsecError::DuplicateTarget(1))
    );
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![9], 1)),
        Err(BpsecError::TargetMissing(9))
    );
    assert_eq!(add_bcb(&mut b, &bcb(vec![], 1)), Err(BpsecError::NoTargets));
    assert!(matches!(
        add_bcb(&mut b, &bcb(vec![1], 0)),
        Err(BpsecError::BcbFlags(_))
    ));
    assert!(matches!(
        add_bcb(&mut b, &bcb(vec![1], 0x11)),
        Err(BpsecError::BcbFlags(_))
    ));
    let bib_no = add_bib(&mut b, &bib(vec![1])).unwrap();
    assert!(matches!(
        add_bib(&mut b, &bib(vec![1])),
        Err(BpsecError::DuplicateService {
            target: 1,
            service: "BIB",
            ..
        })
    ));
    assert_eq!(
        add_bib(&mut b, &bib(vec![bib_no])),
        Err(BpsecError::BibTargetsSecurityBlock(bib_no))
    );
    // Encrypting the payload without the BIB that protects it would leave its HMAC in clear.
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![1], 1)),
        Err(BpsecError::BcbMustCoverBib {
            target: 1,
            bib: bib_no
        })
    );
    // A BCB over the BIB alone shares no target with it.
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![bib_no], 1)),
        Err(BpsecError::BcbOverUnrelatedBib(bib_no))
    );
    let bcb_no = add_bcb(&mut b, &bcb(vec![bib_no, 1], 1)).unwrap();
    assert!(matches!(
        add_bcb(&mut b, &bcb(vec![2, 1], 1)),
        Err(BpsecError::DuplicateService {
            target: 1,
            service: "BCB",
            ..
        })
    ));
    assert_eq!(
        add_bcb(&mut b, &bcb(vec![bcb_no], 1)),
        Err(BpsecError::BcbTargetsBcb(bcb_no))
    );
    assert_eq!(add_bib(&mut b, &bib(vec![2])).map(|_| ()), Ok(()));
    // The result is a valid bundle with CRC-32C security blocks that decodes strictly.
    let encoded = b.encode_with(&DecodeOptions::lenient()).unwrap();
    let view = BundleView::decode_with(&encoded, &DecodeOptions::lenient()).unwrap();
    assert!(view.is_encrypted(1) && view.is_encrypted(bib_no));
}
