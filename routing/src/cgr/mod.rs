//! Contact graph routing in the manner of CCSDS SABR (734.3-B-1): routes are sequences of
//! contacts from the plan, searched for the earliest arrival at the destination (Dijkstra
//! over the contact graph), with one-way light time, the residual volume of each contact
//! (what bundles already booked on it leave), and the bundle's deadline (its expiry).
//! Alternatives come from Yen's k shortest paths. Routes are cached per (node, destination)
//! and re-checked for each bundle; the cache is used only when it provably still holds the
//! earliest route (see [`cache`]). Every answer carries its explanation: the chosen route
//! with its contacts and times, the alternatives, and the contacts rejected and why.

mod cache;
mod router;
mod search;
mod yen;

pub use router::CgrRouter;

use std::collections::{BTreeMap, BTreeSet};

use bundle_agent::wire::{DtnTime, Eid};

use crate::plan::{Contact, ContactId, ContactPlan};

/// What to route: a bundle of `size` bytes at node `from`, at time `now`, for node `to`,
/// which must arrive by `deadline` (its expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteQuery {
    /// The node the bundle is at.
    pub from: Eid,
    /// The destination node.
    pub to: Eid,
    /// The time of the decision.
    pub now: DtnTime,
    /// The bundle's size in bytes.
    pub size: u64,
    /// The latest acceptable arrival (the bundle's expiry).
    pub deadline: DtnTime,
}

/// One contact of a route, with its times for this bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// The contact.
    pub contact: ContactId,
    /// Its sending node.
    pub from: Eid,
    /// Its receiving node.
    pub to: Eid,
    /// When the bundle starts going out on it.
    pub send_at: DtnTime,
    /// When the bundle has fully arrived at `to`.
    pub arrive_at: DtnTime,
}

/// A route: the contacts a bundle takes, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The hops.
    pub hops: Vec<Hop>,
    /// When the bundle arrives at the destination.
    pub arrival: DtnTime,
    /// The product of the contacts' confidences.
    pub confidence: f64,
}

impl Route {
    /// The next node: where this node sends the bundle.
    pub fn next_hop(&self) -> Option<&Eid> {
        self.hops.first().map(|h| &h.to)
    }

    /// When this node sends the bundle.
    pub fn send_at(&self) -> Option<DtnTime> {
        self.hops.first().map(|h| h.send_at)
    }

    /// The contacts, in order.
    pub fn contacts(&self) -> Vec<ContactId> {
        self.hops.iter().map(|h| h.contact).collect()
    }
}

/// Why a contact could not carry the bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The contact is over by the time the bundle could use it.
    Ended {
        /// When it ended.
        at: DtnTime,
    },
    /// Too little volume left (bundles already booked on it, or a contact too short).
    TooSmall {
        /// Bytes it can still carry.
        residual: u64,
        /// Bytes the bundle needs.
        needed: u64,
    },
    /// The contact ends before the whole bundle could be sent.
    NoTimeToSend {
        /// When sending could start.
        from: DtnTime,
        /// When the contact ends.
        end: DtnTime,
    },
    /// The bundle would arrive after its deadline.
    TooLate {
        /// When it would arrive.
        arrival: DtnTime,
        /// Its deadline.
        deadline: DtnTime,
    },
    /// The contact failed or was removed from the plan.
    Removed,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Ended { at } => write!(f, "ended at {} ms", at.0),
            Rejection::TooSmall { residual, needed } => {
                write!(f, "volume: {residual} bytes left, {needed} needed")
            }
            Rejection::NoTimeToSend { from, end } => write!(
                f,
                "too short: sending could start at {} ms, the contact ends at {} ms",
                from.0, end.0
            ),
            Rejection::TooLate { arrival, deadline } => write!(
                f,
                "would arrive at {} ms, after the deadline {} ms",
                arrival.0, deadline.0
            ),
            Rejection::Removed => write!(f, "failed or removed"),
        }
    }
}

/// CGR's answer for one bundle, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingAnswer {
    /// The earliest-arriving route, if any.
    pub best: Option<Route>,
    /// Other routes, earliest first.
    pub alternatives: Vec<Route>,
    /// Contacts the search could not use, and why (the first reason met for each).
    pub rejected: Vec<(ContactId, Rejection)>,
    /// True when the answer came from the route cache.
    pub from_cache: bool,
}

