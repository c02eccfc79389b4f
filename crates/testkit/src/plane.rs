//! The internal plane in tests: a throw-away CA and certificates on disk,
//! the plane configuration of each server, and mTLS clients holding any
//! identity (or none, or a foreign one).

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};
use common::mtls::ServiceIdentity;
use common::Service;
pub use pki::Roles;
use pki::{Ca, IssueRequest, Issued, RevokedSerial};

/// A CA in a temporary folder, with the certificates issued from it.
pub struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    revoked: std::sync::Mutex<Vec<RevokedSerial>>,
}

/// Internal ports chosen before the servers start, so each knows its peers.
#[derive(Debug, Clone, Copy)]
pub struct PlanePorts {
    /// company's internal listener.
    pub company: u16,
    /// dev's internal listener.
    pub dev: u16,
    /// owner's internal listener.
    pub owner: u16,
}

impl PlanePorts {
    /// Three free ports.
    pub fn free() -> Self {
        Self {
            company: free_port(),
            dev: free_port(),
            owner: free_port(),
        }
    }

    /// The internal port of `service` (hospital has none: 0).
    pub fn of(&self, service: Service) -> u16 {
        match service {
            Service::Company => self.company,
            Service::Dev => self.dev,
            Service::Owner => self.owner,
            Service::Hospital => 0,
        }
    }
}

/// A port nobody listens on now, for a server in a child process
/// (see [`testdb::ports`]).
pub use testdb::ports::free_port;

