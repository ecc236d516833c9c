//! Discovery in `dtnd`: peers found on the LAN by libp2p mDNS (`transports::discovery`) get a
//! link without configuration. Which layer, by what the peer offers and this node has:
//! 1. the Ethernet layer, when both have one and the peer's offered MAC is the one this
//!    node's kernel reached it at on its Ethernet interface (the neighbour table), so the two
//!    really share that LAN;
//! 2. else TCPCLv4, dialled at the address the peer was found at and the port it offered,
//!    kept up (reconnecting) like a static peer;
//! 3. else (the peer offers neither) the libp2p connection discovery already has, which then
//!    carries bundles too (`p2p_link`).
//!
//! A found peer shows in `/peers` (and `dtnctl peers`) with `found_by: "mDNS"`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use bundle_agent::wire::Eid;
use tokio::sync::mpsc;
use transports::discovery::Found;
use transports::ether::frame::Mac;
use transports::ether::packet::parse_mac;

use super::core::CoreMsg;
use super::links::{keep_peer, Dial, LinkIds};

/// Most peers given links by discovery, per layer.
const MAX_FOUND: usize = 1024;

/// Whether discovery runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryMode {
    /// On where it makes sense, a pod LAN: with an Ethernet interface, or on a node of a
    /// tier that sits on one ([`on_a_pod_lan`]).
    Auto,
    /// On.
    On,
    /// Off.
    Off,
}

impl std::str::FromStr for DiscoveryMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(format!("discovery {other:?}: expected auto, on or off")),
        }
    }
}

/// Whether nodes of `tier` sit on a pod LAN: tiles and their pod node share its PoE switch.
pub fn on_a_pod_lan(tier: &str) -> bool {
    matches!(tier, "tile" | "pod")
}

/// The MAC the kernel's neighbour table has for `ip` on `interface` (`/proc/net/arp`, this
/// network namespace's).
pub fn neighbour_mac(ip: IpAddr, interface: &str) -> Option<Mac> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    neighbour_in(&table, ip, interface)
}

fn neighbour_in(table: &str, ip: IpAddr, interface: &str) -> Option<Mac> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            [addr, _hw, _flags, mac, _mask, dev] if *dev == interface => {
                (addr.parse::<IpAddr>().ok()? == ip).then(|| parse_mac(mac))?
            }
            _ => None,
        }
    })
}

/// This node's side, for deciding on found peers.
#[derive(Debug, Clone)]
pub struct Local {
    /// Its node ID.
    pub node_id: Eid,
    /// Its Ethernet interface, when the layer is up.
    pub ether_interface: Option<String>,
    /// How it dials TCPCL.
    pub tcpcl: super::links::TcpclSetup,
}

/// Opens links to found peers, for as long as discovery runs.
pub async fn open_links(
    local: Local,
    mut found: mpsc::Receiver<Found>,
    ids: LinkIds,
    core: mpsc::Sender<CoreMsg>,
) {
    let mut ether_peers: BTreeSet<(String, Mac)> = BTreeSet::new();
    let mut tcpcl_peers: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut p2p_peers: BTreeSet<(String, String)> = BTreeSet::new();
    while let Some(f) = found.recv().await {
        let node: Eid = match f.offer.node_id.parse() {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(peer = %f.peer, "discovery: node ID {:?}: {e}", f.offer.node_id);
                continue;
            }
        };
        if !node.is_node_id() || node == local.node_id {
            continue;
        }
        let shared_lan = match (&local.ether_interface, f.offer.ether_mac) {
            (Some(interface), Some(mac)) => {
                (neighbour_mac(f.ip, interface) == Some(mac)).then_some(mac)
            }
            _ => None,
        };
        if let Some(mac) = shared_lan {
            if ether_peers.len() < MAX_FOUND && ether_peers.insert((node.to_string(), mac)) {
                tracing::info!(%node, ip = %f.ip, "discovery: found on the Ethernet LAN");
                let link = ids.next();
                if core
                    .send(CoreMsg::EtherFound { link, node, mac })
                    .await
                    .is_err()
                {
                    return;
                }
            }
            continue;
        }
        let Some(port) = f.offer.tcpcl_port else {
            if p2p_peers.len() < MAX_FOUND && p2p_peers.insert((node.to_string(), f.peer.clone())) {
                tracing::info!(%node, peer = %f.peer, "discovery: found; no other layer, bundles go over libp2p");
                let link = ids.next();
                let msg = CoreMsg::P2pFound {
                    link,
                    node,
                    peer: f.peer,
                };
                if core.send(msg).await.is_err() {
                    return;
                }
            }
            continue;
        };
        let addr = SocketAddr::new(f.ip, port);
        if tcpcl_peers.len() < MAX_FOUND && tcpcl_peers.insert(addr) {
            tracing::info!(%node, %addr, "discovery: found; opening TCPCL");
            if core.send(CoreMsg::Discovered { addr }).await.is_err() {
                return;
            }
            tokio::spawn(keep_peer(
                addr,
                Dial::Tcpcl(local.tcpcl.clone()),
                ids.clone(),
                core.clone(),
                None,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_neighbour_table_is_read_for_one_interface() {
        let table = "IP address       HW type     Flags       HW address            Mask     Device\n\
                     10.0.0.2         0x1         0x2         02:00:00:00:00:02     *        lan0\n\
                     10.1.0.2         0x1         0x2         02:00:00:00:00:09     *        lan1\n";
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(neighbour_in(table, ip, "lan0"), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(neighbour_in(table, ip, "lan1"), None);
        assert_eq!(
            neighbour_in(table, "10.9.9.9".parse().unwrap(), "lan0"),
            None
        );
        assert_eq!("on".parse::<DiscoveryMode>(), Ok(DiscoveryMode::On));
        assert!(on_a_pod_lan("tile") && on_a_pod_lan("pod"));
        assert!(!on_a_pod_lan("hub") && !on_a_pod_lan("planet"));
        assert!("maybe".parse::<DiscoveryMode>().is_err());
    }
}
