//! The Ethernet convergence layer's settings: flags over the file's keys over defaults.
//!
//! ```toml
//! ether_interface = "eth1"     # on with an interface; off without
//! ether_socket = "auto"        # auto (AF_XDP, else AF_PACKET) | xdp | packet
//! ether_xdp_mode = "auto"      # auto (native, else generic) | native | generic
//! [[ether_peers]]
//! node_id = "ipn:2.0"
//! mac = "02:00:00:00:00:02"
//! ```

use anyhow::bail;
use bundle_agent::wire::Eid;
use serde::Deserialize;
use transports::ether::frame::Mac;
use transports::ether::packet::parse_mac;
use transports::ether::socket::Want;
use transports::ether::xdp::XdpMode;

use super::{FileConfig, Flags};

/// One Ethernet peer of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtherPeerEntry {
    /// Its node ID.
    pub node_id: String,
    /// Its MAC address on the shared LAN.
    pub mac: String,
}

/// Ethernet settings after merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtherSettings {
    /// The interface.
    pub interface: String,
    /// Which socket to open.
    pub want: Want,
    /// Peers: node ID and MAC.
    pub peers: Vec<(Eid, Mac)>,
}

fn xdp_mode(text: &str) -> anyhow::Result<XdpMode> {
    Ok(match text {
        "auto" => XdpMode::Auto,
        "native" => XdpMode::Native,
        "generic" => XdpMode::Generic,
        other => bail!("ether_xdp_mode {other:?}: expected auto, native or generic"),
    })
}

fn peer(what: &str, node: &str, mac: &str) -> anyhow::Result<(Eid, Mac)> {
    let node: Eid = node
        .parse()
        .map_err(|e| anyhow::anyhow!("{what}: node ID {node:?}: {e}"))?;
    if !node.is_node_id() {
        bail!("{what}: {node} is not a node ID");
    }
    let mac = parse_mac(mac).ok_or_else(|| {
        anyhow::anyhow!("{what}: MAC {mac:?}: expected six hex bytes like 02:00:00:00:00:02")
    })?;
    Ok((node, mac))
}

/// The Ethernet settings, or `None` when the layer is off (no interface).
pub fn ether_config(flags: &Flags, file: &FileConfig) -> anyhow::Result<Option<EtherSettings>> {
    let Some(interface) = flags
        .ether_interface
        .clone()
        .or(file.ether_interface.clone())
    else {
        if !flags.ether_peers.is_empty() || !file.ether_peers.is_empty() {
            bail!("Ethernet peers are configured but no ether_interface (--ether-interface)");
        }
        return Ok(None);
    };
    let mode = xdp_mode(
        flags
            .ether_xdp_mode
            .as_deref()
            .or(file.ether_xdp_mode.as_deref())
            .unwrap_or("auto"),
    )?;
    let want = match flags
        .ether_socket
        .as_deref()
        .or(file.ether_socket.as_deref())
        .unwrap_or("auto")
    {
        "auto" => Want::Auto(mode),
        "xdp" => Want::Xdp(mode),
        "packet" => Want::Packet,
        other => bail!("ether_socket {other:?}: expected auto, xdp or packet"),
    };
    let mut peers = Vec::new();
    for p in &flags.ether_peers {
        let Some((node, mac)) = p.split_once('=') else {
            bail!("--ether-peer {p:?}: expected NODE-ID=MAC, e.g. ipn:2.0=02:00:00:00:00:02");
        };
        peers.push(peer(&format!("--ether-peer {p:?}"), node, mac)?);
    }
    for (i, p) in file.ether_peers.iter().enumerate() {
        peers.push(peer(&format!("ether_peers[{i}]"), &p.node_id, &p.mac)?);
    }
    Ok(Some(EtherSettings {
        interface,
        want,
        peers,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ether_settings_merge_with_clear_errors() {
        assert_eq!(
            ether_config(&Flags::default(), &FileConfig::default()).unwrap(),
            None
        );
        let flags = Flags {
            ether_interface: Some("veth0".into()),
            ether_peers: vec!["ipn:2.0=02:00:00:00:00:02".into()],
            ..Flags::default()
        };
        let e = ether_config(&flags, &FileConfig::default())
            .unwrap()
            .unwrap();
        assert_eq!(e.want, Want::Auto(XdpMode::Auto));
        assert_eq!(e.peers, vec![(Eid::ipn(2, 0), [2, 0, 0, 0, 0, 2])]);

        let file: FileConfig = toml::from_str(
            "ether_interface = \"eth1\"\nether_socket = \"xdp\"\nether_xdp_mode = \"generic\"\n\
             [[ether_peers]]\nnode_id = \"ipn:3.0\"\nmac = \"02:00:00:00:00:03\"\n",
        )
        .unwrap();
        let e = ether_config(&Flags::default(), &file).unwrap().unwrap();
        assert_eq!(e.want, Want::Xdp(XdpMode::Generic));
        assert_eq!(e.interface, "eth1");
        assert_eq!(e.peers, vec![(Eid::ipn(3, 0), [2, 0, 0, 0, 0, 3])]);

        let err = |flags: Flags| {
            ether_config(&flags, &FileConfig::default())
                .unwrap_err()
                .to_string()
        };
        let e = err(Flags {
            ether_peers: vec!["ipn:2.0=02:00:00:00:00:02".into()],
            ..Flags::default()
        });
        assert!(e.contains("--ether-interface"), "{e}");
        let e = err(Flags {
            ether_interface: Some("veth0".into()),
            ether_peers: vec!["ipn:2.0=02:00:00".into()],
            ..Flags::default()
        });
        assert!(e.contains("MAC \"02:00:00\""), "{e}");
        let e = err(Flags {
            ether_interface: Some("veth0".into()),
            ether_socket: Some("dpdk".into()),
            ..Flags::default()
        });
        assert!(e.contains("auto, xdp or packet"), "{e}");
    }
}
