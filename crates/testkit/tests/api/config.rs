//! Start-up configuration: demo mode only on loopback, a bootstrap admin
//! outside demo mode, role overrides from the environment, and bad
//! settings refused before anything listens.

use serde_json::json;
use testkit::{
    assert_error, spawn_with, try_spawn_with, Method, Service, StatusCode, STRONG_PASSWORD,
};

fn key(service: Service, name: &str) -> String {
    format!("{}__{name}", service.env_prefix())
}

#[tokio::test]
async fn demo_mode_is_refused_off_loopback() {
    for service in Service::ALL {
        let host = key(service, "SERVER__HOST");
        let err = try_spawn_with(service, &[(host.as_str(), "0.0.0.0")])
            .await
            .err()
            .unwrap_or_else(|| panic!("{service}: demo mode started on 0.0.0.0"));
        assert!(
            format!("{err:#}").contains("demo mode is refused"),
            "{service}: {err:#}"
        );
    }
}

#[tokio::test]
async fn without_demo_the_first_admin_comes_from_the_environment() {
    for service in Service::ALL {
        let (demo, user, pass, mfa) = (
            key(service, "DEMO"),
            key(service, "BOOTSTRAP__ADMIN_USERNAME"),
            key(service, "BOOTSTRAP__ADMIN_PASSWORD"),
            key(service, "AUTH__MFA_REQUIRED_ROLES"),
        );
        let app = spawn_with(
            service,
            &[
                (demo.as_str(), "false"),
                (user.as_str(), "first-admin"),
                (pass.as_str(), STRONG_PASSWORD),
                // The admin's second factor has its own test (mfa.rs).
                (mfa.as_str(), ""),
            ],
        )
        .await;

        let token = app.login("first-admin", STRONG_PASSWORD).await;
        let (_, me) = app.api(Method::GET, "/auth/me", Some(&token), None).await;
        assert_eq!(me["data"]["role"], app.spec().admin_role, "{service}");
        let (demo_user, demo_pass) = app.admin_credentials();
        let login = json!({ "username": demo_user, "password": demo_pass });
        let (status, body) = app
            .api(Method::POST, "/auth/login", None, Some(login))
            .await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        let (_, users) = app.api(Method::GET, "/users", Some(&token), None).await;
        assert_eq!(
            users["meta"]["total"], 1,
            "{service}: no demo users without demo mode"
        );
    }
}

#[tokio::test]
async fn a_weak_bootstrap_password_stops_the_start() {
    let env = [
        ("COMPANY__DEMO", "false"),
        ("COMPANY__BOOTSTRAP__ADMIN_USERNAME", "root1"),
        ("COMPANY__BOOTSTRAP__ADMIN_PASSWORD", "password123"),
    ];
    let err = try_spawn_with(Service::Company, &env)
        .await
        .err()
        .expect("a weak password must stop it");
    assert!(format!("{err:#}").contains("password"), "{err:#}");
}

