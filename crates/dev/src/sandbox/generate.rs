//! The synthetic data generator: hospitals, staff, patients and clinical
//! records from a seed, the same seed giving the same rows on every machine
//! (ChaCha8, whose output is fixed by its specification, one stream per
//! patient so a patient does not depend on how many came before or how
//! they are batched).
//!
//! Every value comes from the lists below or from the random stream: names
//! are drawn from invented first and last names, codes from a short list of
//! common diagnoses, tests and medicines. Every id and MRN starts with
//! `SYN-`, and hospitals are called "Synthetic …", so no row can be taken
//! for a real one.

use chrono::{Duration, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The seed: the same seed and counts make the same rows.
    pub seed: u64,
    /// How many hospitals (1 to [`MAX_HOSPITALS`]).
    pub hospitals: u32,
    /// How many patients in all.
    pub patients: u32,
}

/// At most this many hospitals.
pub const MAX_HOSPITALS: u32 = 20;
/// Staff per hospital.
pub const STAFF_PER_HOSPITAL: u32 = 12;

/// A synthetic hospital.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hospital {
    /// `SYN-H-001`.
    pub id: String,
    /// "Synthetic General Hospital of …".
    pub name: String,
    /// An invented town.
    pub city: String,
}

/// A synthetic staff member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    /// `SYN-S-001-01`.
    pub id: String,
    /// Their hospital.
    pub hospital_id: String,
    /// An invented name.
    pub name: String,
    /// doctor, nurse, lab, pharmacist or reception.
    pub role: &'static str,
    /// Their department.
    pub department: &'static str,
}

/// A synthetic patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// `SYN-P-0000001`.
    pub id: String,
    /// Their hospital.
    pub hospital_id: String,
    /// `SYN-MRN-0000001`.
    pub mrn: String,
    /// An invented given name.
    pub given_name: &'static str,
    /// An invented family name.
    pub family_name: &'static str,
    /// female or male.
    pub sex: &'static str,
    /// Born on.
    pub birth_date: NaiveDate,
    /// Their department.
    pub department: &'static str,
    /// Their doctor (a staff id of their hospital).
    pub doctor_id: String,
}

/// One synthetic clinical record of a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `SYN-R-0000001-01`.
    pub id: String,
    /// The patient.
    pub patient_id: String,
    /// encounter, diagnosis, lab_result or prescription.
    pub kind: &'static str,
    /// When.
    pub recorded_on: NaiveDate,
    /// An ICD-10, LOINC-like or ATC-like code.
    pub code: &'static str,
    /// A short synthetic text.
    pub summary: String,
}

const CITIES: &[&str] = &[
    "Norvale",
    "Eastmere",
    "Brackenford",
    "Lowhaven",
    "Caldry",
    "Westbrook Vale",
    "Ostrand",
    "Fennick",
    "Harrowgate Downs",
    "Millbeck",
    "Quarrington",
    "Sallowmoor",
];

const GIVEN_FEMALE: &[&str] = &[
    "Aveline", "Brisa", "Calloway", "Delphine", "Elowen", "Fenna", "Giselle", "Halia", "Isolde",
    "Jessamy", "Kestrel", "Liora", "Marisol", "Nerys", "Odalys", "Perpetua", "Quilla", "Rosalind",
    "Saoirse", "Tamsin", "Ulla", "Verity", "Wrenna", "Xanthe", "Yseult", "Zinnia",
];

const GIVEN_MALE: &[&str] = &[
    "Alaric",
    "Bastian",
    "Cormac",
    "Dorian",
    "Emrys",
    "Florian",
    "Gideon",
    "Hollis",
    "Ignatius",
    "Jory",
    "Kasimir",
    "Leander",
    "Mordecai",
    "Nikolai",
    "Oisin",
    "Peregrine",
    "Quentin",
    "Roderick",
    "Silvan",
    "Thaddeus",
    "Ulric",
    "Valentin",
    "Wystan",
    "Xavier",
    "Yorick",
    "Zebulon",
];

const FAMILY: &[&str] = &[
    "Ashgrove",
    "Bellweather",
    "Cindervale",
    "Dunmorrow",
    "Everhart",
    "Foxley",
    "Greystoke",
    "Hawthorne",
    "Ironwood",
    "Juniper",
    "Kettleby",
    "Larkspur",
    "Moorcroft",
    "Netherby",
    "Oakenshaw",
    "Pennywhistle",
    "Quickfall",
    "Ravenscroft",
    "Stormont",
    "Thistlewood",
    "Underhill",
    "Vantablack",
    "Whitlock",
    "Yarrowby",
    "Zellweger",
    "Amberlane",
    "Briarwood",
    "Coldwater",
    "Drummond",
    "Elderberry",
];

