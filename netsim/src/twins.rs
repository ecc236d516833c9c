//! Twin sync in the simulator: every node that follows or edits a twin runs the real
//! `crdt-store` service over its agent's in-memory store, exactly as `dtnd` does over
//! RocksDB. Deltas leave as bundles to the peer's twin endpoint and are merged when the
//! agent delivers them; edits come from the scenario's edit streams, each drawing from its
//! own seeded stream. At the end the report says, per twin, whether every pair of replicas
//! agrees on the fields both may hold (the sovereignty policy keeps some fields below a
//! tier), and when it last changed.

// Node and edit numbers come from the checked scenario, and the vectors are built from it and
// never shrink: indexing them cannot fail.
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeMap;

use bundle_agent::store::MemoryStore;
use bundle_agent::wire::{BundleBuilder, BundleId, CreationTimestamp, DtnTime, Eid};
use crdt_store::service::{twin_endpoint, ServiceError};
use crdt_store::{Edit, Field, Follow, ServiceConfig, Tier, TwinService, Value};
use serde::Serialize;

use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::twin_spec::TwinsSpec;

/// Lifetime of a delta bundle: a week.
const DELTA_LIFETIME_MS: u64 = 7 * 24 * 3_600_000;

/// What twin sync did in a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TwinReport {
    /// Edits made.
    pub edits: u64,
    /// Delta bundles sent (acknowledgements included).
    pub deltas: u64,
    /// Their payload bytes.
    pub delta_bytes: u64,
    /// Deltas refused by the receiver.
    pub refused: u64,
    /// Per twin.
    pub twins: Vec<TwinState>,
}

/// One twin at the end of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwinState {
    /// Its name.
    pub name: String,
    /// Nodes holding a replica.
    pub replicas: usize,
    /// Fields (the most any replica has).
    pub fields: usize,
    /// Every pair of replicas agrees on the fields both may hold.
    pub converged: bool,
    /// When it last changed anywhere, in ms from the start.
    pub last_change_ms: u64,
}

/// The twin services of a run.
#[derive(Debug)]
pub struct SimTwins {
    services: Vec<Option<TwinService>>,
    endpoints: Vec<Eid>,
    tiers: Vec<Tier>,
    spec: TwinsSpec,
    rngs: Vec<Rng>,
    sequence: Vec<u64>,
    last_change: BTreeMap<String, u64>,
    report: TwinReport,
    start: u64,
}

/// The service configuration of every node (None for nodes without twins).
fn configs(scenario: &Scenario, spec: &TwinsSpec) -> Vec<Option<ServiceConfig>> {
    let mut configs: Vec<Option<ServiceConfig>> = vec![None; scenario.nodes.len()];
    let config = |i: usize| {
        let node = &scenario.nodes[i];
        let mut c = ServiceConfig::new(node.id.clone(), node.tier);
        c.policies = spec.policies.clone();
        c.resync_ms = spec.resync_ms;
        c
    };
    for (a, b, twin) in &spec.follows {
        for (me, peer) in [(*a, *b), (*b, *a)] {
            configs[me]
                .get_or_insert_with(|| config(me))
                .follows
                .push(Follow {
                    twin: twin.clone(),
                    peer: scenario.nodes[peer].id.clone(),
                    tier: scenario.nodes[peer].tier,
                });
        }
    }
    for e in &spec.edits {
        configs[e.node].get_or_insert_with(|| config(e.node));
    }
    configs
}

