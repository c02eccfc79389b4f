//! Departments of a tenant: the usual hospital set and the clinical modules
//! (radiology, medicine, dentistry, dermatology, pathology, homeopathy,
//! allopathy, cosmetology), seeded on first start; the admin adds, renames
//! and deactivates them.

pub mod http;
pub mod pages;
pub mod store;

/// The seeded set: (code, name, clinical module).
pub const SEEDED: &[(&str, &str, bool)] = &[
    ("EMERGENCY", "Emergency", false),
    ("ICU", "Intensive Care", false),
    ("CARDIOLOGY", "Cardiology", false),
    ("NEUROLOGY", "Neurology", false),
    ("PEDIATRICS", "Pediatrics", false),
    ("OBGYN", "Obstetrics and Gynecology", false),
    ("ORTHOPEDICS", "Orthopedics", false),
    ("ONCOLOGY", "Oncology", false),
    ("SURGERY", "General Surgery", false),
    ("LABORATORY", "Laboratory", false),
    ("PHARMACY", "Pharmacy", false),
    ("RADIOLOGY", "Radiology", true),
    ("MEDICINE", "Medicine", true),
    ("DENTISTRY", "Dentistry", true),
    ("DERMATOLOGY", "Dermatology", true),
    ("PATHOLOGY", "Pathology", true),
    ("HOMEOPATHY", "Homeopathy", true),
    ("ALLOPATHY", "Allopathy", true),
    ("COSMETOLOGY", "Cosmetology", true),
];
