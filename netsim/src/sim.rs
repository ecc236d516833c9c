//! The simulator: every node runs the real [`Agent`] over an in-memory store with its real
//! router, in virtual time. An event queue holds what happens next (a timer, a link going up
//! or down, a bundle arriving, an acknowledgement, an application sending) and the clock
//! jumps from one event to the next. Ties are broken by the order events were scheduled and
//! every random draw comes from a seeded stream, so a scenario and a seed always give the
//! same run, to the byte.
//!
//! Transfers behave like a reliable convergence layer: a bundle takes its transmission time
//! at the link's rate (queued behind the bundles before it) plus the link's delay; the
//! receiving agent acknowledges it once stored, and the acknowledgement takes the delay back.
//! A bundle lost on the link, or cut by the link going down, is a failed transmission for
//! the sender, which keeps the bundle and routes it again.

// Node, link and flow numbers are made by the scenario loader, which checked every one, and
// the simulator's vectors are built from the scenario and never shrink: indexing them cannot
// fail.
#![allow(clippy::indexing_slicing)]

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use bundle_agent::agent::{Action, Agent, AgentConfig, AgentError, Event, Router};
use bundle_agent::store::{BundleStore, DeliveryMode, MemoryStore, Registration};
use bundle_agent::wire::{
    BundleBuilder, BundleId, BundleView, CreationTimestamp, DecodeOptions, DtnTime,
};
use routing::{
    CgrRouter, EpidemicRouter, ProphetParams, ProphetRouter, SprayAndWaitRouter, WithFallback,
};

use crate::report::{Observations, Report};
use crate::rng::Rng;
use crate::scenario::{RouterSpec, Scenario, Schedule};
use crate::twins::SimTwins;

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// An agent failed (its store).
    #[error("node {node}: {source}")]
    Agent {
        /// The node.
        node: String,
        /// What failed.
        source: AgentError,
    },
    /// A twin service failed to open.
    #[error("twins: {0}")]
    Twins(String),
}

#[derive(Debug)]
enum Ev {
    Timer(usize),
    Link {
        link: usize,
        up: bool,
    },
    Arrive {
        link: usize,
        from: usize,
        to: usize,
        id: BundleId,
        bytes: Vec<u8>,
        generation: u64,
    },
    Ack {
        node: usize,
        link: usize,
        id: BundleId,
        ok: bool,
        generation: u64,
    },
    Traffic(usize),
    /// The next edit of a twin edit stream.
    TwinEdit(usize),
    Sample,
}

#[derive(Debug)]
struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Earliest first (the heap is a max-heap), then in the order scheduled.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The fewest transmissions a link's window allows (its bytes: a second of the link's time,
/// or twice the bandwidth-delay product).
const MIN_WINDOW: usize = 4;

/// A transfer a node received and has not acknowledged yet.
#[derive(Debug)]
struct Unacked {
    from: usize,
    link: usize,
    id: BundleId,
    generation: u64,
}

#[derive(Debug)]
struct Node {
    agent: Agent<MemoryStore>,
    timer_at: Option<u64>,
    unacked: BTreeMap<u64, Unacked>,
    sequence: u64,
    peak_bytes: u64,
}

#[derive(Debug)]
struct Link {
    up: bool,
    /// Changes at every up and down: transfers from an earlier generation were cut.
    generation: u64,
    /// Per direction (a to b, b to a): when the link is free to send again.
    busy_until: [u64; 2],
    rng: Rng,
}

/// A run of one scenario.
#[derive(Debug)]
pub struct Simulator {
    scenario: Scenario,
    nodes: Vec<Node>,
    links: Vec<Link>,
    flow_rngs: Vec<Rng>,
    queue: BinaryHeap<Queued>,
    seq: u64,
    now: u64,
    end: u64,
    next_token: u64,
    obs: Observations,
    twins: Option<SimTwins>,
}

fn make_router(
    spec: &RouterSpec,
    scenario: &Scenario,
    node: &bundle_agent::wire::Eid,
) -> Box<dyn Router> {
    match spec {
        RouterSpec::Static(table) => Box::new(table.clone()),
        RouterSpec::Cgr(fallback) => match &scenario.plan {
            Some(plan) => Box::new(WithFallback::new(
                CgrRouter::new(node.clone(), plan.clone()),
                fallback.clone(),
            )),
            None => Box::new(fallback.clone()),
        },
        RouterSpec::Epidemic => Box::new(EpidemicRouter::new(node.clone())),
        RouterSpec::SprayAndWait(copies) => {
            Box::new(SprayAndWaitRouter::new(node.clone(), *copies))
        }
        RouterSpec::Prophet => Box::new(ProphetRouter::new(node.clone(), ProphetParams::default())),
    }
}