impl Pki {
    /// A fresh CA (and an empty CRL).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::generate(
            "Test Bulkhead CA",
            Utc::now() - Duration::days(1),
            Utc::now() + Duration::days(365),
        )
        .unwrap();
        std::fs::write(dir.path().join("ca.crt"), &ca.cert_pem).unwrap();
        let pki = Self {
            dir,
            ca,
            revoked: std::sync::Mutex::new(Vec::new()),
        };
        pki.write_crl();
        pki
    }

    /// The folder holding `ca.crt`, `ca.crl` and the issued files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca.cert_pem
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// Issue a valid certificate for `identity` as `<name>.crt`/`<name>.key`,
    /// with the usages of its role ([`Roles::of`]).
    pub fn issue(&self, name: &str, identity: ServiceIdentity) -> Issued {
        let roles = Roles::of(&identity);
        self.issue_with_roles(name, identity, roles)
    }

    /// Issue a valid certificate for `identity` with the usages `roles`
    /// (to test one layer of checks with the one below it out of the way).
    pub fn issue_with_roles(&self, name: &str, identity: ServiceIdentity, roles: Roles) -> Issued {
        self.issue_between(
            name,
            Some(identity),
            roles,
            Utc::now() - Duration::hours(1),
            Utc::now() + Duration::days(1),
        )
    }

    /// Issue a public listener's certificate for `localhost` (serverAuth only).
    pub fn issue_public(&self, name: &str) -> Issued {
        self.issue_between(
            name,
            None,
            Roles::Server,
            Utc::now() - Duration::hours(1),
            Utc::now() + Duration::days(1),
        )
    }

    /// Issue a certificate that expired yesterday.
    pub fn issue_expired(&self, name: &str, identity: ServiceIdentity) -> Issued {
        let roles = Roles::of(&identity);
        self.issue_between(
            name,
            Some(identity),
            roles,
            Utc::now() - Duration::days(3),
            Utc::now() - Duration::days(1),
        )
    }

    fn issue_between(
        &self,
        name: &str,
        identity: Option<ServiceIdentity>,
        roles: Roles,
        from: chrono::DateTime<Utc>,
        to: chrono::DateTime<Utc>,
    ) -> Issued {
        let req = IssueRequest {
            identity,
            roles,
            dns: vec!["localhost".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            not_before: from,
            not_after: to,
        };
        let issued = self.ca.issue(&req).unwrap();
        std::fs::write(self.path(&format!("{name}.crt")), &issued.cert_pem).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), &issued.key_pem).unwrap();
        issued
    }

    /// Revoke a serial and rewrite `ca.crl` (listeners reload it).
    pub fn revoke(&self, serial_hex: &str) {
        self.revoked.lock().unwrap().push(RevokedSerial {
            serial: serial_hex.to_string(),
            revoked_at: Utc::now(),
        });
        self.write_crl();
    }

    fn write_crl(&self) {
        let revoked = self.revoked.lock().unwrap().clone();
        self.put_crl(&self.ca.crl(&revoked).unwrap());
    }

    /// Rewrite `ca.crl` with the revocations so far and a nextUpdate
    /// `next_update` (in the past for a stale or expired CRL).
    pub fn write_crl_due(&self, next_update: chrono::DateTime<Utc>) {
        let revoked = self.revoked.lock().unwrap().clone();
        let this_update = next_update - Duration::days(30);
        self.put_crl(
            &self
                .ca
                .crl_between(&revoked, this_update, next_update)
                .unwrap(),
        );
    }

    /// Delete `ca.crl`.
    pub fn delete_crl(&self) {
        std::fs::remove_file(self.path("ca.crl")).unwrap();
    }

    fn put_crl(&self, crl: &str) {
        let tmp = self.path("ca.crl.tmp");
        std::fs::write(&tmp, crl).unwrap();
        std::fs::rename(tmp, self.path("ca.crl")).unwrap();
    }

    /// The environment that turns the plane on for `service`, presenting
    /// `<name>.crt`, listening on its port of `ports`, calling the others there.
    pub fn plane_env(
        &self,
        service: Service,
        name: &str,
        ports: &PlanePorts,
    ) -> Vec<(String, String)> {
        let p = service.env_prefix();
        let path = |f: String| self.path(&f).to_string_lossy().into_owned();
        let mut env = vec![
            (format!("{p}__PLANE__ENABLED"), "true".to_string()),
            (format!("{p}__PLANE__CERT"), path(format!("{name}.crt"))),
            (format!("{p}__PLANE__KEY"), path(format!("{name}.key"))),
            (format!("{p}__PLANE__CA"), path("ca.crt".into())),
            (format!("{p}__PLANE__CRL"), path("ca.crl".into())),
            (
                format!("{p}__PLANE__COMPANY_URL"),
                format!("https://localhost:{}", ports.company),
            ),
            (
                format!("{p}__PLANE__DEV_URL"),
                format!("https://localhost:{}", ports.dev),
            ),
            (
                format!("{p}__PLANE__OWNER_URL"),
                format!("https://localhost:{}", ports.owner),
            ),
            (format!("{p}__PLANE__OUTBOX_INTERVAL_SECS"), "1".to_string()),
            (format!("{p}__PLANE__ANCHOR_INTERVAL_SECS"), "1".to_string()),
            (
                format!("{p}__PLANE__HEARTBEAT_INTERVAL_SECS"),
                "1".to_string(),
            ),
            (format!("{p}__PLANE__REQUEST_TIMEOUT_SECS"), "3".to_string()),
        ];
        if service != Service::Hospital {
            env.push((format!("{p}__PLANE__PORT"), ports.of(service).to_string()));
        } else {
            // The online copy: a backup key per certificate, shipped every second.
            env.push((
                format!("{p}__BACKUP__KEY_FILE"),
                self.backup_key_file(name).to_string_lossy().into_owned(),
            ));
            env.push((format!("{p}__BACKUP__INTERVAL_SECS"), "1".to_string()));
        }
        env
    }

    /// The backup key of the hospital presenting `<name>.crt`
    /// (`<name>.backup.key`, made on first use).
    pub fn backup_key_file(&self, name: &str) -> std::path::PathBuf {
        let file = self.path(&format!("{name}.backup.key"));
        if !file.exists() {
            let key = contracts::backup::BackupKey::generate().unwrap();
            std::fs::write(&file, format!("{}\n", key.to_hex())).unwrap();
        }
        file
    }

    /// The backup key of the hospital presenting `<name>.crt`.
    pub fn backup_key(&self, name: &str) -> contracts::backup::BackupKey {
        hospital::backup::read_key(&self.backup_key_file(name)).unwrap()
    }

    /// An mTLS client presenting `<name>.crt` (or no certificate), trusting this CA.
    pub fn client(&self, name: Option<&str>) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(self.ca.cert_pem.as_bytes()).unwrap();
        let mut b = reqwest::Client::builder()
            .tls_certs_only([ca])
            .pool_max_idle_per_host(0);
        if let Some(name) = name {
            let mut pem = std::fs::read(self.path(&format!("{name}.crt"))).unwrap();
            pem.extend(std::fs::read(self.path(&format!("{name}.key"))).unwrap());
            b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
        }
        b.build().unwrap()
    }

    /// A client presenting `other`'s certificate `<name>` but trusting this CA
    /// (a certificate from another CA).
    pub fn foreign_client(&self, other: &Pki, name: &str) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca = reqwest::Certificate::from_pem(self.ca.cert_pem.as_bytes()).unwrap();
        let mut pem = std::fs::read(other.path(&format!("{name}.crt"))).unwrap();
        pem.extend(std::fs::read(other.path(&format!("{name}.key"))).unwrap());
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .pool_max_idle_per_host(0)
            .build()
            .unwrap()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// An impostor on the internal plane: a TLS server presenting `<name>.crt`
/// of a [`Pki`] (a genuine Bulkhead certificate, but not the service it
/// stands in for) that answers every request with a success envelope and
/// counts them. Stopped on drop.
pub struct FakePeer {
    /// The port it listens on (loopback).
    pub port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    handle: actix_web::dev::ServerHandle,
}

impl FakePeer {
    /// How many requests reached it (past the TLS handshake).
    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Stop it and wait until the port is free.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for FakePeer {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl Pki {
    /// Start a [`FakePeer`] on `port` presenting `<name>.crt`.
    pub fn fake_peer(&self, name: &str, port: u16) -> FakePeer {
        use actix_web::{web, App, HttpResponse, HttpServer};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let certs = common::mtls::tls::load_certs(&self.path(&format!("{name}.crt"))).unwrap();
        let key = common::mtls::tls::load_key(&self.path(&format!("{name}.key"))).unwrap();
        let mut tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let server = HttpServer::new(move || {
            let counter = counter.clone();
            App::new().default_service(web::to(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async {
                    HttpResponse::Ok().json(serde_json::json!({
                        "success": true,
                        "data": { "accepted": 1, "duplicates": 0 }
                    }))
                }
            }))
        })
        .workers(1)
        .shutdown_timeout(1)
        .listen_rustls_0_23(TcpListener::bind(("127.0.0.1", port)).unwrap(), tls)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakePeer { port, hits, handle }
    }
}
