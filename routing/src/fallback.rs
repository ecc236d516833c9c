//! Two routers in turn: a primary (contact graph routing over a plan) routes the
//! destinations it knows (the nodes its plan names), and a fallback (static routes) the
//! rest. A known destination without a route now waits for one: handing it to the fallback
//! would send it away from the contact it waits for (and, with a default route, round in a
//! loop).

use bundle_agent::agent::{ContactView, Explanation, NextHop, RouteRequest, Router};
use bundle_agent::wire::{BundleId, DtnTime, Eid};

/// `primary`, then `fallback` where the primary knows no way.
#[derive(Debug)]
pub struct WithFallback<P, F> {
    primary: P,
    fallback: F,
}

impl<P: Router, F: Router> WithFallback<P, F> {
    /// Routes by `primary` what it [knows](Router::knows), by `fallback` the rest.
    pub fn new(primary: P, fallback: F) -> Self {
        Self { primary, fallback }
    }
}

impl<P: Router, F: Router> Router for WithFallback<P, F> {
    fn next_hop(
        &mut self,
        now: DtnTime,
        bundle: &RouteRequest<'_>,
        up: &dyn Fn(&Eid) -> bool,
    ) -> NextHop {
        if self.primary.knows(bundle.destination) {
            self.primary.next_hop(now, bundle, up)
        } else {
            self.fallback.next_hop(now, bundle, up)
        }
    }

    fn link_up(&mut self, now: DtnTime, peer: &Eid) {
        self.primary.link_up(now, peer);
        self.fallback.link_up(now, peer);
    }

    fn link_down(&mut self, now: DtnTime, peer: &Eid) {
        self.primary.link_down(now, peer);
        self.fallback.link_down(now, peer);
    }

    fn sent(&mut self, now: DtnTime, id: &BundleId, peer: &Eid, ok: bool) {
        self.primary.sent(now, id, peer, ok);
        self.fallback.sent(now, id, peer, ok);
    }

    fn forget(&mut self, id: &BundleId) {
        self.primary.forget(id);
        self.fallback.forget(id);
    }

    fn explain(
        &mut self,
        now: DtnTime,
        destination: &Eid,
        size: u64,
        deadline: DtnTime,
        up: &dyn Fn(&Eid) -> bool,
    ) -> Explanation {
        if self.primary.knows(destination) {
            return self.primary.explain(now, destination, size, deadline, up);
        }
        let mut second = self.fallback.explain(now, destination, size, deadline, up);
        second.notes.insert(
            0,
            format!("{destination} is not in the plan: the fallback routes it"),
        );
        second
    }

    fn contacts(&self) -> Vec<ContactView> {
        self.primary.contacts()
    }

    fn poll_message(&mut self) -> Option<(Eid, Vec<u8>)> {
        self.primary
            .poll_message()
            .or_else(|| self.fallback.poll_message())
    }

    fn on_message(&mut self, now: DtnTime, from: &Eid, payload: &[u8]) {
        self.primary.on_message(now, from, payload);
        self.fallback.on_message(now, from, payload);
    }
}
