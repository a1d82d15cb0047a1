//! TLS for the service: rustls (the ring provider) on both sides. The server takes a
//! certificate chain and its key in PEM ([`server_config`]), or makes a self-signed one for
//! development ([`self_signed`], `glovebox serve --dev-tls`); a client trusts the certificate
//! or CA kept in the clinic's (or the devices') directory ([`Endpoint::new`]), or the public
//! web roots when it is given none. Plain HTTP is for loopback only, and only by choice
//! ([`Endpoint::new`] refuses it elsewhere).

use super::ServiceError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::result::Result;
use std::sync::Arc;
use std::time::Duration;

fn tls_error(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::BadRequest(format!("{what}: {e}"))
}

/// rustls's ring provider: TLS 1.3 and 1.2 with classical key exchange. rustls marks it
/// deprecated because it lacks the post-quantum hybrid exchange, which needs aws-lc-rs (a
/// CMake-built C library); the service's threat model (README, "Security") names this.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file (at least one).
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ServiceError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error("certificate PEM", e))?;
    if certs.is_empty() {
        return Err(ServiceError::BadRequest(
            "certificate PEM: no CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

/// The server's TLS configuration from a certificate chain and its private key, both PEM
/// (TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, ServiceError> {
    let certs = certificates(cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls_error("key PEM", e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS versions", e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls_error("certificate and key", e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate for `names` (DNS names or IP addresses), PEM: `(certificate,
/// private key)`. For development and tests: clients must be given the certificate.
pub fn self_signed(names: &[&str]) -> Result<(String, String), ServiceError> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| tls_error("self-signed", e))?;
    Ok((certified.cert.pem(), certified.key_pair.serialize_pem()))
}

/// The SHA-256 fingerprint of the first certificate of a PEM file, as `AB:CD:…` (what a
/// browser or `openssl x509 -fingerprint -sha256` shows).
pub fn fingerprint(cert_pem: &[u8]) -> Result<String, ServiceError> {
    let der = &certificates(cert_pem)?[0];
    Ok(Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

/// The host of an authority (`host:port`, `[::1]:port` or a host alone), without the port.
pub fn host_of(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Whether `host` (of a URL or a listen address, without the port) is a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Where a client reaches the service: the base URL and an HTTP agent that trusts what the
/// clinic's directory says.
#[derive(Clone)]
pub struct Endpoint {
    url: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({})", self.url)
    }
}

impl Endpoint {
    /// `url` is `https://host:port` (trusting `ca_pem`, a certificate or CA in PEM, or with
    /// none the public web roots) or `http://` on a loopback host only.
    pub fn new(url: &str, ca_pem: Option<&[u8]>) -> Result<Self, ServiceError> {
        let url = url.trim_end_matches('/').to_string();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| ServiceError::BadRequest(format!("{url}: not a URL")))?;
        let host = host_of(rest.split('/').next().unwrap_or(""));
        let builder = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120));
        let agent = match scheme {
            "https" => match ca_pem {
                Some(pem) => {
                    let mut roots = rustls::RootCertStore::empty();
                    for cert in certificates(pem)? {
                        roots
                            .add(cert)
                            .map_err(|e| tls_error("trusted certificate", e))?;
                    }
                    let config = rustls::ClientConfig::builder_with_provider(provider())
                        .with_safe_default_protocol_versions()
                        .map_err(|e| tls_error("TLS versions", e))?
                        .with_root_certificates(roots)
                        .with_no_client_auth();
                    builder.tls_config(Arc::new(config)).build()
                }
                None => builder.build(),
            },
            "http" if is_loopback(host) => builder.build(),
            "http" => {
                return Err(ServiceError::BadRequest(format!(
                    "{url}: plain HTTP to a host other than loopback; use https://"
                )))
            }
            other => {
                return Err(ServiceError::BadRequest(format!(
                    "{url}: scheme {other}, not https"
                )))
            }
        };
        Ok(Self { url, agent })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The HTTP agent (with the trust above), for raw requests.
    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_and_urls() {
        for h in ["127.0.0.1", "localhost", "[::1]", "::1", "127.8.9.1"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["0.0.0.0", "10.0.0.1", "example.org", "[::]"] {
            assert!(!is_loopback(h), "{h}");
        }
        assert!(Endpoint::new("http://127.0.0.1:8080", None).is_ok());
        assert!(Endpoint::new("http://10.1.2.3:8080", None).is_err());
        assert!(Endpoint::new("ftp://127.0.0.1", None).is_err());
        assert!(Endpoint::new("https://10.1.2.3:8443", None).is_ok());
        assert!(Endpoint::new("https://127.0.0.1:8443", Some(b"not a pem")).is_err());
    }

    #[test]
    fn a_self_signed_certificate_configures_both_sides() {
        let (cert, key) = self_signed(&["127.0.0.1", "localhost"]).unwrap();
        assert!(server_config(cert.as_bytes(), key.as_bytes()).is_ok());
        assert!(Endpoint::new("https://127.0.0.1:1", Some(cert.as_bytes())).is_ok());
        let f = fingerprint(cert.as_bytes()).unwrap();
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(server_config(cert.as_bytes(), b"garbage").is_err());
    }
}
