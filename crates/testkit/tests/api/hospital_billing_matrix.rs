//! Billing's authorization matrix: every billing endpoint tried by every
//! kind of caller (the accountant included), each answer checked against
//! one table; a refused change leaves everything as it was.

use std::collections::HashMap;

use serde_json::{json, Value};
use strum::VariantArray;
use testkit::hospital::{id_of, ids, portal_account};
use testkit::{assert_error, assert_ok, Method, StatusCode, STRONG_PASSWORD};

use crate::hospital_billing::{invoice_body, Bill};

/// Who calls: each hospital role, a patient on their own invoices or
/// another's, and no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
enum Caller {
    Admin,
    Doctor,
    Nurse,
    Reception,
    Lab,
    Pharmacist,
    ModuleAdmin,
    Accountant,
    PatientOwn,
    PatientOther,
    NoToken,
}

/// What a cell expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Status(u16),
    Lists,
    Hides,
}

const OK: Want = Want::Status(200);
const NEW: Want = Want::Status(201);
const ANON: Want = Want::Status(401);
const DENY: Want = Want::Status(403);
const GONE: Want = Want::Status(404);
const LIST: Want = Want::Lists;
const HIDE: Want = Want::Hides;

fn code_for(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        other => panic!("no envelope code for {other} in the matrix"),
    }
}

/// Every billing endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
enum Endpoint {
    PriceList,
    Create,
    List,
    Get,
    Pay,
    Void,
}

impl Endpoint {
    fn changes(self) -> bool {
        matches!(self, Self::Create | Self::Pay | Self::Void)
    }
}

/// Endpoint × caller; "own"/"other" is a patient on their own invoice or another's.
#[rustfmt::skip]
const MATRIX: &[(Endpoint, [Want; 11])] = &[
    //                     admin doct  nurse recep lab   pharm madm  acct  own   other none
    (Endpoint::PriceList, [OK,   DENY, DENY, DENY, DENY, DENY, DENY, OK,   OK,   OK,   ANON]),
    (Endpoint::Create,    [DENY, DENY, DENY, DENY, DENY, DENY, DENY, NEW,  DENY, DENY, ANON]),
    (Endpoint::List,      [LIST, DENY, DENY, DENY, DENY, DENY, DENY, LIST, LIST, HIDE, ANON]),
    (Endpoint::Get,       [OK,   DENY, DENY, DENY, DENY, DENY, DENY, OK,   OK,   GONE, ANON]),
    (Endpoint::Pay,       [DENY, DENY, DENY, DENY, DENY, DENY, DENY, NEW,  DENY, DENY, ANON]),
    (Endpoint::Void,      [DENY, DENY, DENY, DENY, DENY, DENY, DENY, OK,   DENY, DENY, ANON]),
];

/// What a cell acts on: a patient and (unless it is to be billed) their invoice.
#[derive(Debug, Clone)]
struct Target {
    patient: String,
    invoice: String,
}

struct World {
    bill: Bill,
    tokens: HashMap<Caller, String>,
    own_patient: String,
    own: Target,
    shared: Target,
}

impl World {
    async fn new() -> Self {
        let bill = Bill::new().await;
        let app = &bill.app;
        app.create_user(&bill.admin, "modadmin", "module_admin")
            .await;
        let own_patient = bill.patient().await;
        portal_account(app, &bill.admin, &own_patient, "portal-own").await;
        let patient = app.login("portal-own", STRONG_PASSWORD).await;
        let mut tokens = HashMap::new();
        for (caller, token) in [
            (Caller::Admin, bill.admin.clone()),
            (Caller::Doctor, bill.doctor.clone()),
            (Caller::Nurse, app.login("nurse", "nurse123").await),
            (
                Caller::Reception,
                app.login("reception", "reception123").await,
            ),
            (Caller::Lab, bill.lab.clone()),
            (Caller::Pharmacist, bill.pharmacist.clone()),
            (
                Caller::ModuleAdmin,
                app.login("modadmin", STRONG_PASSWORD).await,
            ),
            (Caller::Accountant, bill.accountant.clone()),
            (Caller::PatientOwn, patient.clone()),
            (Caller::PatientOther, patient),
        ] {
            tokens.insert(caller, token);
        }
        let mut world = Self {
            bill,
            tokens,
            own_patient: own_patient.clone(),
            own: Target {
                patient: String::new(),
                invoice: String::new(),
            },
            shared: Target {
                patient: String::new(),
                invoice: String::new(),
            },
        };
        world.own = world.invoiced(&own_patient).await;
        let shared = world.bill.patient().await;
        world.shared = world.invoiced(&shared).await;
        world
    }

