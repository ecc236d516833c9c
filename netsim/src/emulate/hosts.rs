//! Where the emulated daemons run. As root, each node gets a network namespace of its own, as
//! a real node has its own network stack: a management veth to the emulator's namespace
//! carries its API and its relayed links, and an Ethernet link puts a veth end in it that is
//! a port of the frame switch, so a pod LAN is a LAN its nodes alone share. mDNS, ARP and the
//! Ethernet layer then see only the scenario's links, and discovery can be on, as on a real
//! pod. Without root (or when asked) every daemon runs on this machine's loopback instead,
//! and Ethernet links fall back to TCPCLv4.
//!
//! Addresses, for a `base` picked per emulator process: node `i`'s management link is the /30
//! `10.<base>.0.0/17 + 4i`, the emulator's end `+1`, the node's `+2`; each namespace reaches
//! the whole /17 through the emulator's end, so every relay (bound to an emulator address)
//! is reachable from every node, while nodes cannot reach each other around their links (the
//! emulator does not forward). The Ethernet ends share `10.<base>.128.0/17`.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use super::offload;
use super::veth::ip;

/// Most nodes the namespaces' address plan holds (a /30 each in a /17); their names fit the
/// 15 bytes of an interface name (`dtx` + a 7-digit PID + a letter + 4 digits).
pub const MAX_NODES: usize = 8192;

/// The name of a node's Ethernet interface inside its namespace.
pub const ETHER_INTERFACE: &str = "pod0";

/// What names this emulator's namespaces (`<TAG><pid>s<i>`) and interfaces
/// (`<TAG><pid>m<i>`, `r<i>`, `n<i>`).
const TAG: &str = "dtx";

/// The PID in a name this module gives (`dtx<pid>` then a kind letter and a node number).
fn pid_in(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(TAG)?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let (pid, tail) = rest.split_at(digits);
    let mut tail = tail.chars();
    let kind_ok = matches!(tail.next(), Some('s' | 'm' | 'r' | 'n'));
    let index: String = tail.collect();
    (kind_ok && !index.is_empty() && index.chars().all(|c| c.is_ascii_digit()))
        .then(|| pid.parse().ok())?
}

/// Removes what emulators that died without cleaning up (killed, or interrupted before
/// they could) left behind: namespaces and interfaces named for a process no longer running,
/// and the daemons still running in those namespaces. Returns how many it removed.
pub fn remove_stale() -> usize {
    let dead = |name: &str| {
        pid_in(name).is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
    };
    let mut removed = 0;
    let namespaces = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for ns in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        if !dead(ns) {
            continue;
        }
        // Its daemons outlived the emulator: stop them first, or they keep the namespace.
        let pids = Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        if ip(&["netns", "del", ns]).is_ok() {
            removed += 1;
        }
    }
    let interfaces = std::fs::read_dir("/sys/class/net").into_iter().flatten();
    for entry in interfaces.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if dead(&name) && ip(&["link", "del", &name]).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// How the daemons are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A namespace per node where this process may make them (root), else loopback.
    Auto,
    /// Every daemon on loopback.
    Loopback,
}

/// One node's place.
#[derive(Debug, Clone)]
pub struct Host {
    /// The address its daemon listens on.
    pub ip: IpAddr,
    /// An emulator address the node reaches: relays of the links it dials bind here.
    pub relay_ip: IpAddr,
    /// Its namespace, when it has one.
    pub netns: Option<String>,
}

/// The nodes' places; namespaces and veths are removed when dropped.
#[derive(Debug)]
pub struct Hosts {
    /// One per node.
    pub nodes: Vec<Host>,
    base: u8,
    /// Names this emulator's namespaces and interfaces.
    tag: String,
    /// Interfaces made in this namespace (deleted when dropped).
    here: Vec<String>,
}

fn v4(base: u8, offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, base, 0, 0)) + offset)
}

impl Hosts {
    /// Every node on loopback.
    pub fn loopback(n: usize) -> Self {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Self {
            nodes: vec![
                Host {
                    ip: lo,
                    relay_ip: lo,
                    netns: None
                };
                n
            ],
            base: 0,
            tag: String::new(),
            here: Vec::new(),
        }
    }

