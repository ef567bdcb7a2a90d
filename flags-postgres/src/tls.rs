//! TLS for `sslmode`, by rustls with the ring provider. libpq's meaning of
//! each mode: prefer/require encrypt without checking the certificate
//! (require with an `sslrootcert` checks the chain, as libpq does),
//! verify-ca checks the chain, verify-full the chain and the host name.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;
use crate::url::{DatabaseUrl, SslMode};

pub(crate) fn connector(url: &DatabaseUrl) -> Result<MakeRustlsConnect, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Connect(format!("TLS: {e}")))?;
    let algorithms = provider.signature_verification_algorithms;
    let verify_chain = match url.sslmode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => url.sslrootcert.is_some(),
        _ => false,
    };
    let verifier: Arc<dyn ServerCertVerifier> = if verify_chain {
        let roots = Arc::new(root_store(url)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| Error::Connect(format!("TLS: {e}")))?;
        Arc::new(Verifier {
            webpki: Some(webpki),
            check_name: url.sslmode == SslMode::VerifyFull,
            algorithms,
        })
    } else {
        Arc::new(Verifier {
            webpki: None,
            check_name: false,
            algorithms,
        })
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `sslrootcert` (a PEM file, or `system` for the Mozilla roots), else
/// `~/.postgresql/root.crt` when it exists, else the Mozilla roots.
fn root_store(url: &DatabaseUrl) -> Result<RootCertStore, Error> {
    let file = match url.sslrootcert.as_deref() {
        Some("system") => None,
        Some(path) => Some(std::path::PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .map(|h| std::path::PathBuf::from(h).join(".postgresql/root.crt"))
            .filter(|p| p.is_file()),
    };
    let Some(file) = file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&file)
        .map_err(|e| Error::Connect(format!("sslrootcert {}: {e}", file.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| Error::Connect(format!("sslrootcert {}: {e}", file.display())))?;
        store
            .add(cert)
            .map_err(|e| Error::Connect(format!("sslrootcert {}: {e}", file.display())))?;
    }
    if store.is_empty() {
        return Err(Error::Connect(format!(
            "sslrootcert {}: no certificate in it",
            file.display()
        )));
    }
    Ok(store)
}

#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    // The handshake's signatures are always checked: even without a
    // certificate check the session key must come from the certificate's key.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
