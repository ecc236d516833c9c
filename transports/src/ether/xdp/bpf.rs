//! The XDP program that steers our frames into the AF_XDP socket, and the `bpf(2)` calls
//! that load and attach it, without libbpf or a BPF compiler: the program is fifteen
//! instructions written out below.
//!
//! The program looks at each frame the interface receives: a frame of our EtherType goes to
//! the AF_XDP socket of the receive queue it came in on (through an `XSKMAP`); every other
//! frame, and ours on a queue without a socket, goes on to the kernel's stack as if no
//! program were there (`XDP_PASS`). It is attached through a BPF link, so it is detached when
//! the link's descriptor closes: when `dtnd` exits, even by `SIGKILL`, the interface is left
//! as it was found.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::super::frame::ETHERTYPE;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const XDP_PASS: i32 = 2;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`): fastest, where the driver supports XDP.
    Native,
    /// After the driver, on the kernel's socket buffers (`XDP_FLAGS_SKB_MODE`): works on
    /// every interface.
    Generic,
}

impl AttachMode {
    fn flags(self) -> u32 {
        match self {
            Self::Native => 1 << 2,
            Self::Generic => 1 << 1,
        }
    }

    /// Its name in logs and `/peers`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Generic => "generic",
        }
    }
}

/// A `bpf(2)` attribute block: zeroed, with the fields a command reads set at their offsets
/// (`union bpf_attr` in `linux/bpf.h`); the kernel requires the unused rest to be zero.
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Self {
        Self([0; 128])
    }

    /// Sets bytes at `at` (a fixed offset of the layout, always inside the block).
    fn bytes(mut self, at: usize, v: &[u8]) -> Self {
        if let Some(dst) = self.0.get_mut(at..at + v.len()) {
            dst.copy_from_slice(v);
        }
        self
    }

    fn u32(self, at: usize, v: u32) -> Self {
        self.bytes(at, &v.to_ne_bytes())
    }

    fn u64(self, at: usize, v: u64) -> Self {
        self.bytes(at, &v.to_ne_bytes())
    }
}

#[allow(unsafe_code)]
fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live 128-byte block and we pass its true size; any pointers set in
    // it point at buffers the caller keeps alive across this call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[allow(unsafe_code)]
fn fd(r: libc::c_long) -> io::Result<OwnedFd> {
    let raw = i32::try_from(r).map_err(|_| io::Error::other("bpf returned no descriptor"))?;
    // SAFETY: these commands return a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// An `XSKMAP` of `entries` receive queues.
pub fn xsk_map(entries: u32) -> io::Result<OwnedFd> {
    let mut a = Attr::new()
        .u32(0, BPF_MAP_TYPE_XSKMAP)
        .u32(4, 4)
        .u32(8, 4)
        .u32(12, entries.max(1));
    fd(bpf(BPF_MAP_CREATE, &mut a)?)
}

/// Puts the AF_XDP socket `xsk` in `map` for receive queue `queue`.
pub fn map_socket(map: &OwnedFd, queue: u32, xsk: i32) -> io::Result<()> {
    let key = queue;
    let value = xsk as u32;
    let mut a = Attr::new()
        .u32(0, map.as_raw_fd() as u32)
        .u64(8, std::ptr::addr_of!(key) as u64)
        .u64(16, std::ptr::addr_of!(value) as u64);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(|_| ())
}

/// One instruction: opcode, registers, offset, immediate (`struct bpf_insn`).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut i = [0u8; 8];
    i[0] = code;
    i[1] = (dst & 0xf) | (src << 4);
    i[2..4].copy_from_slice(&off.to_le_bytes());
    i[4..8].copy_from_slice(&imm.to_le_bytes());
    i
}

