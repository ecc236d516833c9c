//! TLS 1.3 for QUIC connections: the node's TCPCLv4 certificates when it has them, or a
//! certificate made up at start when it has none.
//!
//! With certificates ([`TlsOptions`]), both sides present them and chains are verified as
//! for TCPCLv4; the peer's node ID is then checked against the certificate's NODE-ID
//! (RFC 9174 §4.4.1 names it; we apply the same rule here). Without them, QUIC still encrypts
//! (it has no plaintext mode), but nothing is authenticated: the connection is reported as
//! such, like a TCPCL session without TLS.
//!
//! 0-RTT: clients keep session tickets in memory and send their hello in early data when
//! they resume. A replayed hello is harmless; bundles are sent only once the handshake is
//! complete, so early data never carries one (a replayed bundle would be suppressed as a
//! duplicate by the agent anyway, but its acknowledgement would mean nothing).

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::hello::ALPN;
use crate::tcpcl::tls::{provider, rustls_configs, TlsOptions, TlsSetupError};

/// The crypto half of a QUIC endpoint, both roles.
#[derive(Clone)]
pub struct QuicCrypto {
    /// For connections we open.
    pub client: Arc<QuicClientConfig>,
    /// For connections we accept.
    pub server: Arc<QuicServerConfig>,
    /// True when certificates come from the node's files and are verified.
    pub authenticated: bool,
}

impl std::fmt::Debug for QuicCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicCrypto")
            .field("authenticated", &self.authenticated)
            .finish()
    }
}

fn quic(
    mut client: rustls::ClientConfig,
    mut server: rustls::ServerConfig,
    authenticated: bool,
) -> Result<QuicCrypto, TlsSetupError> {
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.enable_early_data = true;
    server.alpn_protocols = vec![ALPN.to_vec()];
    // quinn requires this exact value to accept 0-RTT (its own limits apply to early data).
    server.max_early_data_size = u32::MAX;
    let client = QuicClientConfig::try_from(client)
        .map_err(|e| TlsSetupError::Verifier(format!("QUIC client: {e}")))?;
    let server = QuicServerConfig::try_from(Arc::new(server))
        .map_err(|e| TlsSetupError::Verifier(format!("QUIC server: {e}")))?;
    Ok(QuicCrypto {
        client: Arc::new(client),
        server: Arc::new(server),
        authenticated,
    })
}

impl QuicCrypto {
    /// From the node's certificate, key and CA files (the TCPCLv4 ones), TLS 1.3 only.
    pub fn from_options(opts: &TlsOptions) -> Result<Self, TlsSetupError> {
        let (client, server) = rustls_configs(opts, &[&rustls::version::TLS13])?;
        quic(client, server, true)
    }

    /// A self-signed certificate naming `node_id`, made now; peers' certificates are not
    /// verified. Encrypted, not authenticated.
    pub fn ephemeral(node_id: &str) -> Result<Self, TlsSetupError> {
        let mut params = rcgen::CertificateParams::default();
        if let Ok(uri) = rcgen::Ia5String::try_from(node_id) {
            params.subject_alt_names = vec![rcgen::SanType::URI(uri)];
        }
        let key = rcgen::KeyPair::generate().map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
        let chain = vec![cert.der().clone()];
        let key = PrivateKeyDer::try_from(key.serialize_der())
            .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
        let provider = provider();
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        let client = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        quic(client, server, false)
    }
}

/// Accepts any server certificate but still checks the handshake signatures made with it:
/// the peer holds the key of the certificate it showed, whoever it is.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