    /// A fresh visit of `patient`, invoiced.
    async fn invoiced(&self, patient: &str) -> Target {
        self.bill.visit(patient).await;
        Target {
            patient: patient.to_string(),
            invoice: id_of(&self.bill.invoice(patient).await),
        }
    }

    /// A fresh patient with a visit not yet billed.
    async fn billable(&self) -> Target {
        let patient = self.bill.patient().await;
        self.bill.visit(&patient).await;
        Target {
            patient,
            invoice: String::new(),
        }
    }

    /// What the accountant sees of the patient's invoices.
    async fn snapshot(&self, t: &Target) -> Value {
        let (status, all) = self
            .bill
            .call(
                &self.bill.accountant,
                Method::GET,
                &format!("/invoices?patient_id={}&page_size=100", t.patient),
                None,
            )
            .await;
        assert_ok(status, &all, StatusCode::OK);
        json!({ "all": all["data"], "total": all["meta"]["total"] })
    }

    fn request(&self, endpoint: Endpoint, t: &Target) -> (Method, String, Option<Value>) {
        let i = &t.invoice;
        match endpoint {
            Endpoint::PriceList => (Method::GET, "/billing/price-list".into(), None),
            Endpoint::Create => (
                Method::POST,
                "/invoices".into(),
                Some(invoice_body(&t.patient)),
            ),
            Endpoint::List => (Method::GET, "/invoices?page_size=100".into(), None),
            Endpoint::Get => (Method::GET, format!("/invoices/{i}"), None),
            Endpoint::Pay => (
                Method::POST,
                format!("/invoices/{i}/payments"),
                Some(json!({ "amount": 100, "method": "cash" })),
            ),
            Endpoint::Void => (
                Method::POST,
                format!("/invoices/{i}/void"),
                Some(json!({ "reason": "Issued by mistake" })),
            ),
        }
    }
}

#[test]
fn the_billing_matrix_has_one_row_per_endpoint_and_one_column_per_caller() {
    for endpoint in Endpoint::VARIANTS {
        let rows = MATRIX.iter().filter(|(e, _)| e == endpoint).count();
        assert_eq!(rows, 1, "{endpoint:?} has {rows} rows in the matrix");
    }
    assert_eq!(MATRIX.len(), Endpoint::VARIANTS.len());
    assert_eq!(Caller::VARIANTS.len(), 11);
}

#[tokio::test]
async fn every_billing_endpoint_answers_every_caller_exactly_as_the_matrix_says() {
    let world = World::new().await;
    let app = &world.bill.app;
    for (endpoint, row) in MATRIX {
        for (caller, want) in Caller::VARIANTS.iter().zip(row.iter()) {
            let cell = format!("{endpoint:?} by {caller:?} (want {want:?})");
            let target = match (endpoint, caller) {
                (Endpoint::Create, Caller::PatientOwn) => Target {
                    patient: world.own_patient.clone(),
                    invoice: String::new(),
                },
                (Endpoint::Create, _) => world.billable().await,
                (_, Caller::PatientOwn) => world.own.clone(),
                (e, _) if e.changes() => {
                    let p = world.bill.patient().await;
                    world.invoiced(&p).await
                }
                _ => world.shared.clone(),
            };
            if *endpoint == Endpoint::Create && *caller == Caller::PatientOwn {
                world.bill.visit(&target.patient).await;
            }
            let denied = matches!(want, Want::Status(s) if *s >= 400);
            let before = if endpoint.changes() && denied {
                Some(world.snapshot(&target).await)
            } else {
                None
            };
            let (method, path, body) = world.request(*endpoint, &target);
            let token = world.tokens.get(caller).map(String::as_str);
            let (status, reply) = app.api(method, &path, token, body).await;
            match want {
                Want::Status(s) => {
                    let expected = StatusCode::from_u16(*s).unwrap();
                    if *s < 300 {
                        assert_ok(status, &reply, expected);
                    } else {
                        assert_eq!(status, expected, "{cell}: {reply}");
                        assert_error(status, &reply, expected, code_for(*s));
                        assert!(reply["data"].is_null(), "{cell}: {reply}");
                    }
                }
                Want::Lists | Want::Hides => {
                    assert_ok(status, &reply, StatusCode::OK);
                    let listed = ids(&reply).contains(&target.invoice);
                    assert_eq!(listed, *want == Want::Lists, "{cell}: {reply}");
                }
            }
            if let Some(before) = before {
                let after = world.snapshot(&target).await;
                assert_eq!(before, after, "{cell}: a refused request changed something");
            }
        }
    }
    assert!(app.verify_audit().await.is_intact());
}
