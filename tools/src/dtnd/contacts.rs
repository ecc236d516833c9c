//! Scheduled contacts: `dtnd` loads a contact plan, routes with contact graph routing over
//! it (unless another router is chosen: then the plan only schedules links), and opens a
//! TCPCL or QUIC session to each neighbour only while the plan has a contact from
//! this node to it (closing the session when the contact ends). LTP peers the plan names
//! are told of each contact instead (its light time and rate), so LTP suspends its timers
//! between contacts rather than closing anything. Bundles wait durably in the
//! store in between: the router names the time their contact opens and the agent asks
//! again then.
//!
//! The plan is read from a file at start and again on request (`POST /contacts/reload`,
//! `dtnctl contacts reload`, or SIGHUP): a plan that does not validate is refused with the
//! error and the running one stays.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bundle_agent::agent::RouteTable;
use bundle_agent::wire::{DtnTime, Eid};
use routing::{CgrRouter, ContactPlan, WithFallback};
use tokio::sync::{mpsc, watch, Mutex};

use super::core::CoreMsg;
use super::links::{keep_peer, Dial, LinkIds};
use crate::cli_io::dtn_now;

/// Reads a contact plan: ours in TOML (`.toml`) or JSON (`.json`; an HDTN plan is
/// recognised by its `contacts` key), or an ION `ionrc` (anything else; its `+S` times count
/// from `now`).
pub fn load_plan(path: &Path, now: DtnTime) -> anyhow::Result<ContactPlan> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let plan = match ext {
        "toml" => ContactPlan::from_toml(&text),
        "json" if text.contains("\"contacts\"") => routing::import::from_hdtn(&text, now),
        "json" => ContactPlan::from_json(&text),
        _ => routing::import::from_ion(&text, now),
    };
    plan.with_context(|| format!("contact plan {}", path.display()))
}

/// Where the plan comes from and who must hear of a new one.
#[derive(Debug)]
pub struct PlanSource {
    /// The plan file.
    pub path: PathBuf,
    /// This node's ID.
    pub node_id: Eid,
    /// The core, which routes with the plan.
    pub core: mpsc::Sender<CoreMsg>,
    /// The scheduler, which opens and closes links by the plan.
    pub schedule: watch::Sender<Arc<ContactPlan>>,
    /// One reload at a time.
    pub reloading: Mutex<()>,
    /// The static routes beside the plan when the node routes by the plan (contact graph
    /// routing); `None` when the plan only schedules links.
    pub cgr: Option<RouteTable>,
}

impl PlanSource {
    /// Reads the plan file again and puts the new plan in force; on any error the plan in
    /// force stays. Returns how many contacts the new plan has.
    pub async fn reload(&self) -> anyhow::Result<usize> {
        let _one = self.reloading.lock().await;
        let plan = load_plan(&self.path, dtn_now())?;
        let n = plan.contacts().len();
        if let Some(routes) = &self.cgr {
            let router = Box::new(WithFallback::new(
                CgrRouter::new(self.node_id.clone(), plan.clone()),
                routes.clone(),
            ));
            let (reply, done) = tokio::sync::oneshot::channel();
            self.core
                .send(CoreMsg::SetRouter { router, reply })
                .await
                .map_err(|_| anyhow::anyhow!("node is shutting down"))?;
            done.await
                .map_err(|_| anyhow::anyhow!("node is shutting down"))?;
        }
        self.schedule.send_replace(Arc::new(plan));
        tracing::info!(path = %self.path.display(), contacts = n, "contact plan reloaded");
        Ok(n)
    }
}

/// True while `plan` has a contact from `node` to `peer` at `now`.
fn contact_on(plan: &ContactPlan, node: &Eid, peer: &Eid, now: DtnTime) -> bool {
    plan.contacts()
        .iter()
        .any(|c| c.from == *node && c.to == *peer && c.start <= now && now < c.end)
}

/// The contact from `node` to `peer` at `now`, as (one-way light time, rate).
fn contact_now(plan: &ContactPlan, node: &Eid, peer: &Eid, now: DtnTime) -> Option<(u64, u64)> {
    plan.contacts()
        .iter()
        .find(|c| c.from == *node && c.to == *peer && c.start <= now && now < c.end)
        .map(|c| (c.owlt_ms, c.rate))
}

/// The next time after `now` a contact from `node` starts or ends.
fn next_change(plan: &ContactPlan, node: &Eid, now: DtnTime) -> Option<DtnTime> {
    plan.contacts()
        .iter()
        .filter(|c| c.from == *node)
        .flat_map(|c| [c.start, c.end])
        .filter(|t| *t > now)
        .min()
}

