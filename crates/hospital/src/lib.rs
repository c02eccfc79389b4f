//! hospital-server: one hospital's records (one tenant on-site, several
//! when hosted). This crate wires the hospital's features into the common
//! application builder; `main.rs` only calls it.

pub mod admissions;
pub mod appointments;
pub mod backup;
pub mod billing;
pub mod break_glass;
pub mod care_team;
pub mod context;
pub mod departments;
pub mod files;
pub mod insurance;
pub mod labs;
pub mod messages;
pub mod notes;
pub mod openapi;
pub mod owner_link;
pub mod pages;
pub mod patients;
pub mod prescriptions;
pub mod reencrypt;
pub mod referrals;
pub mod reporting;
pub mod schema;
pub mod settings;
pub mod tenant;

use actix_web::web;
use common::db::{write_tx, Db, Migrations};
use common::rbac::{CorePermission as C, Permission, Role, Roles};
use common::server::Spec;
use common::Service;
use HospitalPermission as H;

/// This server's migrations (after the kernel's).
pub const MIGRATIONS: Migrations = Migrations {
    sqlite: common::migrations_fn!("../../migrations/hospital/sqlite"),
    postgres: common::migrations_fn!("../../migrations/hospital/postgres"),
};

/// What the hospital checks (beyond `CorePermission`); the enum is the
/// only list of them, and each name is the one written in policy files.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::IntoStaticStr, strum::EnumMessage,
)]
pub enum HospitalPermission {
    /// See the department list.
    #[strum(serialize = "departments.read")]
    DepartmentsRead,
    /// Add, rename, deactivate departments.
    #[strum(serialize = "departments.manage")]
    DepartmentsManage,
    /// See every patient of the tenant.
    #[strum(serialize = "patients.read_all")]
    PatientsReadAll,
    /// See patients on one's care team (or under break-the-glass).
    #[strum(serialize = "patients.read_assigned")]
    PatientsReadAssigned,
    /// See one's own record (portal).
    #[strum(serialize = "patients.read_own")]
    PatientsReadOwn,
    /// See clinical fields (else demographics only).
    #[strum(serialize = "patients.clinical")]
    PatientsClinical,
    /// Register patients.
    #[strum(serialize = "patients.register")]
    PatientsRegister,
    /// Change demographics.
    #[strum(serialize = "patients.update_demographics")]
    PatientsUpdateDemographics,
    /// Change clinical fields.
    #[strum(serialize = "patients.update_clinical")]
    PatientsUpdateClinical,
    /// Soft-delete, restore, see deleted.
    #[strum(serialize = "patients.delete")]
    PatientsDelete,
    /// Add/remove care-team members (of patients one may see).
    #[strum(serialize = "care_team.manage")]
    CareTeamManage,
    /// Read any patient's access log.
    #[strum(serialize = "access_log.read_all")]
    AccessLogReadAll,
    /// Open a record outside one's care team, with a reason.
    #[strum(serialize = "break_glass.request")]
    BreakGlassRequest,
    /// Review break-the-glass grants.
    #[strum(serialize = "break_glass.review")]
    BreakGlassReview,
    /// Create a patient's portal account.
    #[strum(serialize = "portal.manage")]
    PortalManage,
    /// See every appointment of the tenant.
    #[strum(serialize = "appointments.read_all")]
    AppointmentsReadAll,
    /// See the appointments of patients one may see, and one's own as doctor.
    #[strum(serialize = "appointments.read_assigned")]
    AppointmentsReadAssigned,
    /// See one's own appointments (portal).
    #[strum(serialize = "appointments.read_own")]
    AppointmentsReadOwn,
    /// Book, reschedule, cancel, check in, mark no-show for any patient.
    #[strum(serialize = "appointments.manage")]
    AppointmentsManage,
    /// Book for patients on one's care team.
    #[strum(serialize = "appointments.book_assigned")]
    AppointmentsBookAssigned,
    /// Book and cancel one's own appointments (portal).
    #[strum(serialize = "appointments.book_own")]
    AppointmentsBookOwn,
    /// Complete one's own appointments; a role with it is a doctor to book with.
    #[strum(serialize = "appointments.complete")]
    AppointmentsComplete,
    /// Set doctors' working weeks and time off.
    #[strum(serialize = "schedules.manage")]
    SchedulesManage,
    /// Read the clinical notes of patients one may see (care team or break-the-glass).
    #[strum(serialize = "notes.read")]
    NotesRead,
    /// Write notes for patients on one's care team, edit and sign one's own
    /// drafts, amend signed notes.
    #[strum(serialize = "notes.write")]
    NotesWrite,
    /// Read one's own signed notes (portal).
    #[strum(serialize = "notes.read_own")]
    NotesReadOwn,
    /// Prescribe for patients on one's care team.
    #[strum(serialize = "prescriptions.write")]
    PrescriptionsWrite,
    /// See the prescriptions of patients one may see (care team or break-the-glass).
    #[strum(serialize = "prescriptions.read_assigned")]
    PrescriptionsReadAssigned,
    /// See the tenant's prescription queue; dispense and reject.
    #[strum(serialize = "prescriptions.dispense")]
    PrescriptionsDispense,
    /// See one's own prescriptions (portal).
    #[strum(serialize = "prescriptions.read_own")]
    PrescriptionsReadOwn,
    /// Order lab tests for patients on one's care team; cancel one's own
    /// orders before results.
    #[strum(serialize = "labs.order")]
    LabsOrder,
    /// See the lab orders and results of patients one may see (care team or
    /// break-the-glass) and one's own orders.
    #[strum(serialize = "labs.read_assigned")]
    LabsReadAssigned,
    /// See the tenant's lab worklist (every order).
    #[strum(serialize = "labs.worklist")]
    LabsWorklist,
    /// Enter results, finalize, amend finalized results.
    #[strum(serialize = "labs.result")]
    LabsResult,
    /// See one's own finalized lab results (portal).
    #[strum(serialize = "labs.read_own")]
    LabsReadOwn,
    /// See the tenant's imaging worklist (every imaging order).
    #[strum(serialize = "imaging.worklist")]
    ImagingWorklist,
    /// Enter, finalize and amend the results of imaging orders.
    #[strum(serialize = "imaging.result")]
    ImagingResult,
    /// Write to a staff member.
    #[strum(serialize = "messages.send_staff")]
    MessagesSendStaff,
    /// Write to the care team of a patient one may see (a patient: their own).
    #[strum(serialize = "messages.send_care_team")]
    MessagesSendCareTeam,
    /// Read one's own inbox.
    #[strum(serialize = "messages.read")]
    MessagesRead,
    /// Every file of the tenant: workspaces, deleted files, restore, purge
    /// after retention, legal holds, usage, the retention job.
    #[strum(serialize = "files.manage")]
    FilesManage,
    /// What `files.manage` allows, for the modules one is assigned to only
    /// (a module admin).
    #[strum(serialize = "files.manage_modules")]
    FilesManageModules,
    /// Read the files of patients one may see (care team or break-the-glass)
    /// and of one's own workspace.
    #[strum(serialize = "files.read_assigned")]
    FilesReadAssigned,
    /// Upload to the folders of patients on one's care team (a doctor: also
    /// to one's own workspace, and take a patient on into it).
    #[strum(serialize = "files.write_assigned")]
    FilesWriteAssigned,
    /// Download one's own files (portal).
    #[strum(serialize = "files.read_own")]
    FilesReadOwn,
    /// Upload lab results into a patient's folder (and nothing else).
    #[strum(serialize = "files.upload_lab_results")]
    FilesUploadLabResults,
    /// Upload consent forms into a patient's folder (and nothing else).
    #[strum(serialize = "files.upload_consent_forms")]
    FilesUploadConsentForms,
    /// Upload imaging into a patient's folder (and nothing else).
    #[strum(serialize = "files.upload_imaging")]
    FilesUploadImaging,
    /// Refer patients on one's care team to a doctor or a department;
    /// cancel one's own pending referrals.
    #[strum(serialize = "referrals.write")]
    ReferralsWrite,
    /// Receive referrals (to oneself, or to a department while pending):
    /// accept (joining the care team) or decline.
    #[strum(serialize = "referrals.receive")]
    ReferralsReceive,
    /// See rooms, beds and the occupancy counts (no PHI).
    #[strum(serialize = "wards.read")]
    WardsRead,
    /// Add, rename and deactivate rooms; add beds.
    #[strum(serialize = "wards.manage")]
    WardsManage,
    /// Admit any patient, transfer, see every admission.
    #[strum(serialize = "admissions.manage")]
    AdmissionsManage,
    /// Admit, transfer and discharge (with a discharge summary) patients on
    /// one's care team.
    #[strum(serialize = "admissions.admit_assigned")]
    AdmissionsAdmitAssigned,
    /// See the admissions of patients one may see (care team or break-the-glass).
    #[strum(serialize = "admissions.read_assigned")]
    AdmissionsReadAssigned,
    /// See every invoice of the tenant (amounts and what was billed, the
    /// patient's name; never clinical content).
    #[strum(serialize = "billing.read")]
    BillingRead,
    /// Issue invoices from the price list, record payments, void invoices
    /// without payments.
    #[strum(serialize = "billing.manage")]
    BillingManage,
    /// See one's own invoices (portal).
    #[strum(serialize = "billing.read_own")]
    BillingReadOwn,
    /// Compute a de-identified report of the tenant now and queue it for
    /// company.
    #[strum(serialize = "reports.send")]
    ReportsSend,
    /// List the de-identified reports and read the exact bytes sent.
    #[strum(serialize = "reports.read")]
    ReportsRead,
}

