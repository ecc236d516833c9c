//! The link model: how long a bundle takes to cross a link and whether it makes it. A link
//! has a rate (bytes per second, bundles queue behind each other), a one-way delay
//! (propagation or light time), a loss rate per bundle and a bit-error rate (a bundle with a
//! flipped bit fails its CRC and is lost: 1 - (1 - ber)^bits), and an availability: always
//! up, up only during its contact plan windows, or random outages.
//!
//! Presets name the links of the architecture's table (`profile = "mmwave"`); any field of a
//! preset can be overridden in the scenario.

use crate::rng::Rng;

/// How a link behaves, one direction (both directions use the same model).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkModel {
    /// Bytes per second.
    pub rate: u64,
    /// One-way delay in milliseconds.
    pub delay_ms: u64,
    /// Probability that a bundle is lost, whatever its size.
    pub loss: f64,
    /// Bit-error rate.
    pub ber: f64,
    /// Random outages: mean time up and mean time down, in milliseconds.
    pub outages: Option<(u64, u64)>,
}

/// The convergence layer a link's nodes use. A profile names the one it suits
/// (`deep-space`: LTP; `mmwave` and `backhaul`: QUIC; `poe`: our Ethernet layer); a link may name
/// another (`cl = "ltp"`). The emulator starts the daemons with it; the simulator models
/// every layer alike, at bundle level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvergenceLayer {
    /// TCPCLv4 (RFC 9174).
    Tcpcl,
    /// QUIC.
    Quic,
    /// LTP (RFC 5326).
    Ltp,
    /// Our Ethernet layer (AF_XDP, else AF_PACKET) on a pod LAN.
    Ether,
}

impl ConvergenceLayer {
    /// The names accepted in scenario files.
    pub const NAMES: [&'static str; 4] = ["tcpcl", "quic", "ltp", "ether"];

    /// The layer a profile suits.
    pub fn for_profile(profile: &str) -> Self {
        match profile {
            "deep-space" => Self::Ltp,
            "mmwave" | "backhaul" => Self::Quic,
            "poe" => Self::Ether,
            _ => Self::Tcpcl,
        }
    }

    /// The layer named `name` (see [`Self::NAMES`]).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "tcpcl" => Some(Self::Tcpcl),
            "quic" => Some(Self::Quic),
            "ltp" => Some(Self::Ltp),
            "ether" => Some(Self::Ether),
            _ => None,
        }
    }

    /// Its name, as `dtnctl peers` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcpcl => "tcpcl",
            Self::Quic => "quic",
            Self::Ltp => "ltp",
            Self::Ether => "ether",
        }
    }
}

impl LinkModel {
    /// The preset called `name`: `poe` (1 Gbit/s, sub-millisecond), `mmwave` (500 Mbit/s,
    /// 1 ms, 1 % loss, outages of 20 s every 10 min on average), `backhaul` (10 Gbit/s,
    /// 10 ms), `deep-space` (2 Mbit/s, 10 min of light time, BER 1e-7).
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "poe" => Self {
                rate: 125_000_000,
                delay_ms: 0,
                loss: 0.0,
                ber: 0.0,
                outages: None,
            },
            "mmwave" => Self {
                rate: 62_500_000,
                delay_ms: 1,
                loss: 0.01,
                ber: 0.0,
                outages: Some((600_000, 20_000)),
            },
            "backhaul" => Self {
                rate: 1_250_000_000,
                delay_ms: 10,
                loss: 0.0,
                ber: 0.0,
                outages: None,
            },
            "deep-space" => Self {
                rate: 250_000,
                delay_ms: 600_000,
                loss: 0.0,
                ber: 1e-7,
                outages: None,
            },
            _ => return None,
        })
    }

    /// The names of the presets.
    pub const PRESETS: [&'static str; 4] = ["poe", "mmwave", "backhaul", "deep-space"];

    /// Milliseconds to put `size` bytes on the link (rounded up).
    pub fn transmit_ms(&self, size: u64) -> u64 {
        let rate = u128::from(self.rate.max(1));
        let ms = (u128::from(size) * 1000).div_ceil(rate);
        u64::try_from(ms).unwrap_or(u64::MAX)
    }

    /// Probability that a bundle of `size` bytes does not arrive intact.
    pub fn loss_probability(&self, size: u64) -> f64 {
        let bits = size.saturating_mul(8) as f64;
        let intact = (1.0 - self.loss) * (1.0 - self.ber).powf(bits);
        (1.0 - intact).clamp(0.0, 1.0)
    }

    /// Draws whether a bundle of `size` bytes is lost.
    pub fn lost(&self, rng: &mut Rng, size: u64) -> bool {
        rng.chance(self.loss_probability(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_exist_and_rates_round_up() {
        for p in LinkModel::PRESETS {
            assert!(LinkModel::preset(p).is_some(), "{p}");
        }
        assert!(LinkModel::preset("carrier pigeon").is_none());
        let ds = LinkModel::preset("deep-space").unwrap();
        assert_eq!(ds.transmit_ms(250_000), 1000);
        assert_eq!(ds.transmit_ms(1), 1, "rounded up");
        assert_eq!(ds.transmit_ms(0), 0);
    }
}
