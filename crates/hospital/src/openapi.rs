//! The hospital's OpenAPI description (paths relative to `/api/v1/tenant`),
//! and the shapes of the small answers its handlers build with `json!`
//! (documentation only).

use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(
    crate::departments::http::list,
    crate::reporting::http::create,
    crate::reporting::http::list,
    crate::reporting::http::get,
    crate::departments::http::create,
    crate::departments::http::get,
    crate::departments::http::update,
    crate::patients::http::list,
    crate::patients::http::register,
    crate::patients::http::get,
    crate::patients::http::update,
    crate::patients::http::delete,
    crate::patients::http::restore,
    crate::patients::http::access_log,
    crate::patients::portal::portal_account,
    crate::patients::portal::redeem,
    crate::care_team::http::list,
    crate::care_team::http::add,
    crate::care_team::http::remove,
    crate::break_glass::http::request,
    crate::break_glass::http::list,
    crate::break_glass::http::acknowledge,
    crate::appointments::http::book,
    crate::appointments::http::list,
    crate::appointments::http::get,
    crate::appointments::http::reschedule,
    crate::appointments::http::cancel,
    crate::appointments::http::check_in,
    crate::appointments::http::complete,
    crate::appointments::http::no_show,
    crate::appointments::schedule_http::get_schedule,
    crate::appointments::schedule_http::put_schedule,
    crate::appointments::schedule_http::list_time_off,
    crate::appointments::schedule_http::add_time_off,
    crate::appointments::schedule_http::remove_time_off,
    crate::appointments::schedule_http::slots,
    crate::notes::http::create,
    crate::notes::http::list,
    crate::notes::http::get,
    crate::notes::http::edit,
    crate::notes::http::sign,
    crate::notes::http::amend,
    crate::prescriptions::http::create,
    crate::prescriptions::http::list,
    crate::prescriptions::http::get,
    crate::prescriptions::http::dispense,
    crate::prescriptions::http::reject,
    crate::labs::http::create,
    crate::labs::http::list,
    crate::labs::http::get,
    crate::labs::http::results,
    crate::labs::http::finalize,
    crate::labs::http::amend,
    crate::labs::http::cancel,
    crate::billing::http::price_list,
    crate::billing::http::create,
    crate::billing::http::list,
    crate::billing::http::get,
    crate::billing::http::pay,
    crate::billing::http::void,
    crate::files::spaces_http::create_workspace,
    crate::files::spaces_http::list_modules,
    crate::files::spaces_http::assign_module_admin,
    crate::files::spaces_http::withdraw_module_admin,
    crate::files::spaces_http::list_workspaces,
    crate::files::spaces_http::get_workspace,
    crate::files::transfer_http::upload_to_workspace,
    crate::files::spaces_http::create_folder,
    crate::files::spaces_http::list_folders,
    crate::files::transfer_http::upload_to_folder,
    crate::files::http::list_files,
    crate::files::http::get_file,
    crate::files::http::delete_file,
    crate::files::transfer_http::download,
    crate::files::http::restore_file,
    crate::files::http::purge_file,
    crate::files::holds_http::usage,
    crate::files::holds_http::run_retention,
    crate::files::holds_http::get_hold,
    crate::files::holds_http::place_hold,
    crate::files::holds_http::lift_hold,
    crate::messages::http::send,
    crate::messages::http::list,
    crate::referrals::http::create,
    crate::referrals::http::list,
    crate::referrals::http::get,
    crate::referrals::http::accept,
    crate::referrals::http::decline,
    crate::referrals::http::cancel,
    crate::admissions::http::create_room,
    crate::admissions::http::list_rooms,
    crate::admissions::http::update_room,
    crate::admissions::http::create_bed,
    crate::admissions::http::list_beds,
    crate::admissions::http::occupancy,
    crate::admissions::http::admit,
    crate::admissions::http::list,
    crate::admissions::http::get,
    crate::admissions::http::transfer,
    crate::admissions::http::discharge,
))]
struct HospitalApi;

/// The hospital's own routes, for the common document builder.
pub fn api() -> utoipa::openapi::OpenApi {
    HospitalApi::openapi()
}

/// A soft delete.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Deleted {
    /// Always true.
    deleted: bool,
}

/// A restore.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Restored {
    /// Always true.
    restored: bool,
}

/// A care-team member added.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Added {
    /// Always true.
    added: bool,
}

/// A care-team member removed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Removed {
    /// Always true.
    removed: bool,
}

/// A break-the-glass grant reviewed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Acknowledged {
    /// Always true.
    acknowledged: bool,
}

/// A break-the-glass grant.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct GrantIssued {
    /// Grant id.
    id: String,
    /// The patient opened.
    patient_id: String,
    /// When it ends (UTC).
    expires_at: chrono::NaiveDateTime,
}

/// A one-time portal enrolment code.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EnrolmentCode {
    /// Give it to the patient; it is not shown again.
    enrolment_code: String,
    /// When it stops working (UTC).
    expires_at: chrono::NaiveDateTime,
}

/// A portal account just opened.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PortalAccount {
    /// User id.
    id: String,
    /// Login name.
    username: String,
    /// The hospital.
    tenant_id: String,
    /// Always `patient`.
    role: String,
}