impl Simulator {
    /// A run of `scenario` with its seed.
    pub fn new(scenario: Scenario) -> Result<Self, SimError> {
        let start = scenario.start().0;
        let mut nodes = Vec::with_capacity(scenario.nodes.len());
        for n in &scenario.nodes {
            let agent = Agent::new(
                AgentConfig {
                    node_id: n.id.clone(),
                    decode: DecodeOptions::default(),
                },
                MemoryStore::new(scenario.store_quota),
                make_router(&n.router, &scenario, &n.id),
            )
            .map_err(|source| SimError::Agent {
                node: n.id.to_string(),
                source,
            })?;
            nodes.push(Node {
                agent,
                timer_at: None,
                unacked: BTreeMap::new(),
                sequence: 0,
                peak_bytes: 0,
            });
        }
        let links = (0..scenario.links.len())
            .map(|i| Link {
                up: false,
                generation: 0,
                busy_until: [start; 2],
                rng: Rng::stream(scenario.seed, &format!("link {i}")),
            })
            .collect();
        let flow_rngs = (0..scenario.flows.len())
            .map(|i| Rng::stream(scenario.seed, &format!("flow {i}")))
            .collect();
        let obs = Observations::new(&scenario);
        let end = start.saturating_add(scenario.duration_ms);
        let twins = match &scenario.twins {
            Some(spec) => Some(
                SimTwins::open(
                    &scenario,
                    spec,
                    nodes.iter_mut().map(|n| n.agent.store_mut()),
                )
                .map_err(|e| SimError::Twins(e.to_string()))?,
            ),
            None => None,
        };
        let mut sim = Simulator {
            scenario,
            nodes,
            links,
            flow_rngs,
            queue: BinaryHeap::new(),
            seq: 0,
            now: start,
            end,
            next_token: 1,
            obs,
            twins,
        };
        sim.schedule_start()?;
        Ok(sim)
    }

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Registrations, the first link changes and the first bundle of every flow.
    fn schedule_start(&mut self) -> Result<(), SimError> {
        let start = self.now;
        for f in 0..self.scenario.flows.len() {
            let (to, node, first) = {
                let flow = &self.scenario.flows[f];
                (flow.to.clone(), flow.to_node, start + flow.start_ms)
            };
            self.with_node(node, |agent, now| {
                agent.handle(
                    now,
                    Event::Register(Registration {
                        endpoint: to.clone(),
                        mode: DeliveryMode::Active,
                    }),
                )
            })?;
            self.push(first, Ev::Traffic(f));
        }
        self.push(start, Ev::Sample);
        let twin_endpoints: Vec<(usize, bundle_agent::wire::Eid)> = self
            .twins
            .iter()
            .flat_map(|t| {
                (0..self.nodes.len()).filter_map(move |n| t.endpoint(n).map(|e| (n, e.clone())))
            })
            .collect();
        for (n, endpoint) in twin_endpoints {
            self.with_node(n, |agent, now| {
                agent.handle(
                    now,
                    Event::Register(Registration {
                        endpoint,
                        mode: DeliveryMode::Active,
                    }),
                )
            })?;
        }
        let streams = self
            .twins
            .as_ref()
            .map(SimTwins::streams)
            .unwrap_or_default();
        for (e, first) in streams.into_iter().enumerate() {
            self.push(start + first, Ev::TwinEdit(e));
        }
        for l in 0..self.scenario.links.len() {
            let spec = &self.scenario.links[l];
            match spec.schedule {
                Schedule::Always | Schedule::Outages => {
                    self.push(start, Ev::Link { link: l, up: true })
                }
                Schedule::Plan => {
                    for (from, to) in self.windows(l) {
                        self.push(from, Ev::Link { link: l, up: true });
                        self.push(to, Ev::Link { link: l, up: false });
                    }
                }
            }
        }
        Ok(())
    }