/// Contact graph routing over one plan.
#[derive(Debug, Clone)]
pub struct Cgr {
    plan: ContactPlan,
    /// Each node's number, for the search's arrays.
    node_index: BTreeMap<Eid, usize>,
    /// Per contact: the numbers of its sending and receiving nodes.
    ends: Vec<(usize, usize)>,
    /// Contacts leaving each node (by node number), by start time.
    outgoing: Vec<Vec<ContactId>>,
    /// Bytes booked on each contact.
    booked: Vec<u64>,
    /// Contacts that failed or were removed.
    removed: Vec<bool>,
    /// How many routes to keep per destination (Yen's k).
    k: usize,
    cache: cache::RouteCache,
}

impl Cgr {
    /// CGR over `plan`, keeping up to `k` routes per destination (at least 1).
    pub fn new(plan: ContactPlan, k: usize) -> Self {
        let n = plan.contacts().len();
        let mut node_index: BTreeMap<Eid, usize> = BTreeMap::new();
        for c in plan.contacts() {
            for n in [&c.from, &c.to] {
                let next = node_index.len();
                node_index.entry(n.clone()).or_insert(next);
            }
        }
        let number = |n: &Eid| node_index.get(n).copied().unwrap_or(0);
        let ends: Vec<(usize, usize)> = plan
            .contacts()
            .iter()
            .map(|c| (number(&c.from), number(&c.to)))
            .collect();
        let mut outgoing: Vec<Vec<ContactId>> = vec![Vec::new(); node_index.len()];
        for (id, (from, _)) in ends.iter().enumerate() {
            if let Some(list) = outgoing.get_mut(*from) {
                list.push(id);
            }
        }
        Self {
            plan,
            node_index,
            ends,
            outgoing,
            booked: vec![0; n],
            removed: vec![false; n],
            k: k.max(1),
            cache: cache::RouteCache::default(),
        }
    }

    /// True when the plan has a contact to or from `node`.
    pub fn knows(&self, node: &Eid) -> bool {
        self.node_index.contains_key(node)
    }

    /// The plan.
    pub fn plan(&self) -> &ContactPlan {
        &self.plan
    }

    /// Bytes `id` can still carry.
    pub fn residual(&self, id: ContactId) -> u64 {
        let volume = self.plan.contact(id).map_or(0, Contact::volume);
        volume.saturating_sub(self.booked.get(id).copied().unwrap_or(0))
    }

