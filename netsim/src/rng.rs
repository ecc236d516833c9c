//! Seeded randomness: SplitMix64, one independent stream per node, link and flow, derived
//! from the scenario seed and the stream's name. The same seed gives the same numbers on
//! every machine and in every build, which is what makes a run replayable.

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The stream `name` of the run seeded with `seed`.
    pub fn stream(seed: u64, name: &str) -> Self {
        // FNV-1a over the name, mixed with the seed: stable across platforms and releases.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        let mut r = Rng(seed ^ h);
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Exponentially distributed with mean `mean` (for random arrivals and outages).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_repeatable_and_independent() {
        let a: Vec<u64> = (0..4)
            .map(|_| Rng::stream(1, "link 3").next_u64())
            .collect();
        assert!(
            a.windows(2).all(|w| w[0] == w[1]),
            "same seed and name, same numbers"
        );
        assert_ne!(
            Rng::stream(1, "link 3").next_u64(),
            Rng::stream(2, "link 3").next_u64()
        );
        assert_ne!(
            Rng::stream(1, "link 3").next_u64(),
            Rng::stream(1, "link 4").next_u64()
        );
        let mut r = Rng::stream(9, "x");
        let mean = (0..20_000).map(|_| r.exponential(5.0)).sum::<f64>() / 20_000.0;
        assert!((mean - 5.0).abs() < 0.2, "{mean}");
    }
}
