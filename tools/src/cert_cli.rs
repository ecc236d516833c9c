//! `dtnctl cert`: make the certificates TCPCL TLS needs (RFC 9174 §4.4.1), so a test bed or a
//! small deployment does not need openssl recipes. A CA signs node certificates; a node
//! certificate names the node ID as a URI subjectAltName (the NODE-ID its peers check at
//! SESS_INIT) and, optionally, the IP addresses and DNS names it is reached at.
//!
//! Files written: `ca.crt` + `ca.key` for a CA; `NAME.crt` + `NAME.key` for a node. Keys are
//! ECDSA P-256, written with mode 0600.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};

/// `dtnctl cert` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Create a certificate authority: DIR/ca.crt and DIR/ca.key.
    Ca(CaArgs),
    /// Create a node certificate signed by a CA: DIR/NAME.crt and DIR/NAME.key.
    Node(NodeArgs),
}

/// `dtnctl cert ca`.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// Directory to write ca.crt and ca.key into (created if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// The CA's common name.
    #[arg(long, default_value = "DTN federation CA")]
    pub name: String,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
}

/// `dtnctl cert node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node ID the certificate vouches for, e.g. ipn:2.0 or dtn://pod7/.
    #[arg(long)]
    pub node_id: String,
    /// Directory holding ca.crt and ca.key.
    #[arg(long)]
    pub ca: PathBuf,
    /// Directory to write the certificate and key into (created if missing).
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// File name stem [default: the node ID with ':', '/' and '.' replaced by '_'].
    #[arg(long)]
    pub name: Option<String>,
    /// An IP address the node is reached at (repeatable).
    #[arg(long = "ip")]
    pub ips: Vec<IpAddr>,
    /// A DNS name the node is reached at (repeatable).
    #[arg(long = "dns")]
    pub dns: Vec<String>,
    /// Days the certificate is valid.
    #[arg(long, default_value_t = 825)]
    pub days: u32,
}

/// Runs a `dtnctl cert` subcommand.
pub fn run(cmd: &CertCommand) -> anyhow::Result<()> {
    match cmd {
        CertCommand::Ca(a) => ca(a),
        CertCommand::Node(a) => node(a),
    }
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = time_now();
    params.not_before = now;
    params.not_after = now + std::time::Duration::from_secs(u64::from(days) * 86_400);
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

fn write(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn ca(a: &CaArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, &a.name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, a.days);
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = params.self_signed(&key).context("signing the CA")?;
    write(&a.out.join("ca.crt"), &cert.pem(), false)?;
    write(&a.out.join("ca.key"), &key.serialize_pem(), true)?;
    println!(
        "wrote {} and {}",
        a.out.join("ca.crt").display(),
        a.out.join("ca.key").display()
    );
    Ok(())
}

fn node(a: &NodeArgs) -> anyhow::Result<()> {
    let node_id: bundle_agent::wire::Eid = a
        .node_id
        .parse()
        .map_err(|e| anyhow::anyhow!("--node-id {:?}: {e}", a.node_id))?;
    if !node_id.is_node_id() {
        bail!(
            "--node-id {:?}: not a node ID (use ipn:N.0 or dtn://name/)",
            a.node_id
        );
    }
    let ca_cert = a.ca.join("ca.crt");
    let ca_key = a.ca.join("ca.key");
    let key_pem = std::fs::read_to_string(&ca_key)
        .with_context(|| format!("reading {}", ca_key.display()))?;
    let cert_pem = std::fs::read_to_string(&ca_cert)
        .with_context(|| format!("reading {}", ca_cert.display()))?;
    let ca_key =
        KeyPair::from_pem(&key_pem).with_context(|| format!("{}: not a key", ca_key.display()))?;
    // Re-signing the CA's own parameters with its key gives an issuer with the same name
    // and key identifier as the certificate on disk.
    let issuer = CertificateParams::from_ca_cert_pem(&cert_pem)
        .and_then(|p| p.self_signed(&ca_key))
        .with_context(|| format!("{}: not a CA certificate", ca_cert.display()))?;

    let mut params = CertificateParams::default();
    let text = node_id.to_string();
    params.distinguished_name.push(DnType::CommonName, &text);
    let uri = text
        .clone()
        .try_into()
        .map_err(|e| anyhow::anyhow!("--node-id {text:?}: {e}"))?;
    params.subject_alt_names.push(SanType::URI(uri));
    for ip in &a.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    for d in &a.dns {
        let name = d
            .clone()
            .try_into()
            .map_err(|e| anyhow::anyhow!("--dns {d:?}: {e}"))?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params, a.days);
    let key = KeyPair::generate().context("generating the node key")?;
    let cert = params
        .signed_by(&key, &issuer, &ca_key)
        .context("signing the node certificate")?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let stem = a
        .name
        .clone()
        .unwrap_or_else(|| text.replace([':', '/', '.'], "_"));
    let crt = a.out.join(format!("{stem}.crt"));
    let keyf = a.out.join(format!("{stem}.key"));
    write(&crt, &cert.pem(), false)?;
    write(&keyf, &key.serialize_pem(), true)?;
    println!("wrote {} and {}", crt.display(), keyf.display());
    Ok(())
}
