//! Computing one tenant's report: raw counts per cell, then suppression
//! ([`contracts::report::suppressed_cells`]). Dates of birth are opened in
//! memory only to find an age band (age at the end of the report's last
//! week) and never leave this function; weeks are ISO weeks in UTC.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use common::crypto::Keyring;
use common::db::DbConn;
use common::{ApiError, ApiResult};
use contracts::report::{
    suppressed_cells, AgeBand, CellKey, Count, DeidentifiedReport, IsoWeek, Measure, ReportId, Sex,
    Slug, TenantId,
};
use diesel::prelude::*;

use super::ReportingSection;
use crate::patients::sealed::Sealer;
use crate::schema::{admissions, appointments, beds, break_glass, departments, patients, rooms};

/// Most weeks a report covers.
pub const MAX_WEEKS: u32 = 53;

/// The department code every unlisted department is reported as.
pub const OTHER: &str = "other";

/// The period `[from, to]`: the last `weeks` ISO weeks up to the one `now` is in.
pub fn default_period(now: NaiveDateTime, weeks: u32) -> (IsoWeek, IsoWeek) {
    let to = IsoWeek::of(now.date());
    (to.minus(u64::from(weeks.saturating_sub(1))), to)
}

fn start_of(w: IsoWeek) -> NaiveDateTime {
    w.monday().and_hms_opt(0, 0, 0).unwrap_or_default()
}

fn week_of(at: NaiveDateTime) -> IsoWeek {
    IsoWeek::of(at.date())
}

/// What a patient contributes: age band and sex.
#[derive(Clone, Copy)]
struct Person {
    age: AgeBand,
    sex: Sex,
}