/// Departments, as the demo hospital seeds them.
pub const DEPARTMENTS: &[&str] = &[
    "Emergency",
    "Cardiology",
    "Pediatrics",
    "Orthopedics",
    "Oncology",
    "Neurology",
    "General Medicine",
];

const ROLES: &[&str] = &[
    "doctor",
    "doctor",
    "doctor",
    "doctor",
    "nurse",
    "nurse",
    "nurse",
    "nurse",
    "lab",
    "pharmacist",
    "reception",
    "reception",
];

const DIAGNOSES: &[(&str, &str)] = &[
    ("I10", "Essential hypertension"),
    ("E11.9", "Type 2 diabetes without complications"),
    ("J45.909", "Asthma, uncomplicated"),
    ("M54.5", "Low back pain"),
    ("J06.9", "Acute upper respiratory infection"),
    ("K21.9", "Gastro-oesophageal reflux"),
    ("F41.1", "Generalised anxiety disorder"),
    ("N39.0", "Urinary tract infection"),
    ("E78.5", "Hyperlipidaemia"),
    ("S93.4", "Sprain of ankle"),
];

const TESTS: &[(&str, &str, &str, f64, f64)] = &[
    ("718-7", "Haemoglobin", "g/dL", 11.0, 17.5),
    ("2345-7", "Glucose", "mmol/L", 3.5, 11.0),
    ("2160-0", "Creatinine", "umol/L", 45.0, 130.0),
    ("2823-3", "Potassium", "mmol/L", 3.2, 5.6),
    ("4548-4", "HbA1c", "%", 4.5, 9.5),
    ("2093-3", "Cholesterol", "mmol/L", 3.0, 7.5),
];

const MEDICINES: &[(&str, &str)] = &[
    ("C09AA05", "Ramipril 5 mg once daily"),
    ("A10BA02", "Metformin 500 mg twice daily"),
    ("R03AC02", "Salbutamol inhaler as needed"),
    ("M01AE01", "Ibuprofen 400 mg three times daily"),
    ("A02BC01", "Omeprazole 20 mg once daily"),
    ("C10AA05", "Atorvastatin 20 mg at night"),
    ("J01CA04", "Amoxicillin 500 mg three times daily for 7 days"),
];

const ENCOUNTERS: &[(&str, &str)] = &[
    ("AMB", "Outpatient visit"),
    ("EMER", "Emergency department visit"),
    ("IMP", "Inpatient stay"),
    ("VR", "Video consultation"),
];

/// The hospitals of `plan`.
pub fn hospitals(plan: &Plan) -> Vec<Hospital> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    (1..=plan.hospitals)
        .map(|n| {
            let city = CITIES[rng.gen_range(0..CITIES.len())];
            Hospital {
                id: format!("SYN-H-{n:03}"),
                name: format!("Synthetic General Hospital {n} of {city}"),
                city: city.to_string(),
            }
        })
        .collect()
}

/// The staff of `plan`'s hospitals: [`STAFF_PER_HOSPITAL`] each, doctors first.
pub fn staff(plan: &Plan) -> Vec<Staff> {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(u64::MAX);
    let mut all = Vec::new();
    for h in 1..=plan.hospitals {
        for (n, role) in ROLES.iter().enumerate() {
            let female = rng.gen_bool(0.5);
            let given = pick(&mut rng, if female { GIVEN_FEMALE } else { GIVEN_MALE });
            let family = pick(&mut rng, FAMILY);
            all.push(Staff {
                id: staff_id(h, n as u32 + 1),
                hospital_id: format!("SYN-H-{h:03}"),
                name: format!("{given} {family}"),
                role,
                department: DEPARTMENTS[(n + h as usize) % DEPARTMENTS.len()],
            });
        }
    }
    all
}

fn staff_id(hospital: u32, n: u32) -> String {
    format!("SYN-S-{hospital:03}-{n:02}")
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, from: &[T]) -> T {
    from[rng.gen_range(0..from.len())]
}