impl Permission for HospitalPermission {}

/// Compiled role → permissions (see docs/security.md, "Authorization"); `[rbac.roles]` may override.
pub const POLICY: Roles<HospitalPermission> = Roles(&[
    Role {
        name: "admin",
        core: &[C::UsersManage, C::AuditRead, C::RolesManage],
        own: &[
            H::DepartmentsRead,
            H::DepartmentsManage,
            H::PatientsReadAll,
            H::PatientsClinical,
            H::PatientsRegister,
            H::PatientsUpdateDemographics,
            H::PatientsUpdateClinical,
            H::PatientsDelete,
            H::CareTeamManage,
            H::AccessLogReadAll,
            H::BreakGlassReview,
            H::PortalManage,
            H::AppointmentsReadAll,
            H::AppointmentsManage,
            H::SchedulesManage,
            H::MessagesSendStaff,
            H::MessagesSendCareTeam,
            H::MessagesRead,
            H::FilesManage,
            H::WardsRead,
            H::WardsManage,
            H::AdmissionsManage,
            H::BillingRead,
            H::ReportsSend,
            H::ReportsRead,
        ],
    },
    Role {
        name: "doctor",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::PatientsReadAssigned,
            H::PatientsClinical,
            H::PatientsUpdateClinical,
            H::CareTeamManage,
            H::BreakGlassRequest,
            H::AppointmentsReadAssigned,
            H::AppointmentsBookAssigned,
            H::AppointmentsComplete,
            H::NotesRead,
            H::NotesWrite,
            H::PrescriptionsWrite,
            H::PrescriptionsReadAssigned,
            H::LabsOrder,
            H::LabsReadAssigned,
            H::MessagesSendStaff,
            H::MessagesSendCareTeam,
            H::MessagesRead,
            H::FilesReadAssigned,
            H::FilesWriteAssigned,
            H::ReferralsWrite,
            H::ReferralsReceive,
            H::WardsRead,
            H::AdmissionsAdmitAssigned,
            H::AdmissionsReadAssigned,
        ],
    },
    Role {
        name: "nurse",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::PatientsReadAssigned,
            H::PatientsClinical,
            H::PatientsUpdateClinical,
            H::BreakGlassRequest,
            H::AppointmentsReadAssigned,
            H::NotesRead,
            H::NotesWrite,
            H::PrescriptionsReadAssigned,
            H::LabsReadAssigned,
            H::MessagesSendStaff,
            H::MessagesSendCareTeam,
            H::MessagesRead,
            H::FilesReadAssigned,
            H::FilesWriteAssigned,
            H::WardsRead,
            H::AdmissionsReadAssigned,
        ],
    },
    Role {
        name: "reception",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::PatientsReadAll,
            H::PatientsRegister,
            H::PatientsUpdateDemographics,
            H::PortalManage,
            H::AppointmentsReadAll,
            H::AppointmentsManage,
            H::MessagesSendStaff,
            H::MessagesSendCareTeam,
            H::MessagesRead,
            H::FilesUploadConsentForms,
            H::WardsRead,
            H::AdmissionsManage,
        ],
    },
    Role {
        name: "lab",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::LabsWorklist,
            H::LabsResult,
            H::MessagesSendStaff,
            H::MessagesRead,
            H::FilesUploadLabResults,
        ],
    },
    Role {
        name: "pharmacist",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::PrescriptionsDispense,
            H::MessagesSendStaff,
            H::MessagesRead,
        ],
    },
    // Roles beyond the original seven (issue 11, item 9): permission sets
    // only, no code of their own; docs/security.md gives each permission's
    // reason.
    Role {
        name: "radiologist",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::ImagingWorklist,
            H::ImagingResult,
            H::FilesUploadImaging,
            H::MessagesSendStaff,
            H::MessagesRead,
        ],
    },
    Role {
        name: "dietician",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::PatientsReadAssigned,
            H::PatientsClinical,
            H::NotesRead,
            H::NotesWrite,
            H::LabsReadAssigned,
            H::MessagesSendStaff,
            H::MessagesSendCareTeam,
            H::MessagesRead,
        ],
    },
    Role {
        name: "it",
        core: &[C::AuditRead],
        own: &[H::DepartmentsRead, H::MessagesSendStaff, H::MessagesRead],
    },
    Role {
        name: "command_center",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::WardsRead,
            H::MessagesSendStaff,
            H::MessagesRead,
        ],
    },
    Role {
        name: "logistics",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::WardsRead,
            H::WardsManage,
            H::MessagesSendStaff,
            H::MessagesRead,
        ],
    },
    Role {
        name: "module_admin",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::MessagesSendStaff,
            H::MessagesRead,
            H::FilesManageModules,
        ],
    },
    Role {
        name: "accountant",
        core: &[],
        own: &[
            H::DepartmentsRead,
            H::MessagesSendStaff,
            H::MessagesRead,
            H::BillingRead,
            H::BillingManage,
        ],
    },
    Role {
        name: "patient",
        core: &[],
        own: &[
            H::PatientsReadOwn,
            H::PatientsClinical,
            H::AppointmentsReadOwn,
            H::AppointmentsBookOwn,
            H::NotesReadOwn,
            H::PrescriptionsReadOwn,
            H::LabsReadOwn,
            H::MessagesSendCareTeam,
            H::MessagesRead,
            H::FilesReadOwn,
            H::BillingReadOwn,
        ],
    },
]);

