//! Twin settings of `dtnd`: this node's tier, which twins it follows with which peers, the
//! sovereignty policies, resync interval and limits, from flags (`--tier`, `--twin-follow`,
//! `--twin-policy`, `--twin-resync`) and the `[twins]` table of the configuration file.

use anyhow::{bail, Context, Result};
use bundle_agent::wire::Eid;
use crdt_store::{Follow, Policy, ServiceConfig, Tier};
use serde::Deserialize;

use crate::cli_io::parse_duration_ms;

/// The `[twins]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwinsFile {
    /// `[[twins.follow]] twin = "pod7/*"  peer = "dtn://hub1/"  tier = "hub"`.
    pub follow: Vec<FollowEntry>,
    /// `[[twins.policy]] twin = "pod7/*"  field = "raw.*"  scope = "pod"`.
    pub policy: Vec<PolicyEntry>,
    /// How often a peer still behind is sent its backlog again [default: 1h].
    pub resync: Option<String>,
    /// Largest update taken from a peer, in bytes [default: 1 MiB].
    pub max_update: Option<usize>,
    /// Largest twin, in bytes [default: 64 MiB].
    pub max_document: Option<usize>,
}

/// One follow of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowEntry {
    /// Twin name pattern (`*` matches anything).
    pub twin: String,
    /// The peer's node ID.
    pub peer: String,
    /// The peer's tier [default: planet, so only unrestricted fields go to it].
    pub tier: Option<String>,
}

/// One policy rule of the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyEntry {
    /// Twin name pattern.
    pub twin: String,
    /// Field name pattern.
    pub field: String,
    /// The highest tier such fields may reach.
    pub scope: String,
}

fn tier(text: &str, what: &str) -> Result<Tier> {
    text.parse::<Tier>()
        .map_err(|e| anyhow::anyhow!("{what}: {e}"))
}

/// Adds a rule to the policy of `twin` (rules of one twin pattern keep their order).
fn add_rule(policies: &mut Vec<(String, Policy)>, twin: &str, field: &str, scope: Tier) {
    match policies.iter_mut().find(|(t, _)| t == twin) {
        Some((_, p)) => *p = std::mem::take(p).restrict(field, scope),
        None => policies.push((twin.to_string(), Policy::open().restrict(field, scope))),
    }
}

/// Merges flags over the file into the service's configuration.
pub fn merge(
    node: &Eid,
    node_tier: Option<&str>,
    follows: &[String],
    policies: &[String],
    resync: Option<&str>,
    file: TwinsFile,
) -> Result<ServiceConfig> {
    let node_tier = match node_tier {
        Some(t) => tier(t, "tier")?,
        None => Tier::Tile,
    };
    let mut cfg = ServiceConfig::new(node.clone(), node_tier);
    for f in follows {
        let (twin, rest) = f
            .split_once('=')
            .with_context(|| format!("--twin-follow {f:?}: expected TWIN=NODE-ID[@TIER]"))?;
        let (peer, peer_tier) = match rest.rsplit_once('@') {
            Some((p, t)) => (p, tier(t, &format!("--twin-follow {f:?}"))?),
            None => (rest, Tier::Planet),
        };
        cfg.follows.push(follow(
            twin,
            peer,
            peer_tier,
            &format!("--twin-follow {f:?}"),
        )?);
    }
    for (i, f) in file.follow.iter().enumerate() {
        let what = format!("twins.follow[{i}]");
        let peer_tier = match &f.tier {
            Some(t) => tier(t, &what)?,
            None => Tier::Planet,
        };
        cfg.follows
            .push(follow(&f.twin, &f.peer, peer_tier, &what)?);
    }
    for p in policies {
        let (twin, rest) = p
            .split_once(':')
            .with_context(|| format!("--twin-policy {p:?}: expected TWIN:FIELD=SCOPE"))?;
        let (field, scope) = rest
            .rsplit_once('=')
            .with_context(|| format!("--twin-policy {p:?}: expected TWIN:FIELD=SCOPE"))?;
        add_rule(
            &mut cfg.policies,
            twin,
            field,
            tier(scope, &format!("--twin-policy {p:?}"))?,
        );
    }
    for (i, p) in file.policy.iter().enumerate() {
        add_rule(
            &mut cfg.policies,
            &p.twin,
            &p.field,
            tier(&p.scope, &format!("twins.policy[{i}]"))?,
        );
    }
    if let Some(r) = resync.or(file.resync.as_deref()) {
        cfg.resync_ms = parse_duration_ms(r).with_context(|| format!("twin resync {r:?}"))?;
        if cfg.resync_ms == 0 {
            bail!("twin resync: must be more than 0");
        }
    }
    if let Some(n) = file.max_update {
        cfg.limits.max_update = n;
    }
    if let Some(n) = file.max_document {
        cfg.limits.max_document = n;
    }
    if cfg.limits.max_update > cfg.limits.max_document {
        bail!("twins.max_update may not exceed twins.max_document");
    }
    Ok(cfg)
}

fn follow(twin: &str, peer: &str, tier: Tier, what: &str) -> Result<Follow> {
    let peer: Eid = peer
        .parse()
        .map_err(|e| anyhow::anyhow!("{what}: peer {peer:?}: {e}"))?;
    if !peer.is_node_id() {
        bail!("{what}: peer {peer}: not a node ID (use ipn:N.0 or dtn://name/)");
    }
    if twin.is_empty() {
        bail!("{what}: empty twin pattern");
    }
    Ok(Follow {
        twin: twin.to_string(),
        peer,
        tier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_file_merge_with_clear_errors() {
        let node: Eid = "dtn://pod7/".parse().unwrap();
        let file: TwinsFile = toml::from_str(
            "resync = \"10m\"\n[[follow]]\ntwin = \"pod7/*\"\npeer = \"dtn://hub1/\"\ntier = \"hub\"\n\
             [[policy]]\ntwin = \"pod7/*\"\nfield = \"raw.*\"\nscope = \"pod\"\n",
        )
        .unwrap();
        let cfg = merge(
            &node,
            Some("pod"),
            &["pod7/*=dtn://pod8/@pod".into()],
            &["pod7/*:secret=tile".into()],
            None,
            file,
        )
        .unwrap();
        assert_eq!(cfg.tier, Tier::Pod);
        assert_eq!(cfg.follows.len(), 2);
        assert_eq!(cfg.follows[1].tier, Tier::Hub);
        assert_eq!(cfg.resync_ms, 600_000);
        let (_, p) = &cfg.policies[0];
        assert_eq!(p.scope("secret"), Tier::Tile);
        assert_eq!(p.scope("raw.t"), Tier::Pod);
        assert_eq!(p.scope("avg"), Tier::Planet);
        let e = |f: &[String], p: &[String]| {
            merge(&node, None, f, p, None, TwinsFile::default())
                .unwrap_err()
                .to_string()
        };
        assert!(e(&["x".into()], &[]).contains("TWIN=NODE-ID"));
        assert!(e(&["x=dtn://a/@moon".into()], &[]).contains("unknown tier"));
        assert!(e(&["x=ipn:3.5".into()], &[]).contains("not a node ID"));
        assert!(e(&[], &["x=pod".into()]).contains("TWIN:FIELD=SCOPE"));
    }
}