/// The day the synthetic history ends (fixed, so a seed's rows never
/// depend on when they are made).
fn last_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 30).unwrap_or(NaiveDate::MAX)
}

/// Patient number `n` (1-based) of `plan`, with their records.
pub fn patient(plan: &Plan, n: u32) -> (Patient, Vec<Record>) {
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    rng.set_stream(u64::from(n));
    let hospital = rng.gen_range(1..=plan.hospitals.max(1));
    let female = rng.gen_bool(0.5);
    let given_name = pick(&mut rng, if female { GIVEN_FEMALE } else { GIVEN_MALE });
    let family_name = pick(&mut rng, FAMILY);
    let first = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or(NaiveDate::MIN);
    let span = (last_day() - first).num_days();
    let birth_date = first + Duration::days(rng.gen_range(0..span));
    let department = pick(&mut rng, DEPARTMENTS);
    // Doctors are the first four of each hospital's staff.
    let doctor_id = staff_id(hospital, rng.gen_range(1..=4));
    let id = format!("SYN-P-{n:07}");
    let count = rng.gen_range(1..=6);
    let lived = (last_day() - birth_date).num_days().max(1);
    let mut records = Vec::with_capacity(count);
    for r in 1..=count {
        let recorded_on = birth_date + Duration::days(rng.gen_range(0..lived));
        let (kind, code, summary) = match rng.gen_range(0..4) {
            0 => {
                let (code, what) = pick(&mut rng, ENCOUNTERS);
                ("encounter", code, format!("{what} ({department})"))
            }
            1 => {
                let (code, what) = pick(&mut rng, DIAGNOSES);
                ("diagnosis", code, what.to_string())
            }
            2 => {
                let (code, what, unit, low, high) = pick(&mut rng, TESTS);
                let value = rng.gen_range(low..high);
                ("lab_result", code, format!("{what} {value:.1} {unit}"))
            }
            _ => {
                let (code, what) = pick(&mut rng, MEDICINES);
                ("prescription", code, what.to_string())
            }
        };
        records.push(Record {
            id: format!("SYN-R-{n:07}-{r:02}"),
            patient_id: id.clone(),
            kind,
            recorded_on,
            code,
            summary,
        });
    }
    records.sort_by(|a, b| a.recorded_on.cmp(&b.recorded_on).then(a.id.cmp(&b.id)));
    let patient = Patient {
        mrn: format!("SYN-MRN-{n:07}"),
        id,
        hospital_id: format!("SYN-H-{hospital:03}"),
        given_name,
        family_name,
        sex: if female { "female" } else { "male" },
        birth_date,
        department,
        doctor_id,
    };
    (patient, records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        Plan {
            seed,
            hospitals: 3,
            patients: 50,
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_rows_and_another_seed_others() {
        let a: Vec<_> = (1..=50).map(|n| patient(&plan(7), n)).collect();
        let b: Vec<_> = (1..=50).map(|n| patient(&plan(7), n)).collect();
        let c: Vec<_> = (1..=50).map(|n| patient(&plan(8), n)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(hospitals(&plan(7)), hospitals(&plan(7)));
        assert_eq!(staff(&plan(7)), staff(&plan(7)));
    }

    #[test]
    fn a_patient_does_not_depend_on_how_many_are_made() {
        let small = Plan {
            patients: 10,
            ..plan(3)
        };
        assert_eq!(patient(&small, 5), patient(&plan(3), 5));
    }

    #[test]
    fn every_row_is_marked_synthetic_and_stays_in_its_plan() {
        let p = plan(11);
        let staff = staff(&p);
        assert_eq!(staff.len(), 3 * STAFF_PER_HOSPITAL as usize);
        for n in 1..=p.patients {
            let (patient, records) = patient(&p, n);
            assert!(patient.id.starts_with("SYN-") && patient.mrn.starts_with("SYN-"));
            assert!(staff.iter().any(|s| s.id == patient.doctor_id
                && s.role == "doctor"
                && s.hospital_id == patient.hospital_id));
            assert!(patient.birth_date <= last_day());
            assert!((1..=6).contains(&records.len()));
            for r in records {
                assert!(r.id.starts_with("SYN-"));
                assert!(r.recorded_on >= patient.birth_date && r.recorded_on <= last_day());
            }
        }
        for h in hospitals(&p) {
            assert!(h.id.starts_with("SYN-") && h.name.starts_with("Synthetic "));
        }
    }
}