/// Opens a session to each neighbour in `peers` while the plan has a contact to it, and
/// closes it when the contact ends. Runs until the core is gone.
pub async fn schedule(
    node: Eid,
    peers: Vec<(Eid, SocketAddr, Dial)>,
    ltp: Vec<Eid>,
    mut plan: watch::Receiver<Arc<ContactPlan>>,
    ids: LinkIds,
    core: mpsc::Sender<CoreMsg>,
) {
    // Per neighbour in contact: the switch that stops its reconnecting.
    let mut open: BTreeMap<Eid, watch::Sender<bool>> = BTreeMap::new();
    // Per LTP peer: the contact told to the core last (none at start).
    let mut ltp_state: BTreeMap<Eid, Option<(u64, u64)>> =
        ltp.iter().map(|n| (n.clone(), None)).collect();
    loop {
        let now = dtn_now();
        let current = plan.borrow_and_update().clone();
        for (peer, told) in ltp_state.iter_mut() {
            let c = contact_now(&current, &node, peer, now);
            if c != *told {
                tracing::info!(%peer, contact = ?c, "LTP contact changes");
                *told = c;
                let msg = CoreMsg::LtpContact {
                    node: peer.clone(),
                    contact: c,
                };
                if core.send(msg).await.is_err() {
                    return;
                }
            }
        }
        for (peer, addr, dial) in &peers {
            let on = contact_on(&current, &node, peer, now);
            match (on, open.contains_key(peer)) {
                (true, false) => {
                    tracing::info!(%peer, %addr, "contact begins: opening a session");
                    let (stop, stopped) = watch::channel(false);
                    open.insert(peer.clone(), stop);
                    tokio::spawn(keep_peer(
                        *addr,
                        dial.clone(),
                        ids.clone(),
                        core.clone(),
                        Some(stopped),
                    ));
                }
                (false, true) => {
                    tracing::info!(%peer, %addr, "contact ends: closing the session");
                    if let Some(stop) = open.remove(peer) {
                        stop.send_replace(true);
                    }
                    if core
                        .send(CoreMsg::Disconnect { addr: *addr })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                _ => {}
            }
        }
        if core.is_closed() {
            return;
        }
        // Sleep until the next contact boundary (checked at least every minute, and at once
        // when a new plan arrives).
        let wait_ms = next_change(&current, &node, now)
            .map_or(60_000, |t| t.0.saturating_sub(now.0))
            .clamp(1, 60_000);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
            changed = plan.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_from_this_node_switch_links() {
        let plan = ContactPlan::from_toml(
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 10\nend = 20\nrate = 1000\n\
             [[contact]]\nfrom = \"ipn:2.0\"\nto = \"ipn:1.0\"\nstart = 0\nend = 50\nrate = 1000\n",
        )
        .unwrap();
        let (a, b) = (Eid::ipn(1, 0), Eid::ipn(2, 0));
        assert!(!contact_on(&plan, &a, &b, DtnTime(9_999)));
        assert!(contact_on(&plan, &a, &b, DtnTime(10_000)));
        assert!(
            !contact_on(&plan, &a, &b, DtnTime(20_000)),
            "the end is exclusive"
        );
        assert_eq!(next_change(&plan, &a, DtnTime(0)), Some(DtnTime(10_000)));
        assert_eq!(
            next_change(&plan, &a, DtnTime(10_000)),
            Some(DtnTime(20_000))
        );
        assert_eq!(next_change(&plan, &a, DtnTime(20_000)), None);
        assert_eq!(next_change(&plan, &b, DtnTime(0)), Some(DtnTime(50_000)));
    }

    #[test]
    fn plans_load_by_format_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("plan.toml");
        std::fs::write(
            &toml,
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 0\nend = 10\nrate = 1\n",
        )
        .unwrap();
        assert_eq!(load_plan(&toml, DtnTime(0)).unwrap().contacts().len(), 1);
        let ion = dir.path().join("plan.ionrc");
        std::fs::write(&ion, "a contact +0 +60 1 2 1000\na range +0 +60 1 2 1\n").unwrap();
        let plan = load_plan(&ion, DtnTime(5_000)).unwrap();
        assert_eq!(
            plan.contacts()[0].start,
            DtnTime(5_000),
            "+S counts from now"
        );
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[[contact]]\nfrom = \"ipn:1.0\"\nto = \"ipn:2.0\"\nstart = 10\nend = 5\nrate = 1\n",
        )
        .unwrap();
        let e = format!("{:#}", load_plan(&bad, DtnTime(0)).unwrap_err());
        assert!(e.contains("bad.toml"), "{e}");
    }
}