#[tokio::test]
async fn role_overrides_are_read_from_the_environment_as_lists() {
    let app = spawn_with(
        Service::Company,
        &[
            ("COMPANY__RBAC__ROLES__AUDITOR", "audit.read,users.manage"),
            ("COMPANY__RBAC__ROLES__ANALYST", "audit.read"),
        ],
    )
    .await;
    let admin = app.admin_token().await;
    app.create_user(&admin, "auditor1", "auditor").await;
    let auditor = app.login("auditor1", STRONG_PASSWORD).await;
    let analyst = app.login("analyst", "analyst123").await;

    assert_eq!(
        app.api(Method::GET, "/audit", Some(&auditor), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.api(Method::GET, "/users", Some(&auditor), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.api(Method::GET, "/audit", Some(&analyst), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.api(Method::GET, "/users", Some(&analyst), None).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_listens() {
    // (service, environment, a fragment the error must name)
    type Case = (Service, Vec<(&'static str, &'static str)>, &'static str);
    let cases: Vec<Case> = vec![
        (
            Service::Company,
            vec![("COMPANY__SERVER__BOGUS", "1")],
            "unknown field `bogus`",
        ),
        (
            Service::Company,
            vec![("COMPANY__AUTH__JWT_SECRET", "too-short")],
            "auth.jwt_secret must be at least 32 bytes",
        ),
        (
            Service::Company,
            vec![("COMPANY__AUTH__BCRYPT_COST", "3")],
            "auth.bcrypt_cost must be between 4 and 31",
        ),
        (
            Service::Company,
            vec![("COMPANY__TENANCY__MODE", "hosted")],
            "tenancy is a hospital setting",
        ),
        (
            Service::Company,
            vec![("COMPANY__RBAC__ROLES__AUDITOR", "root.everything")],
            "role `auditor` names unknown permission `root.everything`",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__RBAC__ROLES__NURSE", "patients.raed_assigned")],
            "unknown permission `patients.raed_assigned`",
        ),
        (
            Service::Dev,
            vec![("DEV__RBAC__ROLES__TEAM-LEAD", "audit.read")],
            "role names are 1 to 64 lower-case letters",
        ),
        (
            Service::Dev,
            vec![("DEV__DATABASE__URL", "mysql://somewhere/db")],
            "database.url must start with sqlite:// or postgres://",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__TENANCY__TENANT_ID", "not-a-uuid")],
            "tenancy.tenant_id must be a UUID",
        ),
        (
            Service::Owner,
            vec![("OWNER__SERVER__PORT", "not-a-port")],
            "port",
        ),
        (
            Service::Owner,
            vec![("OWNER__METRICS__ALLOW", "10.0.0.0/99")],
            "metrics",
        ),
        // Hospital-only settings belong to the hospital: the kernel does
        // not know them, and no other server takes them.
        (
            Service::Company,
            vec![("COMPANY__CLINICAL__BREAK_GLASS_MINUTES", "60")],
            "unknown configuration section `clinical`: company takes no such section",
        ),
        (
            Service::Dev,
            vec![("DEV__BOGUS__KEY", "1")],
            "unknown configuration section `bogus`",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__CLINICALL__BREAK_GLASS_MINUTES", "60")],
            "unknown configuration section `clinicall`: hospital takes no such section (its own: clinical, reencrypt, files, insurance, billing, updates, reporting, backup)",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__INSURANCE__URL", "http://insurer.example/eligibility")],
            "insurance.url must be https (plain http only to a loopback host)",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__INSURANCE__URL", "file:///etc/passwd")],
            "insurance.url must be an http(s) URL with a host",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__INSURANCE__FAILURE_RATIO", "1.0")],
            "insurance.failure_ratio must be at least 0 and below 1",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__INSURANCE__TIMEOUT_MS", "0")],
            "insurance.timeout_ms must be between 100 and 60000",
        ),
        (
            Service::Company,
            vec![("COMPANY__INSURANCE__URL", "https://insurer.example/e")],
            "unknown configuration section `insurance`: company takes no such section",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BILLING__CURRENCY", "euro")],
            "billing.currency must be an ISO 4217 code of three capital letters, such as EUR",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BILLING__APPOINTMENTS__CONSULTATION", "-1")],
            "billing.appointments.consultation must be a price in minor units between 0 and 1000000000",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BILLING__DISPENSING__PER", "bottle")],
            "enum DispensePer does not have variant constructor bottle for key `dispensing.per`",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__REENCRYPT__BATCH_SIZE", "0")],
            "reencrypt.batch_size must be between 1 and 1000",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__CLINICAL__BREAK_GLASS_MINUTE", "60")],
            "unknown field `break_glass_minute`",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__CLINICAL__BREAK_GLASS_MINUTES", "0")],
            "clinical.break_glass_minutes must be between 1 and 1440",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__CLINICAL__BREAK_GLASS_MINUTES", "1441")],
            "clinical.break_glass_minutes must be between 1 and 1440",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__REPORTING__SUPPRESS_BELOW", "1")],
            "reporting.suppress_below must be between 2 and 1000",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__REPORTING__WEEKS", "54")],
            "reporting.weeks must be between 1 and 53",
        ),
        (
            Service::Company,
            vec![("COMPANY__REPORTING__ENABLED", "false")],
            "unknown configuration section `reporting`",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BACKUP__BATCH_ROWS", "0")],
            "backup.batch_rows must be between 1 and 100000",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BACKUP__INTERVAL_SECS", "86401")],
            "backup.interval_secs must be between 1 and 86400",
        ),
        (
            Service::Hospital,
            vec![("HOSPITAL__BACKUP__KEY_FILE", "/nonexistent/backup.key")],
            "reading the backup key /nonexistent/backup.key",
        ),
    ];
    for (service, env, reason) in cases {
        let err = match try_spawn_with(service, &env).await {
            Ok(_) => panic!("{service} started with {env:?}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(
            err.contains(reason),
            "{service} with {env:?}: expected `{reason}` in: {err}"
        );
    }
}
