//! Certificates for TLS tests: a throwaway CA and node certificates naming NODE-IDs, written
//! to PEM files and loaded the way `dtnd` loads them.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use transports::tcpcl::tls::TlsOptions;

/// A CA: its certificate and key.
pub struct Ca {
    pub cert: rcgen::Certificate,
    pub key: KeyPair,
}

pub fn ca(dir: &Path, name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
    Ca { cert, key }
}

/// A node certificate with these URI subjectAltNames (NODE-IDs) and 127.0.0.1; returns
/// options pointing at its files.
pub fn node(dir: &Path, ca: &Ca, ca_file: &str, name: &str, node_ids: &[&str]) -> TlsOptions {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = node_ids
        .iter()
        .map(|id| SanType::URI((*id).try_into().unwrap()))
        .chain([SanType::IpAddress([127, 0, 0, 1].into())])
        .collect();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    TlsOptions::new(cert_file, key_file, dir.join(ca_file))
}