    /// A namespace per node (needs root), named `<tag>s<i>`; `base` picks the addresses.
    pub fn namespaces(n: usize, tag: &str, base: u8) -> Result<Self, String> {
        if n > MAX_NODES {
            return Err(format!("{n} nodes: namespaces hold at most {MAX_NODES}"));
        }
        let mut hosts = Self {
            nodes: Vec::with_capacity(n),
            base,
            tag: tag.into(),
            here: Vec::new(),
        };
        for i in 0..n {
            let ns = format!("{tag}s{i}");
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            let (gw, node) = (v4(base, 4 * i as u32 + 1), v4(base, 4 * i as u32 + 2));
            hosts.nodes.push(Host {
                ip: IpAddr::V4(node),
                relay_ip: IpAddr::V4(gw),
                netns: Some(ns.clone()),
            });
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            let root = format!("{tag}m{i}");
            let _ = ip(&["link", "del", &root]);
            ip(&[
                "link", "add", &root, "type", "veth", "peer", "name", "mgmt0", "netns", &ns,
            ])?;
            hosts.here.push(root.clone());
            ip(&["addr", "add", &format!("{gw}/30"), "dev", &root])?;
            ip(&["link", "set", &root, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{node}/30"),
                "dev",
                "mgmt0",
            ])?;
            ip(&["-n", &ns, "link", "set", "mgmt0", "up"])?;
            ip(&[
                "-n",
                &ns,
                "route",
                "add",
                &format!("{}/17", v4(base, 0)),
                "via",
                &gw.to_string(),
            ])?;
        }
        Ok(hosts)
    }

    /// Places `n` nodes as `isolation` asks: namespaces tagged by this process where that
    /// works, else loopback, and why not.
    pub fn place(n: usize, isolation: Isolation) -> (Self, Option<String>) {
        if isolation == Isolation::Loopback {
            return (Self::loopback(n), None);
        }
        remove_stale();
        let pid = std::process::id();
        // The whole PID: a later run can tell a dead emulator's leftovers from a live one's.
        let tag = format!("{TAG}{pid}");
        // Bases 216..=247: clear of the ones the tests' labs use (210..=215).
        let base = 216 + (pid % 32) as u8;
        match Self::namespaces(n, &tag, base) {
            Ok(h) => (h, None),
            Err(e) => (Self::loopback(n), Some(e)),
        }
    }

    /// Whether the nodes have namespaces.
    pub fn isolated(&self) -> bool {
        self.nodes.iter().any(|h| h.netns.is_some())
    }

    /// A command running `program` in node `i`'s place.
    pub fn command(&self, i: usize, program: &std::path::Path) -> Command {
        match self.nodes.get(i).and_then(|h| h.netns.as_deref()) {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// For each of `nodes`, an Ethernet interface [`ETHER_INTERFACE`] in its namespace with
    /// an address on the shared LAN, its other end here a port of the switch. Returns the
    /// ports, in the order of `nodes`.
    pub fn ether_ports(&mut self, nodes: &[usize]) -> Result<Vec<String>, String> {
        let mut ports = Vec::with_capacity(nodes.len());
        for &i in nodes {
            let Some(ns) = self.nodes.get(i).and_then(|h| h.netns.clone()) else {
                return Err("Ethernet links need the nodes in namespaces".into());
            };
            let (port, end) = (format!("{}r{i}", self.tag), format!("{}n{i}", self.tag));
            let _ = ip(&["link", "del", &port]);
            ip(&["link", "add", &port, "type", "veth", "peer", "name", &end])?;
            self.here.push(port.clone());
            // While the node's end is here: checksums in software (see `offload`).
            offload::checksums_in_software(&end).map_err(|e| format!("{end}: offloads: {e}"))?;
            ip(&["link", "set", &end, "netns", &ns, "name", ETHER_INTERFACE])?;
            ip(&["link", "set", &port, "up"])?;
            let lan = v4(self.base, (1 << 15) + 1 + i as u32);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{lan}/17"),
                "dev",
                ETHER_INTERFACE,
            ])?;
            ip(&["-n", &ns, "link", "set", ETHER_INTERFACE, "up"])?;
            ports.push(port);
        }
        Ok(ports)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for h in &self.nodes {
            if let Some(ns) = &h.netns {
                let _ = ip(&["netns", "del", ns]);
            }
        }
        // Deleting a namespace deletes its veths' ends here too; these are for the rest.
        for l in &self.here {
            let _ = ip(&["link", "del", l]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_emulators_pid() {
        assert_eq!(pid_in("dtx4242s0"), Some(4242));
        assert_eq!(pid_in("dtx4194304m8191"), Some(4_194_304));
        assert_eq!(pid_in("dtx17r3"), Some(17));
        assert_eq!(pid_in("dtx17n12"), Some(17));
        for other in [
            "dtx17", "dtx17s", "dtx17q1", "dtxs1", "dte17s1", "eth0", "dtx17s1x",
        ] {
            assert_eq!(pid_in(other), None, "{other}");
        }
    }
}
