//! Sending recovery traffic twice on a lossy link, to shorten the tail of a transfer.
//!
//! On a link that loses a share `p` of its segments, a block's first pass loses about `p`
//! of its segments; the round that sends them again loses `p` of those, and so on: with
//! 750 segments a block and 5% loss, the second round still loses one of its 37 segments
//! in about 85% of blocks, and a lost checkpoint or report costs a whole timer (a round
//! trip and a margin). Each round is a round trip, minutes in deep space, so the last
//! blocks of a pass finish rounds after the first pass ends.
//!
//! Sending each segment of a recovery round twice makes a third round needed in about 9% of
//! blocks at 5% loss instead of 85%; three times, in 0.5%. It costs link time only when the
//! link has time to spare: in the middle of a long pass, a block that needs another round
//! finishes later but the link stays busy with other blocks, and copies would take the
//! place of first transmissions; it is the last blocks of a pass (and the first, before
//! the queue builds) whose extra rounds leave the link idle and delay the end. So recovery
//! data goes more than once only while the queue of first transmissions to that peer
//! would drain within a round trip; checkpoints and reports (one segment each) always go
//! as many times on a lossy link. RFC 5326
//! copes with the copies as it copes with retransmissions: a data segment received twice
//! is kept once, a checkpoint received again is answered by sending its report again
//! (§6.8 (b), a "redundantly retransmitted checkpoint"), and a report received again is
//! only acknowledged (§6.13).
//!
//! The engine turns it on per peer from what reports say: the share of each first pass
//! that a report lists as missing, averaged, against a threshold (0.1% by default,
//! [`super::engine::EngineConfig::redundancy_from_ppm`]). A clean link sends everything once.

/// Parts per million.
const MILLION: u64 = 1_000_000;

/// A running estimate of the share of segments a link loses, from reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LossEstimate {
    /// Parts per million, averaged over reports (each new one weighs 1/8).
    ppm: u64,
    /// Reports counted so far (saturating).
    samples: u32,
}

impl LossEstimate {
    /// Counts a report of a first pass that spans `span` bytes and lists `missing` of them
    /// as not received.
    pub fn note(&mut self, missing: u64, span: u64) {
        if span == 0 {
            return;
        }
        let share = u128::from(missing.min(span)) * u128::from(MILLION) / u128::from(span);
        let sample = u64::try_from(share).unwrap_or(MILLION);
        // The first report is taken as it is; later ones move the average by an eighth.
        self.ppm = if self.samples == 0 {
            sample
        } else {
            (self.ppm * 7 + sample) / 8
        };
        self.samples = self.samples.saturating_add(1);
    }

    /// The estimate, in parts per million.
    pub fn ppm(&self) -> u64 {
        self.ppm
    }

    /// How many times to send recovery traffic: once below `threshold_ppm`; from it on, as
    /// many times (two or three) as it takes for all copies of a segment to be lost with a
    /// chance of at most one in a thousand.
    pub fn copies(&self, threshold_ppm: u32) -> usize {
        if self.samples == 0 || self.ppm < u64::from(threshold_ppm) {
            return 1;
        }
        // p² ≤ 1/1000 when p ≤ 3.16%.
        if self.ppm * self.ppm <= MILLION * MILLION / 1000 {
            2
        } else {
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_link_sends_once_and_a_lossy_one_twice() {
        let mut e = LossEstimate::default();
        assert_eq!(e.copies(10_000), 1, "nothing known yet");
        e.note(0, 1 << 20);
        assert_eq!(e.copies(10_000), 1);
        let mut lossy = LossEstimate::default();
        lossy.note(52_000, 1 << 20);
        assert!((49_000..=50_000).contains(&lossy.ppm()), "{}", lossy.ppm());
        assert_eq!(
            lossy.copies(10_000),
            3,
            "5%: 0.25% for two copies, 0.0125% for three"
        );
        assert_eq!(lossy.copies(u32::MAX), 1, "never, when turned off");
        let mut some = LossEstimate::default();
        some.note(20_000, 1_000_000);
        assert_eq!(some.copies(10_000), 2, "2%: 0.04% for two copies");
    }

    #[test]
    fn the_estimate_follows_the_link_by_eighths() {
        let mut e = LossEstimate::default();
        e.note(80_000, 1_000_000);
        for _ in 0..40 {
            e.note(0, 1_000_000);
        }
        assert!(e.ppm() < 10_000, "{}", e.ppm());
        assert_eq!(
            e.copies(10_000),
            1,
            "a link that got better sends once again"
        );
        e.note(5, 0);
        e.note(u64::MAX, 1);
        assert!(e.ppm() <= MILLION);
    }
}
