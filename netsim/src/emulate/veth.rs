//! The `ip` runner (iproute2) the emulator's namespaces and veths, and the tests of link
//! layers, share.

use std::process::Command;

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