/// Raw counts of `tenant` over `[from, to]`, one per cell: every
/// combination of the closed lists (zeros included), and the totals over
/// each dimension (the sums complementary suppression protects).
pub fn raw_counts(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    section: &ReportingSection,
    from: IsoWeek,
    to: IsoWeek,
) -> ApiResult<Vec<(CellKey, u32)>> {
    let start = start_of(from);
    let end = start_of(to.next());
    let age_on: NaiveDate = to.next().monday() - chrono::Days::new(1);

    // Departments: id → reported code.
    let listed: BTreeSet<&str> = section.modules.iter().map(String::as_str).collect();
    let departments: HashMap<String, String> = departments::table
        .filter(departments::tenant_id.eq(tenant))
        .select((departments::id, departments::code))
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(id, code)| {
            let code = code.to_ascii_lowercase();
            let reported = if listed.contains(code.as_str()) {
                code
            } else {
                OTHER.to_string()
            };
            (id, reported)
        })
        .collect();
    let mut codes: Vec<String> = section.modules.clone();
    codes.push(OTHER.into());

    // Appointments (not cancelled) starting in the period.
    let appts: Vec<(String, String, NaiveDateTime)> = appointments::table
        .filter(appointments::tenant_id.eq(tenant))
        .filter(appointments::starts_at.ge(start))
        .filter(appointments::starts_at.lt(end))
        .filter(appointments::status.ne("cancelled"))
        .select((
            appointments::patient_id,
            appointments::department_id,
            appointments::starts_at,
        ))
        .load(conn)?;

    // Admissions overlapping the period, with their bed's department.
    let adms: Vec<(String, String, NaiveDateTime, Option<NaiveDateTime>)> = admissions::table
        .filter(admissions::tenant_id.eq(tenant))
        .filter(admissions::admitted_at.lt(end))
        .filter(
            admissions::discharged_at
                .is_null()
                .or(admissions::discharged_at.ge(start)),
        )
        .select((
            admissions::patient_id,
            admissions::bed_id,
            admissions::admitted_at,
            admissions::discharged_at,
        ))
        .load(conn)?;
    let bed_department: HashMap<String, String> = beds::table
        .inner_join(rooms::table.on(rooms::id.eq(beds::room_id)))
        .filter(beds::tenant_id.eq(tenant))
        .select((beds::id, rooms::department_id))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();

    let grants: Vec<NaiveDateTime> = break_glass::table
        .filter(break_glass::tenant_id.eq(tenant))
        .filter(break_glass::granted_at.ge(start))
        .filter(break_glass::granted_at.lt(end))
        .select(break_glass::granted_at)
        .load(conn)?;

    // The patients whose band and sex are needed: registered in the
    // period, or active in it.
    let registered: Vec<(String, NaiveDateTime)> = patients::table
        .filter(patients::tenant_id.eq(tenant))
        .filter(patients::deleted_at.is_null())
        .filter(patients::created_at.ge(start))
        .filter(patients::created_at.lt(end))
        .select((patients::id, patients::created_at))
        .load(conn)?;
    let mut wanted: BTreeSet<String> = registered.iter().map(|(id, _)| id.clone()).collect();
    wanted.extend(appts.iter().map(|(p, _, _)| p.clone()));
    wanted.extend(adms.iter().map(|(p, _, _, _)| p.clone()));
    let mut people: HashMap<String, Person> = HashMap::new();
    let wanted: Vec<String> = wanted.into_iter().collect();
    for chunk in wanted.chunks(500) {
        let rows: Vec<(String, String, String, i64)> = patients::table
            .filter(patients::tenant_id.eq(tenant))
            .filter(patients::deleted_at.is_null())
            .filter(patients::id.eq_any(chunk))
            .select((
                patients::id,
                patients::dob_enc,
                patients::sex,
                patients::version,
            ))
            .load(conn)?;
        for (id, dob_enc, sex, version) in rows {
            let dob =
                Sealer::new(keyring, tenant, &id, version).open(conn, "date_of_birth", &dob_enc)?;
            let dob = NaiveDate::parse_from_str(&dob, "%Y-%m-%d").map_err(|_| {
                ApiError::Internal(anyhow::anyhow!("a stored date of birth is not a date"))
            })?;
            people.insert(
                id,
                Person {
                    age: AgeBand::at(dob, age_on),
                    sex: Sex::parse(&sex).unwrap_or(Sex::Unknown),
                },
            );
        }
    }

    // Per week: registrations, active patients, appointments and
    // admissions by department, grants.
    let mut weeks = Vec::new();
    let mut w = from;
    while w <= to {
        weeks.push(w);
        w = w.next();
    }
    let mut reg: BTreeMap<IsoWeek, Vec<Person>> = BTreeMap::new();
    for (id, at) in &registered {
        if let Some(p) = people.get(id) {
            reg.entry(week_of(*at)).or_default().push(*p);
        }
    }
    let mut active: BTreeMap<IsoWeek, BTreeSet<String>> = BTreeMap::new();
    // Distinct patients per (week, department code).
    let mut seen: BTreeMap<(IsoWeek, String), BTreeSet<String>> = BTreeMap::new();
    let mut appt_by: BTreeMap<(IsoWeek, String), u32> = BTreeMap::new();
    for (patient, dep, at) in &appts {
        let w = week_of(*at);
        active.entry(w).or_default().insert(patient.clone());
        let code = departments
            .get(dep)
            .cloned()
            .unwrap_or_else(|| OTHER.into());
        seen.entry((w, code.clone()))
            .or_default()
            .insert(patient.clone());
        *appt_by.entry((w, code)).or_default() += 1;
    }
    let mut adm_by: BTreeMap<(IsoWeek, String), u32> = BTreeMap::new();
    for (patient, bed, admitted, discharged) in &adms {
        let code = bed_department
            .get(bed)
            .and_then(|d| departments.get(d))
            .cloned()
            .unwrap_or_else(|| OTHER.into());
        if *admitted >= start {
            *adm_by
                .entry((week_of(*admitted), code.clone()))
                .or_default() += 1;
        }
        for w in &weeks {
            let (ws, we) = (start_of(*w), start_of(w.next()));
            if *admitted < we && discharged.is_none_or(|d| d >= ws) {
                active.entry(*w).or_default().insert(patient.clone());
                seen.entry((*w, code.clone()))
                    .or_default()
                    .insert(patient.clone());
            }
        }
    }
    let seen_by: BTreeMap<(IsoWeek, String), u32> = seen
        .into_iter()
        .map(|(k, ids)| (k, ids.len() as u32))
        .collect();
    let mut grants_by: BTreeMap<IsoWeek, u32> = BTreeMap::new();
    for at in &grants {
        *grants_by.entry(week_of(*at)).or_default() += 1;
    }

    let mut raw = Vec::new();
    let slug = |s: &str| {
        Slug::parse(s).map_err(|e| ApiError::Internal(anyhow::anyhow!("department code: {e}")))
    };
    for w in &weeks {
        let persons = reg.get(w).cloned().unwrap_or_default();
        push_age_sex(&mut raw, Measure::PatientsRegistered, *w, &persons);
        let act: Vec<Person> = active
            .get(w)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| people.get(id).copied())
                    .collect()
            })
            .unwrap_or_default();
        push_age_sex(&mut raw, Measure::PatientsActive, *w, &act);
        for (measure, by) in [
            (Measure::Appointments, &appt_by),
            (Measure::Admissions, &adm_by),
            (Measure::PatientsByDepartment, &seen_by),
        ] {
            let mut total = 0;
            for code in &codes {
                let n = by.get(&(*w, code.clone())).copied().unwrap_or(0);
                total += n;
                raw.push((key(measure, *w, Some(slug(code)?), None, None), n));
            }
            raw.push((key(measure, *w, None, None, None), total));
        }
        raw.push((
            key(Measure::BreakGlass, *w, None, None, None),
            grants_by.get(w).copied().unwrap_or(0),
        ));
    }
    Ok(raw)
}