/// The program, redirecting to `map`. Registers: r1 the context (`struct xdp_md`: data,
/// data_end, data_meta, ingress_ifindex, rx_queue_index as u32 at 0, 4, 8, 12, 16).
pub fn program(map: i32) -> Vec<u8> {
    // The EtherType as a little-endian load of its two network-order bytes sees it.
    let ethertype = i32::from(u16::from_le_bytes(ETHERTYPE.to_be_bytes()));
    let code: [[u8; 8]; 15] = [
        insn(0x61, 2, 1, 0, 0),                     // 0: r2 = ctx->data (u32 load)
        insn(0x61, 3, 1, 4, 0),                     // 1: r3 = ctx->data_end
        insn(0xbf, 4, 2, 0, 0),                     // 2: r4 = r2
        insn(0x07, 4, 0, 0, 14),                    // 3: r4 += 14 (an Ethernet header)
        insn(0x2d, 4, 3, 8, 0),                     // 4: if r4 > r3 goto 13 (too short: pass)
        insn(0x69, 4, 2, 12, 0),                    // 5: r4 = EtherType (u16 load at 12)
        insn(0x55, 4, 0, 6, ethertype),             // 6: if r4 != ours goto 13 (pass)
        insn(0x61, 2, 1, 16, 0),                    // 7: r2 = ctx->rx_queue_index (the key)
        insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map),   // 8: r1 = the map (two slots)
        insn(0x00, 0, 0, 0, 0),                     // 9
        insn(0xb7, 3, 0, 0, XDP_PASS),              // 10: r3 = XDP_PASS (when no socket is there)
        insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP), // 11: r0 = bpf_redirect_map(r1, r2, r3)
        insn(0x95, 0, 0, 0, 0),                     // 12: return r0
        insn(0xb7, 0, 0, 0, XDP_PASS),              // 13: r0 = XDP_PASS
        insn(0x95, 0, 0, 0, 0),                     // 14: return r0
    ];
    code.concat()
}

/// Loads the program for `map`; on refusal the error carries the verifier's log.
pub fn load(map: &OwnedFd) -> io::Result<OwnedFd> {
    let code = program(map.as_raw_fd());
    let license = c"Dual MIT/GPL";
    let mut log = vec![0u8; 16 * 1024];
    let name = b"dtn_ether\0";
    let mut a = Attr::new()
        .bytes(48, name)
        .u32(0, BPF_PROG_TYPE_XDP)
        .u32(4, (code.len() / 8) as u32)
        .u64(8, code.as_ptr() as u64)
        .u64(16, license.as_ptr() as u64)
        .u32(24, 1)
        .u32(28, log.len() as u32)
        .u64(32, log.as_mut_ptr() as u64);
    match bpf(BPF_PROG_LOAD, &mut a) {
        Ok(r) => fd(r),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(log.get(..end).unwrap_or_default());
            Err(io::Error::new(
                e.kind(),
                format!("loading the XDP program: {e}; verifier: {}", text.trim()),
            ))
        }
    }
}

/// Attaches `prog` to interface `ifindex`; the program stays attached while the returned
/// link descriptor is open.
pub fn attach(prog: &OwnedFd, ifindex: u32, mode: AttachMode) -> io::Result<OwnedFd> {
    let mut a = Attr::new()
        .u32(0, prog.as_raw_fd() as u32)
        .u32(4, ifindex)
        .u32(8, BPF_XDP)
        .u32(12, mode.flags());
    fd(bpf(BPF_LINK_CREATE, &mut a)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_fifteen_instructions_with_the_map_in_slot_eight() {
        let p = program(7);
        assert_eq!(p.len(), 15 * 8);
        assert_eq!(p[8 * 8], 0x18);
        assert_eq!(p[8 * 8 + 1], 1 | (1 << 4));
        assert_eq!(
            i32::from_le_bytes(p[8 * 8 + 4..8 * 8 + 8].try_into().unwrap()),
            7
        );
        // The EtherType compare sees the wire bytes 0x88 0xB5 as a little-endian u16.
        assert_eq!(
            i32::from_le_bytes(p[6 * 8 + 4..6 * 8 + 8].try_into().unwrap()),
            0xB588
        );
    }
}
