//! Security review finding 1 (issue 8): "Plain HTTP off loopback." The
//! public listener serves TLS from the server's certificate files (and
//! picks up a renewed certificate without a restart); off loopback it
//! refuses to start without TLS unless a TLS-terminating proxy is named.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use testkit::plane::Pki;
use testkit::{spawn_with, try_spawn_with, Service, StatusCode, TestApp};

/// A client trusting only `pki`'s CA that reports the certificate it saw.
fn https_client(pki: &Pki) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .tls_info(true)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// GET /healthz over TLS; the status and the server certificate presented.
async fn healthz_over_tls(pki: &Pki, app: &TestApp) -> (StatusCode, Vec<u8>) {
    let port = app.base_url().rsplit(':').next().unwrap().to_string();
    let res = https_client(pki)
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    let cert = res
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|i| i.peer_certificate())
        .unwrap()
        .to_vec();
    (res.status(), cert)
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn plain_http_off_loopback() {
    // A production hospital on a public address without TLS: refused
    // before it binds anything, naming the ways out.
    let err = try_spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__DEMO", "false"),
            ("HOSPITAL__SERVER__HOST", "0.0.0.0"),
        ],
    )
    .await
    .err()
    .expect("plain HTTP on 0.0.0.0 must not start");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("server.tls_cert") && msg.contains("server.trusted_proxies"),
        "{msg}"
    );
    // Half a TLS configuration is refused too.
    assert!(try_spawn_with(
        Service::Hospital,
        &[("HOSPITAL__SERVER__TLS_CERT", "/nonexistent/public.crt")]
    )
    .await
    .is_err());

    // With its certificate, the listener speaks TLS and only TLS.
    let pki = Pki::new();
    let first = pki.issue_public("public");
    let cert = pki.dir().join("public.crt");
    let key = pki.dir().join("public.key");
    let app = spawn_with(
        Service::Hospital,
        &[
            ("HOSPITAL__SERVER__TLS_CERT", cert.to_str().unwrap()),
            ("HOSPITAL__SERVER__TLS_KEY", key.to_str().unwrap()),
        ],
    )
    .await;
    let (status, presented) = healthz_over_tls(&pki, &app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(presented, der(&first.cert_pem));
    assert!(
        app.client.get(app.url("/healthz")).send().await.is_err(),
        "plain HTTP on the TLS port must fail"
    );

    // A renewed certificate is served without a restart.
    let second = pki.issue_public("public");
    let (status, presented) = healthz_over_tls(&pki, &app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(presented, der(&second.cert_pem));
}