    /// Answers served from the route cache, and computed afresh.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.cache.hits, self.cache.misses)
    }

    /// Books `size` bytes on every contact of `route` (the bundle was sent that way).
    pub fn book(&mut self, route: &Route, size: u64) {
        for h in &route.hops {
            if let Some(b) = self.booked.get_mut(h.contact) {
                *b = b.saturating_add(size);
            }
        }
    }

    /// A contact failed or was removed: no route uses it from now on.
    pub fn remove_contact(&mut self, id: ContactId) {
        if let Some(r) = self.removed.get_mut(id) {
            *r = true;
        }
        self.cache.clear();
    }

    /// The earliest-arriving route for a bundle, as the router needs it for forwarding:
    /// from the route cache when it provably holds it, else by one search for this bundle
    /// (the cache entry is refilled, with alternatives, only now and then). The same route
    /// [`Cgr::route`] would choose; no alternatives or explanations.
    pub fn best_route(&mut self, q: &RouteQuery) -> Option<Route> {
        let mut cache = std::mem::take(&mut self.cache);
        let cached = cache.lookup(self, q);
        let bypass = cached.is_none() && cache.bypass(q);
        self.cache = cache;
        if let Some(answer) = cached {
            self.cache.hits += 1;
            return answer.best;
        }
        if !bypass {
            return self.route(q).best;
        }
        self.cache.misses += 1;
        let (no_contacts, no_nodes) = (BTreeSet::new(), BTreeSet::new());
        let start = search::Start {
            node: &q.from,
            ready: q.now,
            excluded: &no_contacts,
            avoid: &no_nodes,
        };
        let path = self.earliest(&start, q, None)?;
        self.evaluate(&path, q).ok()
    }

    /// A contact removed as failed is back (its link came up again while it lasts).
    pub fn restore_contact(&mut self, id: ContactId) {
        if let Some(r) = self.removed.get_mut(id) {
            *r = false;
        }
        self.cache.clear();
    }

    /// True when `id` failed or was removed.
    pub fn is_removed(&self, id: ContactId) -> bool {
        self.removed.get(id).copied().unwrap_or(false)
    }

    /// Routes a bundle: the earliest-arriving route and alternatives, explained.
    pub fn route(&mut self, q: &RouteQuery) -> RoutingAnswer {
        let mut cache = std::mem::take(&mut self.cache);
        let cached = cache.lookup(self, q);
        self.cache = cache;
        if let Some(answer) = cached {
            self.cache.hits += 1;
            return answer;
        }
        self.cache.misses += 1;
        // Refill the cache: the routes for the smallest bundle of this one's size class with
        // no deadline, now. They answer this bundle too when they provably hold its
        // earliest route.
        let open = RouteQuery {
            size: cache::size_class(q.size),
            deadline: DtnTime(u64::MAX),
            ..q.clone()
        };
        let mut open_rejected = BTreeMap::new();
        let open_paths = self.k_routes(&open, Some(&mut open_rejected));
        let mut cache = std::mem::take(&mut self.cache);
        cache.store(self, &open, open_paths);
        let refilled = cache.lookup(self, q);
        self.cache = cache;
        if let Some(mut answer) = refilled {
            // What the search itself ruled out explains the answer too (sizes as this
            // bundle's, not its class's).
            let mut rejected: BTreeMap<ContactId, Rejection> =
                answer.rejected.into_iter().collect();
            for (id, why) in open_rejected {
                let why = match why {
                    Rejection::TooSmall { residual, .. } => Rejection::TooSmall {
                        residual,
                        needed: q.size,
                    },
                    other => other,
                };
                rejected.entry(id).or_insert(why);
            }
            answer.rejected = rejected.into_iter().collect();
            answer.from_cache = false;
            return answer;
        }
        // This bundle's own routes (its size or deadline rule out the open ones).
        let mut rejected = BTreeMap::new();
        let paths = self.k_routes(q, Some(&mut rejected));
        let mut routes: Vec<Route> = paths
            .iter()
            .filter_map(|p| self.evaluate(p, q).ok())
            .collect();
        routes.sort_by(route_order);
        let mut routes = routes.into_iter();
        RoutingAnswer {
            best: routes.next(),
            alternatives: routes.collect(),
            rejected: rejected.into_iter().collect(),
            from_cache: false,
        }
    }

    /// Follows `path` for the bundle of `q`: its hops and arrival, or the first contact that
    /// cannot carry it and why.
    pub fn evaluate(
        &self,
        path: &[ContactId],
        q: &RouteQuery,
    ) -> Result<Route, (ContactId, Rejection)> {
        let mut at = q.now;
        let mut node = &q.from;
        let mut hops = Vec::with_capacity(path.len());
        let mut confidence = 1.0;
        for &id in path {
            let Some(c) = self.plan.contact(id) else {
                return Err((id, Rejection::Removed));
            };
            if &c.from != node {
                return Err((id, Rejection::Removed));
            }
            let (send_at, arrive_at) = self.hop_times(id, c, at, q.size, q.deadline)?;
            hops.push(Hop {
                contact: id,
                from: c.from.clone(),
                to: c.to.clone(),
                send_at,
                arrive_at,
            });
            confidence *= c.confidence;
            at = arrive_at;
            node = &c.to;
        }
        if node != &q.to || hops.is_empty() {
            return Err((path.last().copied().unwrap_or(0), Rejection::Removed));
        }
        Ok(Route {
            hops,
            arrival: at,
            confidence,
        })
    }

    /// When a bundle of `size` bytes ready at `ready` goes out on contact `id` and when it
    /// has arrived, or why it cannot use the contact.
    fn hop_times(
        &self,
        id: ContactId,
        c: &Contact,
        ready: DtnTime,
        size: u64,
        deadline: DtnTime,
    ) -> Result<(DtnTime, DtnTime), (ContactId, Rejection)> {
        if self.removed.get(id).copied().unwrap_or(true) {
            return Err((id, Rejection::Removed));
        }
        let send_at = ready.max(c.start);
        if send_at >= c.end {
            return Err((id, Rejection::Ended { at: c.end }));
        }
        let residual = self.residual(id);
        if residual < size {
            return Err((
                id,
                Rejection::TooSmall {
                    residual,
                    needed: size,
                },
            ));
        }
        let sent = send_at.0.saturating_add(c.transmit_ms(size));
        if sent > c.end.0 {
            return Err((
                id,
                Rejection::NoTimeToSend {
                    from: send_at,
                    end: c.end,
                },
            ));
        }
        let arrive_at = DtnTime(sent.saturating_add(c.owlt_ms));
        if arrive_at > deadline {
            return Err((
                id,
                Rejection::TooLate {
                    arrival: arrive_at,
                    deadline,
                },
            ));
        }
        Ok((send_at, arrive_at))
    }
}

/// Earliest arrival first, then fewer hops, then more confidence, then contact order: a
/// total order, so answers are deterministic.
fn route_order(a: &Route, b: &Route) -> std::cmp::Ordering {
    a.arrival
        .cmp(&b.arrival)
        .then(a.hops.len().cmp(&b.hops.len()))
        .then(b.confidence.total_cmp(&a.confidence))
        .then(a.contacts().cmp(&b.contacts()))
}
