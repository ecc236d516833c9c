//! The echo service every `dtnd` runs, for `dtnctl ping`: a bundle sent to a node's echo
//! endpoint comes back to its source with the same payload. The endpoint is service 7 of an
//! `ipn` node (7 as in the UDP/TCP echo port) or `dtn://name/echo`.

use bundle_agent::wire::{BundleBuilder, CreationTimestamp, DtnTime, Eid};

/// The echo endpoint of `node`.
pub fn endpoint(node: &Eid) -> Eid {
    node.service(7, "echo")
}

/// The answer to an echo request from `requester`: the payload back, from `echo`.
pub fn reply(
    echo: &Eid,
    requester: &Eid,
    payload: &[u8],
    now: DtnTime,
    sequence: u64,
) -> Option<Vec<u8>> {
    if requester.is_null() {
        return None;
    }
    BundleBuilder::new(
        requester.clone(),
        echo.clone(),
        CreationTimestamp::new(now, sequence),
    )
    .lifetime_ms(3_600_000)
    .hop_count(32, 0)
    .payload(payload)
    .build()
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_endpoints() {
        assert_eq!(endpoint(&Eid::ipn(4, 0)).to_string(), "ipn:4.7");
        let d: Eid = "dtn://pod7/".parse().unwrap();
        assert_eq!(endpoint(&d).to_string(), "dtn://pod7/echo");
    }
}
