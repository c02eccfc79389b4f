//! The hospital's web pages: what each role works on (home and
//! navigation), and the page context every hospital page starts from (the
//! web session's caller as a [`Ctx`], so pages share the API's scope,
//! authorization and access-log rows).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use common::audit::Origin;
use common::auth::AuthUser;
use common::crypto::Keyring;
use common::web::{NavLink, PageError, Pages, WebUser};
use common::ApiError;

use crate::context::Ctx;
use crate::patients::scope::view_of;
use crate::tenant::tenant_of;
use crate::HospitalPermission as P;

/// The hospital's pages for the kernel.
pub const PAGES: Pages = Pages { routes, nav };

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(crate::patients::pages::routes)
        .configure(crate::patients::portal_pages::routes)
        .configure(crate::break_glass::pages::routes)
        .configure(crate::departments::pages::routes)
        .configure(crate::care_team::pages::routes)
        .configure(crate::appointments::pages::routes)
        .configure(crate::notes::pages::routes)
        .configure(crate::prescriptions::pages::routes)
        .configure(crate::labs::pages::routes)
        .configure(crate::billing::pages::routes)
        .configure(crate::messages::pages::routes)
        .configure(crate::files::pages::routes)
        .configure(crate::referrals::pages::routes)
        .configure(crate::admissions::pages::routes)
        .configure(crate::reporting::pages::routes);
}

/// The tasks of a role here, most frequent first.
fn nav(user: &AuthUser) -> Vec<NavLink> {
    let mut nav = Vec::new();
    if user.can(P::PatientsReadAll) || user.can(P::PatientsReadAssigned) {
        nav.push(NavLink {
            href: "/patients",
            label: "Patients",
            hint: if user.can(P::PatientsReadAll) {
                "find a patient by name, MRN or date of birth"
            } else {
                "the patients whose care team you are on"
            },
        });
    }
    if user.can(P::PatientsRegister) {
        nav.push(NavLink {
            href: "/patients/new",
            label: "Register a patient",
            hint: "record a new patient's details",
        });
    }
    if user.can(P::PatientsReadOwn) {
        nav.push(NavLink {
            href: "/my-record",
            label: "My record",
            hint: "your own record and who has read it",
        });
    }
    if user.can(P::AppointmentsReadAll) || user.can(P::AppointmentsReadAssigned) {
        nav.push(NavLink {
            href: "/appointments",
            label: "Appointments",
            hint: if user.can(P::AppointmentsManage) {
                "the day's appointments; book, check in, cancel"
            } else {
                "the day's appointments you may see"
            },
        });
    }
    if user.can(P::AppointmentsReadOwn) {
        nav.push(NavLink {
            href: "/my-appointments",
            label: "My appointments",
            hint: "your appointments; cancel one you cannot attend",
        });
    }
    if user.can(P::NotesReadOwn) {
        nav.push(NavLink {
            href: "/my-notes",
            label: "My notes",
            hint: "the signed clinical notes and reports of your care",
        });
    }
    if user.can(P::PrescriptionsDispense) {
        nav.push(NavLink {
            href: "/pharmacy",
            label: "Pharmacy queue",
            hint: "prescriptions to dispense or reject",
        });
    }
    if user.can(P::PrescriptionsReadOwn) {
        nav.push(NavLink {
            href: "/my-prescriptions",
            label: "My prescriptions",
            hint: "your prescriptions and what has been dispensed",
        });
    }
    if user.can(P::LabsWorklist) {
        nav.push(NavLink {
            href: "/lab",
            label: "Lab worklist",
            hint: "ordered tests to result and finalize",
        });
    }
    if user.can(P::ImagingWorklist) && !user.can(P::LabsWorklist) {
        nav.push(NavLink {
            href: "/lab",
            label: "Imaging worklist",
            hint: "ordered imaging studies to report and finalize",
        });
    }
    if user.can(P::LabsReadOwn) {
        nav.push(NavLink {
            href: "/my-labs",
            label: "My lab results",
            hint: "your finalized test results",
        });
    }
    if user.can(P::ReportsRead) {
        nav.push(NavLink {
            href: "/reports",
            label: "Reports to company",
            hint: "the de-identified counts sent to company, exactly as sent",
        });
    }
    if user.can(P::BillingRead) {
        nav.push(NavLink {
            href: "/billing",
            label: "Billing",
            hint: if user.can(P::BillingManage) {
                "invoice a patient for a period; record payments"
            } else {
                "the hospital's invoices and what was paid"
            },
        });
    }
    if user.can(P::BillingReadOwn) {
        nav.push(NavLink {
            href: "/my-invoices",
            label: "My invoices",
            hint: "what you were billed and what is paid",
        });
    }
    if user.can(P::FilesReadOwn) {
        nav.push(NavLink {
            href: "/my-files",
            label: "My files",
            hint: "your records, results and images; download them",
        });
    }
    if user.can(P::ReferralsWrite) || user.can(P::ReferralsReceive) {
        nav.push(NavLink {
            href: "/referrals",
            label: "Referrals",
            hint: "referrals to you to accept or decline; yours to follow",
        });
    }
    if user.can(P::WardsRead) {
        nav.push(NavLink {
            href: "/wards",
            label: "Wards",
            hint: if user.can(P::WardsManage) {
                "occupancy, beds, admissions; rooms and beds to manage"
            } else {
                "occupancy, beds and admissions"
            },
        });
    }
    if user.can(P::MessagesRead) {
        nav.push(NavLink {
            href: "/messages",
            label: "Messages",
            hint: "messages from colleagues and care teams; write one",
        });
    }
    if user.can(P::FilesManage) {
        nav.push(NavLink {
            href: "/files",
            label: "Patient files",
            hint: "doctors' workspaces, storage used, retention",
        });
    }
    if user.can(P::BreakGlassReview) {
        nav.push(NavLink {
            href: "/break-glass",
            label: "Break-the-glass review",
            hint: "records opened outside a care team, with their reasons",
        });
    }
    if user.can(P::DepartmentsRead) {
        nav.push(NavLink {
            href: "/departments",
            label: "Departments",
            hint: "the hospital's departments and clinical modules",
        });
    }
    nav
}

/// A hospital page's caller: the web session and the hospital context.
pub struct PageCtx {
    /// The web session (layout, CSRF token).
    pub web: WebUser,
    /// The same context API handlers get.
    pub ctx: Ctx,
}

impl FromRequest for PageCtx {
    type Error = PageError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, PageError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let web = WebUser::from_request(req, payload);
        let origin = Origin::from_request(req, payload);
        let keyring = req
            .app_data::<web::Data<Keyring>>()
            .map(|k| k.get_ref().clone());
        let hub = common::realtime::hub_of(req);
        let insurance = crate::insurance::Check::of(req);
        Box::pin(async move {
            let web = web.await?;
            let origin = origin.await?;
            let user = web.user.clone();
            let tenant = tenant_of(&user)?;
            let keyring = keyring.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("the hospital runs without a keyring"))
            })?;
            let view = view_of(&user);
            let hub = hub.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no real-time hub")))?;
            let ctx = Ctx {
                user,
                tenant,
                keyring,
                view,
                origin,
                hub,
                insurance,
            };
            Ok(Self { web, ctx })
        })
    }
}