impl SimTwins {
    /// Opens a service over each store of a node with twins (`stores[i]` is node i's).
    pub fn open<'a>(
        scenario: &Scenario,
        spec: &TwinsSpec,
        stores: impl Iterator<Item = &'a mut MemoryStore>,
    ) -> Result<Self, ServiceError> {
        let mut services = Vec::with_capacity(scenario.nodes.len());
        for (i, (cfg, store)) in configs(scenario, spec).into_iter().zip(stores).enumerate() {
            services.push(match cfg {
                // Replica numbers only need to differ between nodes.
                Some(cfg) => Some(TwinService::open(cfg, store, i as u32 + 1)?),
                None => None,
            });
        }
        Ok(Self {
            services,
            endpoints: scenario
                .nodes
                .iter()
                .map(|n| twin_endpoint(&n.id))
                .collect(),
            tiers: scenario.nodes.iter().map(|n| n.tier).collect(),
            spec: spec.clone(),
            rngs: (0..spec.edits.len())
                .map(|i| Rng::stream(scenario.seed, &format!("twin edit {i}")))
                .collect(),
            sequence: vec![0; scenario.nodes.len()],
            last_change: BTreeMap::new(),
            report: TwinReport::default(),
            start: scenario.start().0,
        })
    }

    /// Node `n`'s twin endpoint, if it runs twins.
    pub fn endpoint(&self, n: usize) -> Option<&Eid> {
        self.services[n].as_ref().map(|_| &self.endpoints[n])
    }

    /// The edit streams: (node, first edit at, offset from the start).
    pub fn streams(&self) -> Vec<u64> {
        self.spec.edits.iter().map(|e| e.start_ms).collect()
    }

    /// A delta delivered to node `n`.
    pub fn deliver(
        &mut self,
        now: u64,
        n: usize,
        store: &mut MemoryStore,
        id: &BundleId,
        payload: &[u8],
    ) {
        let Some(s) = self.services[n].as_mut() else {
            return;
        };
        match s.receive(now, store, &id.source, payload) {
            Ok(Some(c)) => {
                let at = self.last_change.entry(c.twin).or_default();
                *at = (*at).max(now - self.start);
            }
            Ok(None) => {}
            Err(_) => self.report.refused += 1,
        }
    }

    /// Makes edit stream `e`'s next edit at its node; returns when the one after is due
    /// (`None` when the stream has ended).
    pub fn edit(&mut self, now: u64, e: usize, store: &mut MemoryStore) -> Option<u64> {
        let spec = self.spec.edits[e].clone();
        let key = format!(
            "{}{}",
            spec.field,
            self.rngs[e].next_u64() % u64::from(spec.keys)
        );
        if let Some(s) = self.services[spec.node].as_mut() {
            let edit = Edit::Set {
                key,
                value: Value::Number((now - self.start) as f64 / 1000.0),
            };
            if s.edit(now, store, &spec.twin, &[edit]).is_ok() {
                self.report.edits += 1;
                let at = self.last_change.entry(spec.twin.clone()).or_default();
                *at = (*at).max(now - self.start);
            }
        }
        let next = now + spec.every_ms;
        (next < self.start + spec.stop_ms).then_some(next)
    }

    /// The delta bundles node `n` has to send now.
    pub fn outgoing(&mut self, now: u64, n: usize) -> Vec<Vec<u8>> {
        let Some(s) = self.services[n].as_mut() else {
            return Vec::new();
        };
        s.flush(now);
        while s.poll_change().is_some() {}
        let mut out = Vec::new();
        while let Some(o) = s.poll_outgoing() {
            self.sequence[n] += 1;
            self.report.deltas += 1;
            self.report.delta_bytes += o.payload.len() as u64;
            if let Ok(b) = BundleBuilder::new(
                twin_endpoint(&o.to),
                self.endpoints[n].clone(),
                CreationTimestamp::new(DtnTime(now), self.sequence[n]),
            )
            .lifetime_ms(DELTA_LIFETIME_MS)
            .hop_count(64, 0)
            .payload(&o.payload)
            .build()
            {
                out.push(b);
            }
        }
        out
    }

    /// When node `n`'s service wants to run again (a resync).
    pub fn next_timeout(&self, n: usize) -> Option<u64> {
        self.services[n]
            .as_ref()
            .and_then(TwinService::next_timeout)
    }

    /// Whether the replicas of twin `name` (on `nodes`, read as `views`) agree. Fields of
    /// scope S can only travel between nodes of tier S or below, so for each scope the
    /// replicas are grouped by what links them through such nodes (the follows of this twin),
    /// and every group must agree on the fields of that scope.
    fn converged(
        &self,
        name: &str,
        nodes: &[usize],
        views: &[(Tier, BTreeMap<String, Field>, &TwinService)],
    ) -> bool {
        let Some(policy) = views
            .first()
            .and_then(|(_, _, s)| s.twin(name))
            .map(|t| t.policy().clone())
        else {
            return true;
        };
        for scope in Tier::ALL {
            // Groups: flood along follows between nodes at or below the scope.
            let mut group: BTreeMap<usize, usize> = BTreeMap::new();
            for &start in nodes.iter().filter(|&&n| self.tiers[n] <= scope) {
                if group.contains_key(&start) {
                    continue;
                }
                let mut todo = vec![start];
                while let Some(n) = todo.pop() {
                    if group.insert(n, start).is_some() {
                        continue;
                    }
                    for (a, b, pattern) in &self.spec.follows {
                        if !crdt_store::policy::glob(pattern, name) {
                            continue;
                        }
                        for (x, y) in [(*a, *b), (*b, *a)] {
                            if x == n && self.tiers[y] <= scope && nodes.contains(&y) {
                                todo.push(y);
                            }
                        }
                    }
                }
            }
            let of_scope = |f: &BTreeMap<String, Field>| -> BTreeMap<String, Field> {
                f.iter()
                    .filter(|(k, _)| policy.scope(k) == scope)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            let mut first: BTreeMap<usize, BTreeMap<String, Field>> = BTreeMap::new();
            for (i, &n) in nodes.iter().enumerate() {
                let (Some(g), Some((_, fields, _))) = (group.get(&n), views.get(i)) else {
                    continue;
                };
                let mine = of_scope(fields);
                match first.get(g) {
                    Some(want) if *want != mine => return false,
                    Some(_) => {}
                    None => {
                        first.insert(*g, mine);
                    }
                }
            }
        }
        true
    }

    /// The report: per twin, whether its replicas agree.
    pub fn report(&self) -> TwinReport {
        let mut holders: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in self.services.iter().enumerate() {
            if let Some(s) = s {
                for t in s.list() {
                    holders.entry(t.name).or_default().push(i);
                }
            }
        }
        let mut report = self.report.clone();
        for (name, nodes) in holders {
            let views: Vec<(Tier, BTreeMap<String, Field>, &TwinService)> = nodes
                .iter()
                .filter_map(|&i| {
                    let s = self.services[i].as_ref()?;
                    Some((self.tiers[i], s.get(&name)?, s))
                })
                .collect();
            let converged = self.converged(&name, &nodes, &views);
            report.twins.push(TwinState {
                replicas: views.len(),
                fields: views.iter().map(|(_, f, _)| f.len()).max().unwrap_or(0),
                converged,
                last_change_ms: self.last_change.get(&name).copied().unwrap_or(0),
                name,
            });
        }
        report
    }
}
