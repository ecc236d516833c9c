//! CRC-32C for short inputs with the SSE4.2 `crc32` instruction.
//!
//! The `crc32c` crate is fast on long buffers but spends a few hundred instructions setting
//! up its three-way interleaving on every call, which dominates the 20-60 byte blocks most
//! bundles are made of. Below [`SHORT`] bytes this module feeds the instruction directly;
//! longer data goes to the crate, and the zeroed CRC value that follows it to the
//! instruction again. Machines without SSE4.2 use the crate for everything.

/// Inputs up to this many bytes take the direct path.
pub const SHORT: usize = 512;

/// CRC-32C (Castagnoli; init and final XOR all ones) of `data` followed by `zeros` zero bytes.
#[inline]
pub fn crc32c_with_zeros(data: &[u8], zeros: usize) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // Long inputs: the crate's three-way interleaving, then the zeros directly.
            let (before, data) = if data.len() <= SHORT {
                (0, data)
            } else {
                (crc32c::crc32c(data), &[][..])
            };
            // SAFETY: the CPU supports SSE4.2, checked above, which is the only requirement
            // of a `target_feature(enable = "sse4.2")` function.
            #[allow(unsafe_code)]
            return unsafe { sse42::crc32c(before, data, zeros) };
        }
    }
    let mut crc = crc32c::crc32c(data);
    for _ in 0..zeros / 4 {
        crc = crc32c::crc32c_append(crc, &[0; 4]);
    }
    crc32c::crc32c_append(crc, [0u8; 4].get(..zeros % 4).unwrap_or(&[]))
}

#[cfg(target_arch = "x86_64")]
mod sse42 {
    use std::arch::x86_64::{_mm_crc32_u16, _mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};

    /// The CRC-32C of some earlier bytes whose CRC was `before` (0 for none), followed by
    /// `data` and `zeros` zero bytes.
    #[target_feature(enable = "sse4.2")]
    pub(super) fn crc32c(before: u32, data: &[u8], zeros: usize) -> u32 {
        let mut crc = u64::from(!before);
        let mut rest = data;
        while let Some((w, tail)) = rest.split_first_chunk::<8>() {
            crc = _mm_crc32_u64(crc, u64::from_le_bytes(*w));
            rest = tail;
        }
        let mut c = crc as u32;
        if let Some((w, tail)) = rest.split_first_chunk::<4>() {
            c = _mm_crc32_u32(c, u32::from_le_bytes(*w));
            rest = tail;
        }
        if let Some((w, tail)) = rest.split_first_chunk::<2>() {
            c = _mm_crc32_u16(c, u16::from_le_bytes(*w));
            rest = tail;
        }
        if let Some(&byte) = rest.first() {
            c = _mm_crc32_u8(c, byte);
        }
        // The zeroed CRC value: 4 bytes for CRC-32C.
        if zeros == 4 {
            c = _mm_crc32_u32(c, 0);
        } else {
            for _ in 0..zeros {
                c = _mm_crc32_u8(c, 0);
            }
        }
        !c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_crate_at_every_length() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            for zeros in [0, 2, 4] {
                let mut padded = data[..len].to_vec();
                padded.extend(std::iter::repeat_n(0, zeros));
                assert_eq!(
                    crc32c_with_zeros(&data[..len], zeros),
                    crc32c::crc32c(&padded),
                    "len {len} zeros {zeros}"
                );
            }
        }
    }
}
