//! Contact graph routing as the agent's [`Router`]: each bundle gets the earliest-arriving
//! route of the plan that can carry it before it expires, its volume is booked on every
//! contact of that route, and the first hop tells the agent whom to send it to and when.
//!
//! A decision is kept per bundle, so asking again (links changed, a timer) gives the same
//! answer and books nothing twice; it is dropped when the bundle leaves, when a transmission
//! fails (the next question finds another route) and when its first contact is over.
//! A destination the plan cannot reach now is still reached over a link to it that happens
//! to be up: a live link beats a plan.
//!
//! A link that goes down while the plan says its contact is on is a failed contact: the
//! contact is removed from routing (bundles decided over it are routed again, another way
//! if there is one) until the link comes back while the contact lasts.

use std::collections::HashMap;

use bundle_agent::agent::{
    ContactView, Explanation, NextHop, PlannedHop, PlannedRoute, RouteRequest, Router,
};
use bundle_agent::wire::{BundleId, DtnTime, Eid};

use super::{Cgr, Route, RouteQuery};
use crate::plan::ContactPlan;

/// Routes kept per destination (Yen's k).
const ALTERNATIVES: usize = 3;

/// Contact graph routing for one node.
#[derive(Debug)]
pub struct CgrRouter {
    node: Eid,
    cgr: Cgr,
    /// The route each bundle was given, until it leaves or its first contact ends.
    decided: HashMap<BundleId, Route>,
}

impl CgrRouter {
    /// CGR for the node `node` over `plan`.
    pub fn new(node: Eid, plan: ContactPlan) -> Self {
        Self {
            node,
            cgr: Cgr::new(plan, ALTERNATIVES),
            decided: HashMap::new(),
        }
    }

    /// The routing engine, for inspection.
    pub fn cgr(&self) -> &Cgr {
        &self.cgr
    }

    /// The answer a route gives now: its first hop, now or at its send time.
    fn answer(route: &Route, now: DtnTime) -> NextHop {
        match route.hops.first() {
            Some(h) if h.send_at <= now => NextHop::Now(h.to.clone()),
            Some(h) => NextHop::Later {
                via: h.to.clone(),
                at: h.send_at,
            },
            None => NextHop::Unknown,
        }
    }

    /// True while `route` can still be followed: no contact of it failed, and its first
    /// contact has not ended.
    fn still_open(&self, route: &Route, now: DtnTime) -> bool {
        route.hops.iter().all(|h| !self.cgr.is_removed(h.contact))
            && route
                .hops
                .first()
                .and_then(|h| self.cgr.plan().contact(h.contact))
                .is_some_and(|c| c.end > now)
    }

    /// This node's contacts to `peer` that are on at `now`.
    fn on_to(&self, peer: &Eid, now: DtnTime) -> Vec<usize> {
        self.cgr
            .plan()
            .contacts()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.from == self.node && c.to == *peer && c.start <= now && now < c.end)
            .map(|(id, _)| id)
            .collect()
    }
}

fn planned(route: &Route) -> PlannedRoute {
    PlannedRoute {
        hops: route
            .hops
            .iter()
            .map(|h| PlannedHop {
                contact: Some(h.contact),
                from: h.from.clone(),
                to: h.to.clone(),
                send_at: h.send_at,
                arrive_at: h.arrive_at,
            })
            .collect(),
        arrival: route.arrival,
        confidence: route.confidence,
    }
}

impl Router for CgrRouter {
    fn knows(&self, destination: &Eid) -> bool {
        self.cgr.knows(&destination.node_id())
    }

    fn next_hop(
        &mut self,
        now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop {
        if let Some(route) = self.decided.get(bundle.id) {
            if self.still_open(route, now) {
                return Self::answer(route, now);
            }
            self.decided.remove(bundle.id);
        }
        let to = bundle.destination.node_id();
        let best = self.cgr.best_route(&RouteQuery {
            from: self.node.clone(),
            to: to.clone(),
            now,
            size: bundle.size,
            deadline: bundle.expires_at,
        });
        match best {
            Some(route) => {
                self.cgr.book(&route, bundle.size);
                let next = Self::answer(&route, now);
                self.decided.insert(bundle.id.clone(), route);
                next
            }
            None if up(&to) => NextHop::Now(to),
            None => NextHop::Unknown,
        }
    }

    fn link_down(&mut self, now: DtnTime, peer: &Eid) {
        for id in self.on_to(peer, now) {
            self.cgr.remove_contact(id);
        }
    }

    fn link_up(&mut self, now: DtnTime, peer: &Eid) {
        for id in self.on_to(peer, now) {
            if self.cgr.is_removed(id) {
                self.cgr.restore_contact(id);
            }
        }
    }

    fn sent(&mut self, _now: DtnTime, id: &BundleId, _peer: &Eid, _ok: bool) {
        // Sent: nothing more to decide. Failed: the next question routes afresh (the volume
        // booked stays booked: the plan cannot know how much of it the failure used).
        self.decided.remove(id);
    }

    fn forget(&mut self, id: &BundleId) {
        self.decided.remove(id);
    }

    fn explain(
        &mut self,
        now: DtnTime,
        destination: &Eid,
        size: u64,
        deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation {
        let to = destination.node_id();
        let answer = self.cgr.route(&RouteQuery {
            from: self.node.clone(),
            to: to.clone(),
            now,
            size,
            deadline,
        });
        let plan = self.cgr.plan();
        let rejected = answer
            .rejected
            .iter()
            .map(|(id, why)| match plan.contact(*id) {
                Some(c) => format!(
                    "contact {id} ({} -> {}, {} .. {} ms): {why}",
                    c.from, c.to, c.start.0, c.end.0
                ),
                None => format!("contact {id}: {why}"),
            })
            .collect();
        let mut notes = Vec::new();
        if answer.from_cache {
            notes.push("answered from the route cache".to_string());
        }
        let next_hop = match &answer.best {
            Some(route) => route.next_hop().cloned(),
            None if up(&to) => {
                notes.push(format!(
                    "no planned route to {to}, but a link to it is up: sent over that link"
                ));
                Some(to.clone())
            }
            None => {
                notes.push(format!(
                    "no route in the plan reaches {to} from {} before {} ms: the bundle waits",
                    self.node, deadline.0
                ));
                None
            }
        };
        Explanation {
            router: "cgr".into(),
            next_hop,
            chosen: answer.best.as_ref().map(planned),
            alternatives: answer.alternatives.iter().map(planned).collect(),
            rejected,
            notes,
        }
    }

    fn contacts(&self) -> Vec<ContactView> {
        self.cgr
            .plan()
            .contacts()
            .iter()
            .enumerate()
            .map(|(id, c)| ContactView {
                id,
                from: c.from.clone(),
                to: c.to.clone(),
                start: c.start,
                end: c.end,
                rate: c.rate,
                owlt_ms: c.owlt_ms,
                confidence: c.confidence,
                residual: self.cgr.residual(id),
            })
            .collect()
    }
}