fn key(
    measure: Measure,
    week: IsoWeek,
    department: Option<Slug>,
    age_band: Option<AgeBand>,
    sex: Option<Sex>,
) -> CellKey {
    CellKey {
        measure,
        week,
        department,
        age_band,
        sex,
    }
}

/// The age × sex table of `persons` with its margins and grand total.
fn push_age_sex(raw: &mut Vec<(CellKey, u32)>, m: Measure, w: IsoWeek, persons: &[Person]) {
    let count = |age: Option<AgeBand>, sex: Option<Sex>| {
        persons
            .iter()
            .filter(|p| age.is_none_or(|a| a == p.age) && sex.is_none_or(|s| s == p.sex))
            .count() as u32
    };
    for age in AgeBand::ALL {
        for sex in Sex::ALL {
            raw.push((
                key(m, w, None, Some(age), Some(sex)),
                count(Some(age), Some(sex)),
            ));
        }
        raw.push((key(m, w, None, Some(age), None), count(Some(age), None)));
    }
    for sex in Sex::ALL {
        raw.push((key(m, w, None, None, Some(sex)), count(None, Some(sex))));
    }
    raw.push((key(m, w, None, None, None), count(None, None)));
}

/// A whole report for `tenant`: counts, suppression, a fresh id.
pub fn report(
    conn: &mut DbConn,
    keyring: &Keyring,
    tenant: &str,
    section: &ReportingSection,
    (from, to): (IsoWeek, IsoWeek),
) -> ApiResult<DeidentifiedReport> {
    let raw = raw_counts(conn, keyring, tenant, section, from, to)?;
    let cells = suppressed_cells(raw, section.suppress_below);
    let report = DeidentifiedReport {
        tenant_id: TenantId::parse(tenant)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("tenant id: {e}")))?,
        report_id: ReportId::parse(&uuid::Uuid::new_v4().to_string())
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("report id: {e}")))?,
        from,
        to,
        suppress_below: section.suppress_below,
        cells,
    };
    report
        .validate()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("an invalid report was computed: {e}")))?;
    Ok(report)
}

/// How many cells are suppressed.
pub fn suppressed(report: &DeidentifiedReport) -> usize {
    report
        .cells
        .iter()
        .filter(|c| c.count == Count::Suppressed)
        .count()
}
