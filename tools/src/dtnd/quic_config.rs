//! The QUIC convergence layer's settings: flags over the file's keys over defaults.
//!
//! ```toml
//! quic_listen = "0.0.0.0:4557"
//! quic_keepalive = "2s"
//! quic_idle_timeout = "30s"
//! quic_mtu = 1452              # largest UDP payload MTU discovery tries
//! [[quic_peers]]
//! addr = "10.0.0.2:4557"
//! node_id = "ipn:2.0"        # optional; with it, a contact plan naming the node schedules it
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use bundle_agent::wire::Eid;
use serde::Deserialize;

use super::{FileConfig, Flags};
use crate::cli_io::parse_duration_ms;

/// One QUIC peer of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuicPeerEntry {
    /// Its QUIC (UDP) address.
    pub addr: SocketAddr,
    /// Its node ID, when known.
    pub node_id: Option<String>,
}

/// QUIC settings after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuicSettings {
    /// Bound address (one UDP socket for every peer, both ways).
    pub listen: SocketAddr,
    /// Peers: node ID when given, and address.
    pub peers: Vec<(Option<Eid>, SocketAddr)>,
    /// Keepalive interval.
    pub keepalive: Duration,
    /// Idle timeout: outages shorter than this keep the connection.
    pub idle_timeout: Duration,
    /// Largest UDP payload path MTU discovery tries.
    pub max_udp_payload: u16,
}

fn duration(
    flag: Option<&String>,
    key: Option<&String>,
    name: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    match flag.or(key) {
        Some(d) => Ok(Duration::from_millis(
            parse_duration_ms(d).with_context(|| format!("{name} {d:?}"))?,
        )),
        None => Ok(default),
    }
}

/// The QUIC settings, or `None` when QUIC is off (no listen address).
pub fn quic_config(flags: &Flags, file: &FileConfig) -> anyhow::Result<Option<QuicSettings>> {
    let Some(listen) = flags.quic_listen.or(file.quic_listen) else {
        if !flags.quic_peers.is_empty() || !file.quic_peers.is_empty() {
            bail!("QUIC peers are configured but no quic_listen address (--quic-listen)");
        }
        return Ok(None);
    };
    let mut peers = Vec::new();
    for p in &flags.quic_peers {
        let (node, addr) = match p.rsplit_once('=') {
            Some((node, addr)) => (Some(node), addr),
            None => (None, p.as_str()),
        };
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| anyhow::anyhow!("--quic-peer {p:?}: expected [NODE-ID=]HOST:PORT: {e}"))?;
        let node = node
            .map(|n| n.parse::<Eid>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("--quic-peer {p:?}: node ID: {e}"))?;
        peers.push((node, addr));
    }
    for (i, p) in file.quic_peers.iter().enumerate() {
        let node = p
            .node_id
            .as_ref()
            .map(|n| n.parse::<Eid>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("quic_peers[{i}].node_id: {e}"))?;
        peers.push((node, p.addr));
    }
    let keepalive = duration(
        flags.quic_keepalive.as_ref(),
        file.quic_keepalive.as_ref(),
        "quic_keepalive",
        Duration::from_secs(2),
    )?;
    let idle_timeout = duration(
        flags.quic_idle_timeout.as_ref(),
        file.quic_idle_timeout.as_ref(),
        "quic_idle_timeout",
        Duration::from_secs(30),
    )?;
    if keepalive.is_zero() || keepalive >= idle_timeout {
        bail!(
            "quic_keepalive {keepalive:?} must be more than 0 and less than quic_idle_timeout {idle_timeout:?}"
        );
    }
    let max_udp_payload = flags
        .quic_mtu
        .or(file.quic_mtu)
        .unwrap_or(transports::quic::DEFAULT_MAX_UDP_PAYLOAD);
    if !(1200..=transports::quic::MAX_UDP_PAYLOAD).contains(&max_udp_payload) {
        bail!(
            "quic_mtu {max_udp_payload}: must be from 1200 (QUIC's minimum) to {}",
            transports::quic::MAX_UDP_PAYLOAD
        );
    }
    Ok(Some(QuicSettings {
        listen,
        peers,
        keepalive,
        idle_timeout,
        max_udp_payload,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quic_settings_merge_with_clear_errors() {
        assert_eq!(
            quic_config(&Flags::default(), &FileConfig::default()).unwrap(),
            None
        );
        let flags = Flags {
            quic_listen: Some("127.0.0.1:4557".parse().unwrap()),
            quic_peers: vec!["ipn:2.0=127.0.0.1:5000".into(), "127.0.0.1:5001".into()],
            ..Flags::default()
        };
        let q = quic_config(&flags, &FileConfig::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            q.peers[0],
            (Some(Eid::ipn(2, 0)), "127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(q.peers[1], (None, "127.0.0.1:5001".parse().unwrap()));
        assert_eq!(
            (q.keepalive, q.idle_timeout),
            (Duration::from_secs(2), Duration::from_secs(30))
        );

        let file: FileConfig = toml::from_str(
            "quic_listen = \"127.0.0.1:4557\"\nquic_idle_timeout = \"1m\"\n\
             [[quic_peers]]\naddr = \"127.0.0.1:5002\"\nnode_id = \"ipn:3.0\"\n",
        )
        .unwrap();
        let q = quic_config(&Flags::default(), &file).unwrap().unwrap();
        assert_eq!(q.idle_timeout, Duration::from_secs(60));
        assert_eq!(
            q.peers,
            vec![(Some(Eid::ipn(3, 0)), "127.0.0.1:5002".parse().unwrap())]
        );

        let no_listen = Flags {
            quic_peers: vec!["127.0.0.1:5001".into()],
            ..Flags::default()
        };
        let e = quic_config(&no_listen, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--quic-listen"), "{e}");
        let bad = Flags {
            quic_listen: Some("127.0.0.1:4557".parse().unwrap()),
            quic_peers: vec!["ipn:2.0=nowhere".into()],
            ..Flags::default()
        };
        let e = quic_config(&bad, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("--quic-peer \"ipn:2.0=nowhere\""), "{e}");
        let slow = Flags {
            quic_listen: Some("127.0.0.1:4557".parse().unwrap()),
            quic_keepalive: Some("1m".into()),
            ..Flags::default()
        };
        let e = quic_config(&slow, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("quic_keepalive"), "{e}");
        let tiny = Flags {
            quic_listen: Some("127.0.0.1:4557".parse().unwrap()),
            quic_mtu: Some(1000),
            ..Flags::default()
        };
        let e = quic_config(&tiny, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("quic_mtu 1000"), "{e}");
        let file: FileConfig =
            toml::from_str("quic_listen = \"127.0.0.1:4557\"\nquic_mtu = 8952\n").unwrap();
        let q = quic_config(&Flags::default(), &file).unwrap().unwrap();
        assert_eq!(q.max_udp_payload, 8952);
    }
}
