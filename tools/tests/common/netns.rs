//! Network namespaces for end-to-end tests of the link layers (as root): a namespace per
//! node, each with a management veth to this process's namespace for its API (the emulator's
//! placement, `netsim::emulate::hosts`), and data links between them made on demand.
//! Everything is removed when the [`Lab`] is dropped.

use std::process::Command;

use netsim::emulate::hosts::Hosts;
pub use netsim::emulate::veth::ip;

/// Namespaces `<tag>s0`, `<tag>s1`, ..., placed as the emulator places its daemons
/// (`netsim::emulate::hosts`): node `i`'s API is reached at [`Lab::api_host`]. Addresses of
/// the data links the tests add are `10.<base>.128.0` and up (the lower half is management).
pub struct Lab {
    tag: String,
    hosts: Hosts,
    root_links: Vec<String>,
}

impl Lab {
    /// `n` namespaces with loopback up and a management link each. `tag` (short: interface
    /// names are at most 15 bytes) and `base` must differ between tests that run at once.
    pub fn new(tag: &str, base: u8, n: usize) -> Result<Lab, String> {
        Ok(Lab {
            tag: tag.into(),
            hosts: Hosts::namespaces(n, tag, base)?,
            root_links: Vec::new(),
        })
    }

    /// Node `i`'s namespace.
    pub fn ns(&self, i: usize) -> &str {
        self.hosts.nodes[i].netns.as_deref().unwrap_or_default()
    }

    /// Where node `i`'s API listens.
    pub fn api_host(&self, i: usize) -> String {
        self.hosts.nodes[i].ip.to_string()
    }

    /// A veth pair between nodes `a` and `b`, called `name` in both, up.
    pub fn wire(&self, a: usize, b: usize, name: &str) -> Result<(), String> {
        let (na, nb) = (self.ns(a), self.ns(b));
        ip(&[
            "link", "add", name, "netns", na, "type", "veth", "peer", "name", name, "netns", nb,
        ])?;
        ip(&["-n", na, "link", "set", name, "up"])?;
        ip(&["-n", nb, "link", "set", name, "up"])
    }

    /// Interface `name` in node `i`'s namespace, its other end `<tag><root>` here; both up.
    /// Returns the name here.
    pub fn wire_here(&mut self, i: usize, name: &str, root: &str) -> Result<String, String> {
        let here = format!("{}{root}", self.tag);
        let _ = ip(&["link", "del", &here]);
        ip(&[
            "link",
            "add",
            &here,
            "type",
            "veth",
            "peer",
            "name",
            name,
            "netns",
            self.ns(i),
        ])?;
        self.root_links.push(here.clone());
        ip(&["link", "set", &here, "up"])?;
        ip(&["-n", self.ns(i), "link", "set", name, "up"])?;
        Ok(here)
    }

    /// A LAN: a bridge here with interface `name` of every node on it.
    pub fn lan(&mut self, name: &str) -> Result<(), String> {
        let br = format!("{}br", self.tag);
        let _ = ip(&["link", "del", &br]);
        ip(&["link", "add", &br, "type", "bridge"])?;
        self.root_links.push(br.clone());
        ip(&["link", "set", &br, "up"])?;
        for i in 0..self.hosts.nodes.len() {
            let here = self.wire_here(i, name, &format!("l{i}"))?;
            ip(&["link", "set", &here, "master", &br])?;
        }
        Ok(())
    }

    /// The MAC address of interface `name` of node `i`.
    pub fn mac(&self, i: usize, name: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", self.ns(i), "cat"])
            .arg(format!("/sys/class/net/{name}/address"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The namespaces go with `hosts` (and their veths' ends here with them); the bridge
        // and the ends `wire_here` made stay unless deleted.
        for l in &self.root_links {
            let _ = ip(&["link", "del", l]);
        }
    }
}