/// Demo users of the original design (demo mode only).
pub const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("hadmin", "hadmin123", "admin"),
    ("doctor", "doctor123", "doctor"),
    ("nurse", "nurse123", "nurse"),
    ("reception", "reception123", "reception"),
    ("lab", "lab123", "lab"),
    ("pharmacist", "pharmacist123", "pharmacist"),
    ("radiologist", "radiologist123", "radiologist"),
    ("accountant", "accountant123", "accountant"),
];

/// What the common builder needs to start a hospital server.
pub static SPEC: Spec = Spec {
    service: Service::Hospital,
    migrations: MIGRATIONS,
    policy: &POLICY,
    admin_role: "admin",
    demo_users: DEMO_USERS,
    routes,
    openapi: openapi::api,
    demo_seed: None,
    needs_keyring: true,
    on_start: Some(seed_tenants),
    internal_routes: None,
    start_plane: Some(owner_link::start),
    sections: &[
        settings::CLINICAL,
        reencrypt::SECTION,
        files::rules::SECTION,
        insurance::SECTION,
        billing::price_list::SECTION,
        UPDATES,
        reporting::SECTION,
        backup::SECTION,
    ],
    background: Some(background),
    pages: pages::PAGES,
    tenant_gate: Some(&owner_link::standing::GATE),
};

