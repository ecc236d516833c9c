//! Veth pairs for the emulator's Ethernet links, made with iproute2 (as root) and removed
//! when dropped; and the `ip` runner the tests of link layers share.

use std::process::Command;

/// Veth pairs made for Ethernet links, deleted when dropped.
#[derive(Debug, Default)]
pub struct Veths(Vec<String>);

impl Drop for Veths {
    fn drop(&mut self) {
        for v in &self.0 {
            let _ = Command::new("ip").args(["link", "del", v]).output();
        }
    }
}

/// Runs `ip` with `args`; the error carries its message.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The interfaces of the Ethernet links: the nodes' ends, the switch's ends, and the nodes'
/// ends' MACs, one of each per node with such links.
pub type EtherPorts = (Vec<String>, Vec<String>, Vec<String>);

/// For each node with Ethernet links, a veth pair: the node's end (`<tag>n<i>`) and the
/// switch's (`<tag>r<i>`).
pub fn ether_ports(nodes: &[usize], veths: &mut Veths) -> Result<EtherPorts, String> {
    let tag = format!("dtx{}", std::process::id() % 10_000);
    let (mut ends, mut ports, mut macs) = (Vec::new(), Vec::new(), Vec::new());
    for i in nodes {
        let (n, r) = (format!("{tag}n{i}"), format!("{tag}r{i}"));
        let _ = ip(&["link", "del", &n]);
        ip(&["link", "add", &n, "type", "veth", "peer", "name", &r])?;
        veths.0.push(n.clone());
        ip(&["link", "set", &n, "up"])?;
        ip(&["link", "set", &r, "up"])?;
        let mac = std::fs::read_to_string(format!("/sys/class/net/{n}/address"))
            .map_err(|e| format!("{n}: {e}"))?;
        macs.push(mac.trim().to_owned());
        ends.push(n);
        ports.push(r);
    }
    Ok((ends, ports, macs))
}