    /// The times link `l` is up by the plan: its contacts either way, merged.
    fn windows(&self, l: usize) -> Vec<(u64, u64)> {
        let spec = &self.scenario.links[l];
        let (a, b) = (
            &self.scenario.nodes[spec.a].id,
            &self.scenario.nodes[spec.b].id,
        );
        let mut w: Vec<(u64, u64)> = self
            .scenario
            .plan
            .iter()
            .flat_map(|p| p.contacts())
            .filter(|c| (c.from == *a && c.to == *b) || (c.from == *b && c.to == *a))
            .map(|c| (c.start.0, c.end.0))
            .collect();
        w.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in w {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    /// Runs `f` on node `n`'s agent at the current time, then commits and acts on what it
    /// asked for.
    fn with_node(
        &mut self,
        n: usize,
        f: impl FnOnce(&mut Agent<MemoryStore>, DtnTime) -> Result<(), AgentError>,
    ) -> Result<(), SimError> {
        let now = DtnTime(self.now);
        let agent = &mut self.nodes[n].agent;
        let result = f(agent, now).and_then(|()| agent.commit());
        if let Err(source) = result {
            return Err(SimError::Agent {
                node: self.scenario.nodes[n].id.to_string(),
                source,
            });
        }
        loop {
            let actions: Vec<Action> =
                std::iter::from_fn(|| self.nodes[n].agent.poll_action()).collect();
            for a in actions {
                self.act(n, a);
            }
            // Twin deltas (and acknowledgements) for what just happened leave as bundles.
            let deltas = match self.twins.as_mut() {
                Some(t) => t.outgoing(self.now, n),
                None => Vec::new(),
            };
            if deltas.is_empty() {
                break;
            }
            let agent = &mut self.nodes[n].agent;
            let result = deltas
                .into_iter()
                .try_for_each(|bytes| agent.handle(now, Event::AppSubmit { bytes, token: 0 }))
                .and_then(|()| agent.commit());
            if let Err(source) = result {
                return Err(SimError::Agent {
                    node: self.scenario.nodes[n].id.to_string(),
                    source,
                });
            }
        }
        let twin_timeout = self.twins.as_ref().and_then(|t| t.next_timeout(n));
        let node = &mut self.nodes[n];
        node.peak_bytes = node.peak_bytes.max(node.agent.store().usage().bytes);
        let agent_timeout = node.agent.next_timeout().map(|t| t.0);
        let timeout = match (agent_timeout, twin_timeout) {
            (Some(a), Some(b)) => Some(DtnTime(a.min(b))),
            (a, b) => a.or(b).map(DtnTime),
        };
        if let Some(t) = timeout {
            // A timeout already due (a bundle in flight past its lifetime) is looked at again
            // a second later, like `dtnd`'s tick.
            let at = if t.0 <= self.now {
                self.now + 1000
            } else {
                t.0
            };
            if node.timer_at.is_none_or(|x| x <= self.now || at < x) {
                node.timer_at = Some(at);
                self.push(at, Ev::Timer(n));
            }
        }
        Ok(())
    }

    /// One-way delay from node `from` to node `to` over link `l` now: the light time of the
    /// plan's contact that is on, for links scheduled by the plan; else the link's delay.
    fn delay(&self, l: usize, from: usize, to: usize) -> u64 {
        let spec = &self.scenario.links[l];
        if spec.schedule == Schedule::Plan {
            let (a, b) = (&self.scenario.nodes[from].id, &self.scenario.nodes[to].id);
            let now = self.now;
            if let Some(c) = self
                .scenario
                .plan
                .iter()
                .flat_map(|p| p.contacts())
                .find(|c| c.from == *a && c.to == *b && c.start.0 <= now && now < c.end.0)
            {
                return c.owlt_ms;
            }
        }
        spec.model.delay_ms
    }

    fn act(&mut self, n: usize, action: Action) {
        match action {
            Action::Transmit { link, id, bytes } => {
                self.transmit(n, link as usize, id, bytes.to_vec())
            }
            Action::Accept { token } => self.answer(n, token, true),
            Action::Refuse { token, .. } => self.answer(n, token, false),
            Action::Deliver {
                endpoint,
                id,
                payload,
            } => match self.twins.as_mut() {
                Some(t) if t.endpoint(n) == Some(&endpoint) => {
                    t.deliver(self.now, n, self.nodes[n].agent.store_mut(), &id, &payload);
                }
                _ => self.obs.delivered(&id, self.now),
            },
        }
    }

    /// Node `n` accepted (or refused) the transfer of `token`: the answer travels back to
    /// the sender over the link's delay.
    fn answer(&mut self, n: usize, token: u64, ok: bool) {
        if let Some(u) = self.nodes[n].unacked.remove(&token) {
            let delay = self.delay(u.link, n, u.from);
            self.push(
                self.now + delay,
                Ev::Ack {
                    node: u.from,
                    link: u.link,
                    id: u.id,
                    ok,
                    generation: u.generation,
                },
            );
        }
    }

    fn transmit(&mut self, n: usize, l: usize, id: BundleId, bytes: Vec<u8>) {
        let Some(spec) = self.scenario.links.get(l) else {
            return;
        };
        let (dir, other) = if spec.a == n {
            (0, spec.b)
        } else {
            (1, spec.a)
        };
        let model = spec.model.clone();
        let delay = self.delay(l, n, other);
        let link = &mut self.links[l];
        let generation = link.generation;
        if !link.up {
            self.push(
                self.now,
                Ev::Ack {
                    node: n,
                    link: l,
                    id,
                    ok: false,
                    generation,
                },
            );
            return;
        }
        let size = bytes.len() as u64;
        let start = self.now.max(link.busy_until[dir]);
        let done = start + model.transmit_ms(size);
        link.busy_until[dir] = done;
        let lost = model.lost(&mut link.rng, size);
        self.obs.transmitted(l, dir, size);
        if lost {
            self.obs.lost_on_link();
            // The sender learns of it when no acknowledgement comes.
            self.push(
                done + 2 * delay,
                Ev::Ack {
                    node: n,
                    link: l,
                    id,
                    ok: false,
                    generation,
                },
            );
        } else {
            self.push(
                done + delay,
                Ev::Arrive {
                    link: l,
                    from: n,
                    to: other,
                    id,
                    bytes,
                    generation,
                },
            );
        }
    }

    fn handle(&mut self, ev: Ev) -> Result<(), SimError> {
        match ev {
            Ev::Timer(n) => {
                if self.nodes[n].timer_at != Some(self.now) {
                    return Ok(()); // superseded
                }
                self.nodes[n].timer_at = None;
                self.with_node(n, |a, now| a.handle(now, Event::Timer))
            }
            Ev::Link { link, up } => self.link_change(link, up),
            Ev::Arrive {
                link,
                from,
                to,
                id,
                bytes,
                generation,
            } => {
                if self.links[link].generation != generation {
                    // Cut by the link going down (or down and up again) on the way.
                    self.push(
                        self.now,
                        Ev::Ack {
                            node: from,
                            link,
                            id,
                            ok: false,
                            generation,
                        },
                    );
                    return Ok(());
                }
                if self.scenario.nodes[to].id == self.obs.destination_node(&id) {
                    if let Ok(view) = BundleView::decode(&bytes) {
                        self.obs
                            .arrived(&id, view.hop_count().map_or(0, |h| h.count));
                    }
                }
                let token = self.next_token;
                self.next_token += 1;
                self.nodes[to].unacked.insert(
                    token,
                    Unacked {
                        from,
                        link,
                        id,
                        generation,
                    },
                );
                self.with_node(to, |a, now| {
                    a.handle(
                        now,
                        Event::Received {
                            link: link as u64,
                            bytes,
                            token,
                        },
                    )
                })
            }
            Ev::Ack {
                node,
                link,
                id,
                ok,
                generation,
            } => {
                let ok = ok && self.links[link].generation == generation;
                self.with_node(node, |a, now| {
                    a.handle(
                        now,
                        Event::Sent {
                            link: link as u64,
                            id,
                            ok,
                        },
                    )
                })
            }
            Ev::Traffic(f) => self.traffic(f),
            Ev::TwinEdit(e) => {
                let (now, node) = (
                    self.now,
                    self.scenario.twins.as_ref().map_or(0, |t| t.edits[e].node),
                );
                let next = match self.twins.as_mut() {
                    Some(t) => t.edit(now, e, self.nodes[node].agent.store_mut()),
                    None => None,
                };
                if let Some(at) = next {
                    self.push(at, Ev::TwinEdit(e));
                }
                self.with_node(node, |_, _| Ok(()))
            }
            Ev::Sample => {
                let mut stored: BTreeMap<String, u64> = BTreeMap::new();
                for (i, n) in self.nodes.iter().enumerate() {
                    *stored
                        .entry(self.scenario.nodes[i].tier.name().to_string())
                        .or_default() += n.agent.store().usage().bytes;
                }
                let start = self.scenario.start().0;
                self.obs.sample(self.now - start, stored);
                // About 200 samples a run.
                let step = (self.scenario.duration_ms / 200).max(1000);
                self.push(self.now + step, Ev::Sample);
                Ok(())
            }
        }
    }

    fn link_change(&mut self, l: usize, up: bool) -> Result<(), SimError> {
        let (a, b, model, schedule) = {
            let s = &self.scenario.links[l];
            (s.a, s.b, s.model.clone(), s.schedule)
        };
        if self.links[l].up == up {
            return Ok(());
        }
        let link = &mut self.links[l];
        link.up = up;
        link.generation += 1;
        link.busy_until = [self.now; 2];
        self.obs.link_change(l, up, self.now);
        if schedule == Schedule::Outages {
            if let Some((mean_up, mean_down)) = model.outages {
                let mean = if up { mean_up } else { mean_down };
                let next = self.now + link.rng.exponential(mean as f64).max(1.0) as u64;
                self.push(next, Ev::Link { link: l, up: !up });
            }
        }
        let (ida, idb) = (
            self.scenario.nodes[a].id.clone(),
            self.scenario.nodes[b].id.clone(),
        );
        for (n, other, peer) in [(a, b, idb), (b, a, ida)] {
            if !up {
                self.with_node(n, |agent, now| {
                    agent.handle(now, Event::LinkDown { link: l as u64 })
                })?;
                continue;
            }
            // A window of twice the bandwidth-delay product (the acknowledgements come back
            // over the light time too): light time does not throttle the link, and a
            // congested link's backlog waits in the agent, in priority order, not in the
            // link's queue.
            let rtt_ms = self.delay(l, n, other) + self.delay(l, other, n);
            let bdp = u128::from(model.rate) * u128::from(rtt_ms.max(1)) * 2 / 1000;
            // At least a second of the link's time.
            let bytes = u64::try_from(bdp).unwrap_or(u64::MAX).max(model.rate);
            let transmissions = usize::try_from(bytes / 1024)
                .unwrap_or(usize::MAX)
                .max(MIN_WINDOW);
            self.with_node(n, |agent, now| {
                agent.handle(
                    now,
                    Event::LinkUp {
                        link: l as u64,
                        peer,
                        max_bundle_size: None,
                    },
                )?;
                agent.set_link_window(now, l as u64, transmissions, bytes)
            })?;
        }
        Ok(())
    }

    fn traffic(&mut self, f: usize) -> Result<(), SimError> {
        let flow = self.scenario.flows[f].clone();
        let start = self.scenario.start().0;
        let node = flow.from;
        let sequence = self.nodes[node].sequence;
        self.nodes[node].sequence += 1;
        let source = self.scenario.nodes[node].id.clone();
        let payload = vec![0u8; usize::try_from(flow.size).unwrap_or(0)];
        if let Ok(bytes) = BundleBuilder::new(
            flow.to.clone(),
            source,
            CreationTimestamp::new(DtnTime(self.now), sequence),
        )
        .lifetime_ms(flow.lifetime_ms)
        .hop_count(64, 0)
        .payload(&payload)
        .priority(flow.priority)
        .build()
        {
            if let Ok(view) = BundleView::decode(&bytes) {
                let dest = self.scenario.nodes[flow.to_node].id.clone();
                self.obs.generated(view.id(), f, dest, self.now);
            }
            self.with_node(node, |a, now| {
                a.handle(now, Event::AppSubmit { bytes, token: 0 })
            })?;
        }
        let gap = if flow.random {
            self.flow_rngs[f].exponential(flow.every_ms as f64).max(1.0) as u64
        } else {
            flow.every_ms
        };
        let next = self.now + gap;
        if next < start + flow.stop_ms {
            self.push(next, Ev::Traffic(f));
        }
        Ok(())
    }

    /// Runs to the end of the scenario's time (or until nothing is left to happen), calling
    /// `progress` with the virtual time now and at the end about every `every` events.
    pub fn run(mut self, mut progress: impl FnMut(u64, u64)) -> Result<Report, SimError> {
        let start = self.scenario.start().0;
        let mut events = 0u64;
        while let Some(q) = self.queue.pop() {
            if q.at > self.end {
                break;
            }
            self.now = q.at;
            self.handle(q.ev)?;
            events += 1;
            if events % 65_536 == 0 {
                progress(self.now - start, self.end - start);
            }
        }
        self.now = self.now.max(self.end);
        let stats: Vec<(u64, u64)> = self
            .nodes
            .iter()
            .map(|n| (n.peak_bytes, n.agent.stats().expired))
            .collect();
        let mut report = self.obs.report(&self.scenario, &stats, events, self.end);
        report.twins = self.twins.as_ref().map(SimTwins::report);
        Ok(report)
    }
}
