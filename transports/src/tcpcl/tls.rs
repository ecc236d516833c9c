//! TLS for TCPCLv4 sessions (RFC 9174 §4.4), with rustls.
//!
//! A node has one certificate chain and key, and a set of CA certificates it trusts, all read
//! from PEM files. Both sides present certificates: the passive side asks for the active
//! side's (RFC 9174 §4.4.3 lets either entity authenticate the other). Chains are verified
//! against the trusted CAs. The identity that matters in a DTN is the node ID, carried as a
//! `uniformResourceIdentifier` subjectAltName (the NODE-ID of RFC 9174 §4.4.1); the session
//! compares it with the node ID its peer sends in SESS_INIT ([`super::session`]). Checking the
//! DNS name or IP address the active side dialled (DNS-ID / IP-ID) is optional, as
//! RFC 9174 §4.4.3 leaves it to security policy: [`TlsOptions::verify_host`].
//!
//! The crypto provider is aws-lc-rs, which offers the post-quantum hybrid key exchange
//! X25519MLKEM768 first and falls back to X25519 and the NIST curves for peers without it
//! (ARCHITECTURE §6).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// Why a TLS context could not be built from its files.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file held no PEM item of the kind needed.
    #[error("{}: no {what} found in the PEM file", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// "certificate", "private key" or "CA certificate".
        what: &'static str,
    },
    /// rustls refused the material.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client certificate verifier could not be built.
    #[error("TLS setup: {0}")]
    Verifier(String),
}

/// Where a node's TLS material lives and how strict to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with this node's certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key of the leaf certificate.
    pub key: PathBuf,
    /// PEM file with the CA certificates peers' chains must lead to.
    pub ca: PathBuf,
    /// Also check that the server certificate names the host the active side dialled.
    pub verify_host: bool,
    /// Refuse a client that presents no certificate.
    pub require_client_cert: bool,
}

impl TlsOptions {
    /// Options with the defaults: no host check, client certificates required.
    pub fn new(cert: impl Into<PathBuf>, key: impl Into<PathBuf>, ca: impl Into<PathBuf>) -> Self {
        Self {
            cert: cert.into(),
            key: key.into(),
            ca: ca.into(),
            verify_host: false,
            require_client_cert: true,
        }
    }
}

/// What a session needs to run TLS as either side.
#[derive(Clone)]
pub struct TlsContext {
    connector: TlsConnector,
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsContext")
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    fs::read(path).map_err(|source| TlsSetupError::Read {
        path: path.to_owned(),
        source,
    })
}

fn certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(path)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|source| TlsSetupError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::Missing {
            path: path.to_owned(),
            what,
        });
    }
    Ok(certs)
}

/// The crypto provider every TLS configuration of the node uses (aws-lc-rs).
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Reads a node's TLS files and builds the rustls client and server configurations for the
/// protocol versions given: what TCPCLv4 (TLS 1.2 and 1.3) and QUIC (TLS 1.3 only) share. The
/// client verifies chains against the trusted CAs (names only when asked); the server asks
/// for the client's certificate.
pub fn rustls_configs(
    opts: &TlsOptions,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<(rustls::ClientConfig, rustls::ServerConfig), TlsSetupError> {
    let chain = certs(&opts.cert, "certificate")?;
    let key_pem = read(&opts.key)?;
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|source| TlsSetupError::Read {
            path: opts.key.clone(),
            source,
        })?
        .ok_or_else(|| TlsSetupError::Missing {
            path: opts.key.clone(),
            what: "private key",
        })?;
    let mut roots = RootCertStore::empty();
    for ca in certs(&opts.ca, "CA certificate")? {
        roots.add(ca)?;
    }
    let roots = Arc::new(roots);
    let provider = provider();

    let mut client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
    if !opts.require_client_cert {
        client_verifier = client_verifier.allow_unauthenticated();
    }
    let client_verifier = client_verifier
        .build()
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain.clone(), key.clone_key())?;

    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainVerifier {
            inner: server_verifier,
            verify_host: opts.verify_host,
        }))
        .with_client_auth_cert(chain, key)?;
    Ok((client, server))
}

impl TlsContext {
    /// Reads the files and builds client and server configurations.
    pub fn from_options(opts: &TlsOptions) -> Result<Self, TlsSetupError> {
        let (client, server) = rustls_configs(opts, rustls::DEFAULT_VERSIONS)?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(client)),
            acceptor: TlsAcceptor::from(Arc::new(server)),
        })
    }

    /// Runs the client side of the handshake (the active entity, RFC 9174 §4.4.2).
    pub async fn connect<S>(
        &self,
        server: ServerName<'static>,
        stream: S,
    ) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        Ok(TlsStream::Client(
            self.connector.connect(server, stream).await?,
        ))
    }

    /// Runs the server side of the handshake (the passive entity).
    pub async fn accept<S>(&self, stream: S) -> io::Result<TlsStream<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        Ok(TlsStream::Server(self.acceptor.accept(stream).await?))
    }
}

/// The NODE-IDs of a certificate: its `uniformResourceIdentifier` subjectAltNames
/// (RFC 9174 §4.4.1). A certificate that does not parse has none.
pub fn node_ids_of(cert_der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::URI(uri) => Some((*uri).to_owned()),
            _ => None,
        })
        .collect()
}

/// The key exchange group an established TLS stream agreed on, e.g. `X25519MLKEM768`.
pub fn key_exchange_group<S>(stream: &TlsStream<S>) -> Option<String> {
    let group = match stream {
        TlsStream::Client(s) => s.get_ref().1.negotiated_key_exchange_group(),
        TlsStream::Server(s) => s.get_ref().1.negotiated_key_exchange_group(),
    };
    group.map(|g| format!("{:?}", g.name()))
}

/// The NODE-IDs of the peer's end-entity certificate on an established TLS stream.
pub fn peer_node_ids<S>(stream: &TlsStream<S>) -> Vec<String> {
    let certs = match stream {
        TlsStream::Client(s) => s.get_ref().1.peer_certificates(),
        TlsStream::Server(s) => s.get_ref().1.peer_certificates(),
    };
    certs
        .and_then(|c| c.first())
        .map(|leaf| node_ids_of(leaf.as_ref()))
        .unwrap_or_default()
}

/// Verifies the server's chain against the trusted CAs; the name it was dialled by only when
/// the policy asks (RFC 9174 §4.4.3 makes DNS-ID and IP-ID checks a matter of policy; the
/// NODE-ID check happens at SESS_INIT).
#[derive(Debug)]
struct ChainVerifier {
    inner: Arc<WebPkiServerVerifier>,
    verify_host: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.verify_host => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A stream that first yields bytes already read from it: what arrived after the contact
/// header and belongs to the TLS handshake (RFC 9174 §4.4 starts TLS right after it).
#[derive(Debug)]
pub struct PrefixStream<S> {
    prefix: Vec<u8>,
    at: usize,
    inner: S,
}

impl<S> PrefixStream<S> {
    /// `prefix` is returned by reads before anything from `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            at: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PrefixStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let rest = this.prefix.get(this.at..).unwrap_or(&[]);
        if !rest.is_empty() {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or(&[]));
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PrefixStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