/// What a hospital server runs as, for company's approvals.
pub const PRODUCT: &str = "hospital-server";

/// The product a hospital's configuration documents are released as
/// (dev's versioned configuration of kind `hospital`).
pub const CONFIG_PRODUCT: &str = "hospital-config";

/// `[updates]`: the approved release this server follows ([`common::updates`]).
const UPDATES: common::server::Section = common::server::Section {
    name: "updates",
    load: |config| common::updates::section_data(config, PRODUCT),
};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(departments::http::routes)
        .configure(patients::http::routes)
        .configure(care_team::http::routes)
        .configure(break_glass::http::routes)
        .configure(appointments::http::routes)
        .configure(appointments::schedule_http::routes)
        .configure(notes::http::routes)
        .configure(prescriptions::http::routes)
        .configure(labs::http::routes)
        .configure(billing::http::routes)
        .configure(messages::http::routes)
        .configure(files::http::routes)
        .configure(referrals::http::routes)
        .configure(admissions::http::routes)
        .configure(reporting::http::routes);
}

/// The hospital's background work: re-encryption after a key rotation,
/// the files' retention job and the scheduled de-identified report.
fn background(
    config: &common::config::Config,
    db: &Db,
    keyring: Option<&common::crypto::Keyring>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = reencrypt::worker::start(config, db, keyring)?;
    tasks.extend(files::retention::start(config, db, keyring)?);
    tasks.extend(reporting::worker::start(config, db, keyring)?);
    Ok(tasks)
}

/// Seed the departments of every tenant the server serves: the pinned one
/// and every tenant with users (a hosted server's tenants come with their
/// first users, created before this hook runs). Idempotent, so every start
/// runs it; reads never seed.
fn seed_tenants(db: &Db, pinned: Option<&str>) -> anyhow::Result<()> {
    let mut conn = db.conn().map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut tenants = departments::store::tenants_with_users(&mut conn)
        .map_err(|e| anyhow::anyhow!("listing tenants: {e}"))?;
    if let Some(p) = pinned {
        if !tenants.iter().any(|t| t == p) {
            tenants.push(p.to_string());
        }
    }
    for tenant in &tenants {
        write_tx(&mut conn, |c| departments::store::seed_if_empty(c, tenant))
            .map_err(|e| anyhow::anyhow!("seeding departments: {e}"))?;
    }
    Ok(())
}
