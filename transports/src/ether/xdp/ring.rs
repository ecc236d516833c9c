//! Memory shared with the kernel: the UMEM (the frames themselves) and the four rings of an
//! AF_XDP socket, each a single-producer single-consumer queue whose producer and consumer
//! indices live in the mapped memory (see the kernel's `Documentation/networking/af_xdp.rst`).
//!
//! Every unsafe operation of the AF_XDP path on memory is here, behind checked indices: a
//! ring slot is always `index & mask` with the mapping verified to hold `size` slots, and a
//! UMEM access is always checked against the UMEM's length.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A memory mapping, unmapped when dropped.
#[derive(Debug)]
pub struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; which parts each thread touches is
// governed by the rings (one producer and one consumer each), not by this type.
#[allow(unsafe_code)]
unsafe impl Send for Mmap {}
// SAFETY: as above; shared access goes through atomics (ring indices) or through frames one
// side owns at a time.
#[allow(unsafe_code)]
unsafe impl Sync for Mmap {}

impl Mmap {
    /// `len` bytes of zeroed private memory (the UMEM).
    #[allow(unsafe_code)]
    pub fn anonymous(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping touches no existing memory; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::checked(ptr, len)
    }

    /// The `len` bytes of socket memory at `offset` (a ring).
    #[allow(unsafe_code)]
    pub fn socket(fd: BorrowedFd<'_>, offset: u64, len: usize) -> io::Result<Self> {
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ring offset"))?;
        // SAFETY: maps the kernel's ring of a socket we hold open; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset,
            )
        };
        Self::checked(ptr, len)
    }

    fn checked(ptr: *mut libc::c_void, len: usize) -> io::Result<Self> {
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { ptr, len })
    }

    /// The mapping's address, for registering the UMEM.
    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Copies `len` bytes at `offset` out; `None` when outside the mapping.
    #[allow(unsafe_code)]
    pub fn read(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        if start.checked_add(len)? > self.len {
            return None;
        }
        // SAFETY: in bounds (checked above); the frame at `offset` was handed to us by the
        // kernel through the rx ring, so the kernel does not write it until we give it back.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(start), len) }.to_vec())
    }

    /// Copies `bytes` in at `offset`; false when outside the mapping.
    #[allow(unsafe_code)]
    pub fn write(&self, offset: u64, bytes: &[u8]) -> bool {
        let Ok(start) = usize::try_from(offset) else {
            return false;
        };
        if start
            .checked_add(bytes.len())
            .is_none_or(|end| end > self.len)
        {
            return false;
        }
        // SAFETY: in bounds (checked above); the frame at `offset` is one of our free tx
        // frames, which the kernel does not touch until we post it on the tx ring.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(start),
                bytes.len(),
            );
        }
        true
    }
}

impl Drop for Mmap {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `mmap` gave us, once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A slot type of a ring: a UMEM address (fill, completion) or a descriptor (rx, tx).
pub trait Slot: Copy {}
impl Slot for u64 {}
impl Slot for libc::xdp_desc {}

/// One ring: our side of it is the producer (fill, tx) or the consumer (rx, completion).
#[derive(Debug)]
pub struct Ring<T: Slot> {
    map: Mmap,
    producer: usize,
    consumer: usize,
    desc: usize,
    size: u32,
    cached_prod: u32,
    cached_cons: u32,
    _slot: std::marker::PhantomData<T>,
}

impl<T: Slot> Ring<T> {
    /// Maps the ring of `size` slots (a power of two) at `pgoff`, laid out as `off` says.
    pub fn map(
        fd: BorrowedFd<'_>,
        pgoff: u64,
        off: &libc::xdp_ring_offset,
        size: u32,
    ) -> io::Result<Self> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        if !size.is_power_of_two() {
            return Err(bad("ring size is not a power of two"));
        }
        let at = |o: u64| usize::try_from(o).map_err(|_| bad("ring offset"));
        let (producer, consumer, desc) = (at(off.producer)?, at(off.consumer)?, at(off.desc)?);
        let slots = (size as usize)
            .checked_mul(std::mem::size_of::<T>())
            .ok_or_else(|| bad("ring size"))?;
        let len = desc.checked_add(slots).ok_or_else(|| bad("ring size"))?;
        let aligned = |o: usize, a: usize| o % a == 0 && o + 4 <= len;
        if !aligned(producer, 4) || !aligned(consumer, 4) || desc % std::mem::align_of::<T>() != 0 {
            return Err(bad("ring offsets out of place"));
        }
        let map = Mmap::socket(fd, pgoff, len)?;
        let mut ring = Self {
            map,
            producer,
            consumer,
            desc,
            size,
            cached_prod: 0,
            cached_cons: 0,
            _slot: std::marker::PhantomData,
        };
        ring.cached_prod = ring.index(ring.producer).load(Ordering::Acquire);
        ring.cached_cons = ring.index(ring.consumer).load(Ordering::Acquire);
        Ok(ring)
    }

    #[allow(unsafe_code)]
    fn index(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `at` is the producer or consumer offset, checked in `map` to be 4-aligned
        // and inside the mapping, which lives as long as `self`; the kernel accesses these
        // words atomically too.
        unsafe { &*self.map.ptr.as_ptr().add(at).cast::<AtomicU32>() }
    }

    #[allow(unsafe_code)]
    fn slot(&self, i: u32) -> *mut T {
        let k = (i & (self.size - 1)) as usize;
        // SAFETY: `k < size`, and `map` checked the mapping holds `size` slots from `desc`
        // with `desc` aligned for `T`.
        unsafe { self.map.ptr.as_ptr().add(self.desc).cast::<T>().add(k) }
    }

    // ---- Our side produces (fill, tx) ----

    /// Free slots to produce into.
    pub fn free(&mut self) -> u32 {
        self.cached_cons = self.index(self.consumer).load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Writes `item` into the next slot; the caller checked [`Ring::free`].
    #[allow(unsafe_code)]
    pub fn push(&mut self, item: T) {
        // SAFETY: the slot is in bounds (see `slot`) and free: the consumer is past it.
        unsafe { self.slot(self.cached_prod).write_volatile(item) };
        self.cached_prod = self.cached_prod.wrapping_add(1);
    }

    /// Makes what was pushed visible to the kernel.
    pub fn publish(&self) {
        self.index(self.producer)
            .store(self.cached_prod, Ordering::Release);
    }

    /// Slots produced and not yet consumed by the kernel.
    pub fn outstanding(&mut self) -> u32 {
        self.cached_cons = self.index(self.consumer).load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    // ---- Our side consumes (rx, completion) ----

    /// Slots ready to consume.
    pub fn ready(&mut self) -> u32 {
        self.cached_prod = self.index(self.producer).load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// The `i`th ready slot; the caller checked [`Ring::ready`].
    #[allow(unsafe_code)]
    pub fn peek(&self, i: u32) -> T {
        // SAFETY: in bounds (see `slot`), and written by the kernel before it published the
        // producer index we loaded with acquire ordering.
        unsafe { self.slot(self.cached_cons.wrapping_add(i)).read_volatile() }
    }

    /// Gives `n` consumed slots back to the kernel.
    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        self.index(self.consumer)
            .store(self.cached_cons, Ordering::Release);
    }
}
