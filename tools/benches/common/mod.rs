//! What the benchmarks share: our `dtnd` started on loopback, and an HTTP client.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP client that returns error statuses as responses.
pub fn http() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::config::Config::builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build(),
    )
}

/// Waits until something listens on `port`.
pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Our `dtnd` with node ID `id`, TCPCL and API on these ports, a session to `peer`.
pub fn dtnd_node(
    dir: &Path,
    id: &str,
    tcpcl: u16,
    api: u16,
    peer: Option<u16>,
    extra: &[&str],
) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dtnd"));
    cmd.args(["--node-id", id, "--data-dir"])
        .arg(dir.join(id.replace([':', '.', '/'], "_")))
        .args(["--tcpcl-listen", &format!("127.0.0.1:{tcpcl}")])
        .args(["--api-listen", &format!("127.0.0.1:{api}")])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = peer {
        cmd.args(["--peer", &format!("127.0.0.1:{p}")]);
    }
    let p = Proc(cmd.spawn().unwrap());
    wait_port(api);
    p
}
