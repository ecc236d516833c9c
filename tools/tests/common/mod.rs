//! Shared helpers of the end-to-end tests: a real `dtnd` process on loopback and its API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(20);

/// A port free for TCP and UDP on loopback, from outside the ephemeral range (see
/// `netsim::emulate::ports` for why).
pub fn free_port() -> u16 {
    netsim::emulate::ports::free_port().unwrap()
}

/// A `dtnd` process, killed when dropped.
pub struct Node {
    child: Option<Child>,
    pub api: u16,
    pub args: Vec<String>,
    /// Where the API listens.
    pub host: String,
    /// The network namespace it runs in.
    pub netns: Option<String>,
    /// The file its log (standard error) goes to.
    pub log: PathBuf,
}

impl Node {
    pub fn start(dir: &Path, node_id: &str, tcpcl: u16, peers: &[u16], routes: &[&str]) -> Node {
        Self::start_with(dir, node_id, tcpcl, peers, routes, &[])
    }

    /// Like [`Node::start`], with more flags.
    pub fn start_with(
        dir: &Path,
        node_id: &str,
        tcpcl: u16,
        peers: &[u16],
        routes: &[&str],
        extra: &[String],
    ) -> Node {
        let api = free_port();
        let name = node_id.replace([':', '.', '/'], "_");
        let mut args = vec![
            "--node-id".into(),
            node_id.into(),
            "--data-dir".into(),
            dir.join(&name).display().to_string(),
            "--tcpcl-listen".into(),
            format!("127.0.0.1:{tcpcl}"),
            "--api-listen".into(),
            format!("127.0.0.1:{api}"),
        ];
        for p in peers {
            args.push("--peer".into());
            args.push(format!("127.0.0.1:{p}"));
        }
        for r in routes {
            args.push("--route".into());
            args.push((*r).into());
        }
        args.extend(extra.iter().cloned());
        let mut n = Node {
            child: None,
            api,
            args,
            host: "127.0.0.1".into(),
            netns: None,
            log: dir.join(format!("{name}.log")),
        };
        n.spawn();
        n
    }

    /// A `dtnd` in the network namespace `ns`, its API on `host` (an address of the
    /// namespace this process reaches), its log in `dir`; TCPCL listens on port 4556 of
    /// every address of the namespace unless `extra` says otherwise.
    pub fn start_in_netns(
        ns: &str,
        host: &str,
        dir: &Path,
        node_id: &str,
        extra: &[String],
    ) -> Node {
        let api = free_port();
        std::fs::create_dir_all(dir).unwrap();
        let name = node_id.replace([':', '.', '/'], "_");
        let mut args = vec![
            "--node-id".into(),
            node_id.into(),
            "--data-dir".into(),
            dir.join(&name).display().to_string(),
            "--api-listen".into(),
            format!("{host}:{api}"),
        ];
        if !extra.iter().any(|a| a == "--tcpcl-listen") {
            args.extend(["--tcpcl-listen".into(), "0.0.0.0:4556".into()]);
        }
        args.extend(extra.iter().cloned());
        let mut n = Node {
            child: None,
            api,
            args,
            host: host.into(),
            netns: Some(ns.into()),
            log: dir.join(format!("{name}.log")),
        };
        n.spawn();
        n
    }

    /// What the node logged (nodes in a namespace log to a file).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn spawn(&mut self) {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_dtnd")]);
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_dtnd")),
        };
        let stderr = Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .unwrap(),
        );
        let child = cmd
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while self.get("/status").is_none() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("dtnd exited ({status}): {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "dtnd did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            send_sigkill(c.id());
            let _ = c.wait();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.host, self.api)
    }

    pub fn get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        let agent = ureq::Agent::new_with_config(
            ureq::config::Config::builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut r = agent.get(&self.url(path)).call().ok()?;
        let status = r.status().as_u16();
        Some((status, r.body_mut().read_to_vec().ok()?))
    }

    pub fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        let agent = ureq::Agent::new_with_config(
            ureq::config::Config::builder()
                .http_status_as_error(false)
                .build(),
        );
        let mut r = agent.post(&self.url(path)).send(body).unwrap();
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::from_slice(&self.get("/status").unwrap().1).unwrap()
    }

    /// Waits for the next payload at `endpoint`.
    pub fn recv(&self, endpoint: &str) -> Vec<u8> {
        self.recv_within(endpoint, WAIT)
    }

    /// Waits up to `limit` for the next payload at `endpoint`.
    pub fn recv_within(&self, endpoint: &str, limit: Duration) -> Vec<u8> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((200, body)) = self.get(&format!("/recv?endpoint={endpoint}")) {
                return body;
            }
            assert!(Instant::now() < deadline, "nothing arrived at {endpoint}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_until(&self, what: &str, f: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !f(&self.status()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A free UDP port on loopback.
pub fn free_udp_port() -> u16 {
    free_port()
}

/// The standard output of a command that must have succeeded (else its error output).
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `dtnctl` with `args` against this node's API.
pub fn dtnctl(node: &Node, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dtnctl"))
        .arg("--api")
        .arg(node.url(""))
        .args(args)
        .output()
        .unwrap()
}

/// Runs `dtnctl` without a node (offline subcommands).
pub fn dtnctl_offline(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_dtnctl"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dtnctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn send_sigkill(pid: u32) {
    // SIGKILL through the kill(1) command keeps this test free of unsafe code.
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
