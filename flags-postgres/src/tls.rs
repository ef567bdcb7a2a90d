//! TLS for `sslmode`, by rustls with the ring provider, as libpq decides
//! it: verify-ca checks the chain, verify-full the chain and the host name;
//! prefer and require encrypt and check the chain only when a root
//! certificate file is there (`sslrootcert`, else `~/.postgresql/root.crt`).
//! verify-ca and verify-full without that file are an error naming it;
//! `sslrootcert=system` is the operating system's store (and verify-full,
//! which the settings enforce). A client certificate is offered when its
//! file exists (`sslcert`, else `~/.postgresql/postgresql.crt`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;
use crate::config::{DatabaseUrl, SslMode};

/// libpq's default root certificate file, under the home directory.
const ROOT_CERT_FILE: &str = ".postgresql/root.crt";

const NO_ROOT_HELP: &str = "either provide the file, use the system's trusted roots with \
     sslrootcert=system, or change sslmode to disable server certificate verification";

pub(crate) fn connector(
    url: &DatabaseUrl,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<MakeRustlsConnect, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Connect(format!("TLS: {e}")))?;
    let algorithms = provider.signature_verification_algorithms;
    let roots = match url.sslmode {
        SslMode::Disable => None,
        mode => root_store(url.sslrootcert.as_deref(), mode, env)?,
    };
    let webpki = match roots {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .map_err(|e| Error::Connect(format!("TLS: {e}")))?,
        ),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        webpki,
        check_name: url.sslmode == SslMode::VerifyFull,
        algorithms,
    });
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_certificate(url, env)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Connect(format!("client certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// libpq's default client certificate and key, under the home directory.
const CLIENT_CERT_FILE: &str = ".postgresql/postgresql.crt";
const CLIENT_KEY_FILE: &str = ".postgresql/postgresql.key";

/// The client certificate chain and key to offer, if its file exists
/// (`sslcert`, else `~/.postgresql/postgresql.crt`), as libpq does.
fn client_certificate(
    url: &DatabaseUrl,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Error> {
    if url.sslmode == SslMode::Disable {
        return Ok(None);
    }
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let cert = match (&url.sslcert, &home) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(home)) => home.join(CLIENT_CERT_FILE),
        (None, None) => return Ok(None),
    };
    if !cert.exists() {
        if url.sslcert.is_some() {
            return Err(Error::Connect(format!(
                "certificate file \"{}\" does not exist",
                cert.display()
            )));
        }
        return Ok(None);
    }
    let key = match (&url.sslkey, &home) {
        (Some(path), _) => PathBuf::from(path),
        (None, Some(home)) => home.join(CLIENT_KEY_FILE),
        (None, None) => cert.with_extension("key"),
    };
    let fail = |file: &Path, e: &dyn std::fmt::Display| {
        Error::Connect(format!("certificate file \"{}\": {e}", file.display()))
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| fail(&cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&cert, &e))?;
    if chain.is_empty() {
        return Err(fail(&cert, &"no certificate in it"));
    }
    let meta = std::fs::metadata(&key).map_err(|_| {
        Error::Connect(format!(
            "certificate present, but not private key file \"{}\"",
            key.display()
        ))
    })?;
    check_key_permissions(&key, &meta)?;
    let private = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| Error::Connect(format!("private key file \"{}\": {e}", key.display())))?;
    Ok(Some((chain, private)))
}

/// libpq's rule: a key readable by others is refused (0600 or less when
/// owned by the user, 0640 or less when owned by root).
fn check_key_permissions(key: &Path, meta: &std::fs::Metadata) -> Result<(), Error> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = meta.permissions().mode();
    let loose = if meta.uid() == 0 {
        mode & 0o037 != 0
    } else {
        mode & 0o077 != 0
    };
    if loose {
        return Err(Error::Connect(format!(
            "private key file \"{}\" has group or world access; file must have permissions \
             u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) \
             or less if owned by root",
            key.display()
        )));
    }
    Ok(())
}

/// The roots to check the server's chain against, or None for no check.
fn root_store(
    sslrootcert: Option<&str>,
    mode: SslMode,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<RootCertStore>, Error> {
    let verify = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    let file = match sslrootcert {
        Some("system") => return system_store().map(Some),
        // Stricter than libpq, which skips the check when a named file is
        // missing under prefer or require: a named file means a check.
        Some(path) => PathBuf::from(path),
        None => match env("HOME").filter(|h| !h.is_empty()) {
            Some(home) => PathBuf::from(home).join(ROOT_CERT_FILE),
            None if verify => {
                return Err(Error::Connect(format!(
                    "could not get the home directory to locate the root certificate file \
                     ~/{ROOT_CERT_FILE}: {NO_ROOT_HELP}"
                )));
            }
            None => return Ok(None),
        },
    };
    if !file.exists() {
        if verify || sslrootcert.is_some() {
            return Err(Error::Connect(format!(
                "root certificate file \"{}\" does not exist: {NO_ROOT_HELP}",
                file.display()
            )));
        }
        return Ok(None);
    }
    file_store(&file).map(Some)
}

fn file_store(file: &Path) -> Result<RootCertStore, Error> {
    let fail = |e: &dyn std::fmt::Display| {
        Error::Connect(format!("root certificate file \"{}\": {e}", file.display()))
    };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| fail(&e))? {
        let cert = cert.map_err(|e| fail(&e))?;
        store.add(cert).map_err(|e| fail(&e))?;
    }
    if store.is_empty() {
        return Err(fail(&"no certificate in it"));
    }
    Ok(store)
}

/// The operating system's trusted roots (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` override them, as in OpenSSL).
fn system_store() -> Result<RootCertStore, Error> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(found.certs);
    if store.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(Error::Connect(format!(
            "sslrootcert=system: no trusted root certificate in the operating system's store{why}"
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
