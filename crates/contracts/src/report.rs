//! De-identified reports, hospital → company (`POST /internal/v1/reports`).
//!
//! De-identification is enforced by this wire format, not by goodwill:
//! every field is an enum, a number or a validated token, and every struct
//! refuses unknown fields, so nothing here can carry a name, an MRN, a date
//! of birth, an exact date or free text:
//!
//! - the tenant and the report are UUIDs (checked as such);
//! - time is an ISO week (`2026-W49`), never a date;
//! - a department is a short slug (`^[a-z0-9_]{1,32}$`) from the closed list
//!   the hospital's `[reporting] modules` names;
//! - age is a band ([`AgeBand`]), sex an enum ([`Sex`]);
//! - a count is a number or `"suppressed"` ([`Count`]).
//!
//! Small cells are suppressed by the sender before anything leaves it
//! ([`suppress`]): any count in `1..suppress_below` becomes
//! [`Count::Suppressed`] (zero is sent as zero: "nobody" discloses nobody),
//! and complementary suppression then hides a second cell in every
//! published sum that would otherwise reveal a suppressed one by
//! subtraction.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Most cells one report may carry.
pub const MAX_CELLS: usize = 20_000;
/// Most ISO weeks one report may cover.
pub const MAX_WEEKS: i64 = 53;
/// Most departments (modules) a hospital may report.
pub const MAX_MODULES: usize = 64;
/// The smallest suppression threshold a report may declare (1 would
/// suppress nothing).
pub const MIN_SUPPRESS_BELOW: u32 = 2;
/// The largest suppression threshold.
pub const MAX_SUPPRESS_BELOW: u32 = 1000;

macro_rules! string_token {
    ($(#[$doc:meta])* $name:ident, $check:path, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checked.
            pub fn parse(s: &str) -> Result<Self, String> {
                if $check(s) {
                    Ok(Self(s.to_string()))
                } else {
                    Err(format!("not {}", $what))
                }
            }

            /// As text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(de::Error::custom)
            }
        }
    };
}

/// Whether `s` is `^[a-z0-9_]{1,32}$`.
pub fn is_slug(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `s` is a UUID in lower-case hyphenated form.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

string_token!(
    /// A department or module code: `^[a-z0-9_]{1,32}$`, from the closed
    /// list of the hospital's `[reporting] modules` (or `other`).
    Slug,
    is_slug,
    "a code of 1 to 32 characters a-z, 0-9 or _"
);
string_token!(
    /// A tenant id (lower-case UUID).
    TenantId,
    is_uuid,
    "a lower-case UUID"
);
string_token!(
    /// A report id (lower-case UUID): delivery is idempotent on it.
    ReportId,
    is_uuid,
    "a lower-case UUID"
);

/// An ISO 8601 week, written `2026-W49`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IsoWeek {
    year: i32,
    week: u32,
}

impl IsoWeek {
    /// The week `date` falls in.
    pub fn of(date: NaiveDate) -> Self {
        let w = date.iso_week();
        Self {
            year: w.year(),
            week: w.week(),
        }
    }

    /// `2026-W49` (a year from 2000 to 2999; weeks 1 to 53 where the year has them).
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an ISO week such as 2026-W49");
        let b = s.as_bytes();
        if b.len() != 8 || b[4] != b'-' || b[5] != b'W' {
            return Err(bad());
        }
        if !b[..4].iter().chain(&b[6..]).all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let year: i32 = s[..4].parse().map_err(|_| bad())?;
        let week: u32 = s[6..].parse().map_err(|_| bad())?;
        if !(2000..=2999).contains(&year)
            || NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).is_none()
        {
            return Err(bad());
        }
        Ok(Self { year, week })
    }

    /// Its Monday.
    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default()
    }

    /// The week after.
    pub fn next(self) -> Self {
        Self::of(self.monday() + chrono::Days::new(7))
    }

    /// The week `n` weeks before.
    pub fn minus(self, n: u64) -> Self {
        Self::of(self.monday() - chrono::Days::new(7 * n))
    }

    /// Weeks from `self` to `to`, both included (0 when `to` is earlier).
    pub fn span(self, to: Self) -> i64 {
        let days = (to.monday() - self.monday()).num_days();
        if days < 0 {
            0
        } else {
            days / 7 + 1
        }
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl Serialize for IsoWeek {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IsoWeek {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(de::Error::custom)
    }
}

/// An age band (age in whole years at the end of the report's last week).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AgeBand {
    /// 0 to 4.
    #[serde(rename = "0-4")]
    A0To4,
    /// 5 to 17.
    #[serde(rename = "5-17")]
    A5To17,
    /// 18 to 29.
    #[serde(rename = "18-29")]
    A18To29,
    /// 30 to 44.
    #[serde(rename = "30-44")]
    A30To44,
    /// 45 to 64.
    #[serde(rename = "45-64")]
    A45To64,
    /// 65 to 79.
    #[serde(rename = "65-79")]
    A65To79,
    /// 80 and over.
    #[serde(rename = "80+")]
    A80Plus,
}

impl AgeBand {
    /// Every band, youngest first.
    pub const ALL: [Self; 7] = [
        Self::A0To4,
        Self::A5To17,
        Self::A18To29,
        Self::A30To44,
        Self::A45To64,
        Self::A65To79,
        Self::A80Plus,
    ];

    /// The band of an age in whole years.
    pub fn of_age(years: u32) -> Self {
        match years {
            0..=4 => Self::A0To4,
            5..=17 => Self::A5To17,
            18..=29 => Self::A18To29,
            30..=44 => Self::A30To44,
            45..=64 => Self::A45To64,
            65..=79 => Self::A65To79,
            _ => Self::A80Plus,
        }
    }

    /// The band of someone born on `dob`, on `at` (a birth after `at`
    /// counts as 0).
    pub fn at(dob: NaiveDate, at: NaiveDate) -> Self {
        let years = at.years_since(dob).unwrap_or(0);
        Self::of_age(years)
    }

    /// As written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A0To4 => "0-4",
            Self::A5To17 => "5-17",
            Self::A18To29 => "18-29",
            Self::A30To44 => "30-44",
            Self::A45To64 => "45-64",
            Self::A65To79 => "65-79",
            Self::A80Plus => "80+",
        }
    }

    /// From its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// Sex as recorded at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Unknown.
    Unknown,
}

impl Sex {
    /// Every value.
    pub const ALL: [Self; 4] = [Self::Female, Self::Male, Self::Other, Self::Unknown];

    /// As written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// From its wire name (anything else: `None`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Patients registered in the week (by age band and sex).
    PatientsRegistered,
    /// Distinct patients with an appointment (not cancelled) or an
    /// admission in the week (by age band and sex).
    PatientsActive,
    /// Appointments (not cancelled) starting in the week (by department).
    Appointments,
    /// Admissions in the week (by the department of the first bed).
    Admissions,
    /// Distinct patients seen in each department in the week: with an
    /// appointment (not cancelled) there, or admitted to one of its beds.
    /// A patient seen in two departments counts in each, so the total is
    /// the sum of the departments' cells (patient–department pairs), not
    /// the number of patients (that is `PatientsActive`).
    PatientsByDepartment,
    /// Break-the-glass grants in the week.
    BreakGlass,
}

/// A dimension a measure is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    /// `department`.
    Department,
    /// `age_band`.
    AgeBand,
    /// `sex`.
    Sex,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Self; 6] = [
        Self::PatientsRegistered,
        Self::PatientsActive,
        Self::Appointments,
        Self::Admissions,
        Self::PatientsByDepartment,
        Self::BreakGlass,
    ];

    /// The dimensions its cells may carry (a cell without one is the
    /// total over it).
    pub fn dimensions(self) -> &'static [Dimension] {
        match self {
            Self::PatientsRegistered | Self::PatientsActive => {
                &[Dimension::AgeBand, Dimension::Sex]
            }
            Self::Appointments | Self::Admissions | Self::PatientsByDepartment => {
                &[Dimension::Department]
            }
            Self::BreakGlass => &[],
        }
    }

    /// As written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientsRegistered => "patients_registered",
            Self::PatientsActive => "patients_active",
            Self::Appointments => "appointments",
            Self::Admissions => "admissions",
            Self::PatientsByDepartment => "patients_by_department",
            Self::BreakGlass => "break_glass",
        }
    }

    /// From its wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// A count: a number, or `"suppressed"` when it is small (or could reveal
/// a small one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// The count.
    Value(u32),
    /// Withheld.
    Suppressed,
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(n) => s.serialize_u32(*n),
            Self::Suppressed => s.serialize_str("suppressed"),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count (0 to 4294967295) or \"suppressed\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count::Value)
                    .map_err(|_| E::custom("count too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u32::try_from(v)
                    .map(Count::Value)
                    .map_err(|_| E::custom("a count is never negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                if v == "suppressed" {
                    Ok(Count::Suppressed)
                } else {
                    Err(E::custom("the only text a count may be is \"suppressed\""))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a cell sits: its measure, week and (per the measure) department,
/// age band and sex; a dimension left out (`null`) means "all of them"
/// (the published total over it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// What is counted.
    pub measure: Measure,
    /// The ISO week.
    pub week: IsoWeek,
    /// The department or module (`null`: all).
    pub department: Option<Slug>,
    /// The age band (`null`: all).
    pub age_band: Option<AgeBand>,
    /// Sex (`null`: all).
    pub sex: Option<Sex>,
}

impl CellKey {
    fn has(&self, d: Dimension) -> bool {
        match d {
            Dimension::Department => self.department.is_some(),
            Dimension::AgeBand => self.age_band.is_some(),
            Dimension::Sex => self.sex.is_some(),
        }
    }

    /// The key with dimension `d` dropped (the total it adds up to).
    fn without(&self, d: Dimension) -> Self {
        let mut k = self.clone();
        match d {
            Dimension::Department => k.department = None,
            Dimension::AgeBand => k.age_band = None,
            Dimension::Sex => k.sex = None,
        }
        k
    }
}

/// One cell of a report: its place ([`CellKey`]'s fields) and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// What is counted.
    pub measure: Measure,
    /// The ISO week.
    pub week: IsoWeek,
    /// The department or module (`null`: all).
    pub department: Option<Slug>,
    /// The age band (`null`: all).
    pub age_band: Option<AgeBand>,
    /// Sex (`null`: all).
    pub sex: Option<Sex>,
    /// The count.
    pub count: Count,
}

impl Cell {
    /// A cell at `key`.
    pub fn new(key: CellKey, count: Count) -> Self {
        Self {
            measure: key.measure,
            week: key.week,
            department: key.department,
            age_band: key.age_band,
            sex: key.sex,
            count,
        }
    }

    /// Where it sits.
    pub fn key(&self) -> CellKey {
        CellKey {
            measure: self.measure,
            week: self.week,
            department: self.department.clone(),
            age_band: self.age_band,
            sex: self.sex,
        }
    }
}

/// A de-identified report: aggregate counts of one tenant over whole ISO
/// weeks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeidentifiedReport {
    /// The tenant reported on (must be the certificate's).
    pub tenant_id: TenantId,
    /// The report's id (idempotent delivery).
    pub report_id: ReportId,
    /// First week covered.
    pub from: IsoWeek,
    /// Last week covered.
    pub to: IsoWeek,
    /// Counts in `1..suppress_below` were suppressed by the sender.
    pub suppress_below: u32,
    /// The cells.
    pub cells: Vec<Cell>,
}

impl DeidentifiedReport {
    /// Checks beyond the types: the period, the size, every cell inside
    /// the period and shaped as its measure allows, no key twice, no
    /// visible count under the declared threshold.
    pub fn validate(&self) -> Result<(), String> {
        if self.from > self.to {
            return Err("from must not be after to".into());
        }
        if self.from.span(self.to) > MAX_WEEKS {
            return Err(format!("a report covers at most {MAX_WEEKS} weeks"));
        }
        if !(MIN_SUPPRESS_BELOW..=MAX_SUPPRESS_BELOW).contains(&self.suppress_below) {
            return Err(format!(
                "suppress_below must be between {MIN_SUPPRESS_BELOW} and {MAX_SUPPRESS_BELOW}"
            ));
        }
        if self.cells.len() > MAX_CELLS {
            return Err(format!("at most {MAX_CELLS} cells per report"));
        }
        let mut seen = BTreeSet::new();
        let mut departments = BTreeSet::new();
        for c in &self.cells {
            let k = &c.key();
            if k.week < self.from || k.week > self.to {
                return Err(format!("a cell's week {} is outside the period", k.week));
            }
            let allowed = k.measure.dimensions();
            for d in [Dimension::Department, Dimension::AgeBand, Dimension::Sex] {
                if k.has(d) && !allowed.contains(&d) {
                    return Err(format!(
                        "{} is not broken down by {d:?}",
                        k.measure.as_str()
                    ));
                }
            }
            if let Some(d) = &k.department {
                departments.insert(d.clone());
            }
            if !seen.insert(k.clone()) {
                return Err("a cell appears twice".into());
            }
            if let Count::Value(n) = c.count {
                if n > 0 && n < self.suppress_below {
                    return Err(format!(
                        "a count under suppress_below ({}) was sent unsuppressed",
                        self.suppress_below
                    ));
                }
            }
        }
        if departments.len() > MAX_MODULES {
            return Err(format!("at most {MAX_MODULES} departments"));
        }
        Ok(())
    }
}

/// What company did with a report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReportReceipt {
    /// The report's id.
    pub report_id: String,
    /// Already held with the same bytes (a retry).
    pub duplicate: bool,
}

/// The published sums among `keys`: for every cell lacking a dimension its
/// measure has, the cells that differ from it only by having that
/// dimension add up to it. Each equation lists the members and, last, the
/// total.
pub fn equations(keys: &[CellKey]) -> Vec<Vec<usize>> {
    let index: BTreeMap<&CellKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let mut members: BTreeMap<(usize, usize), Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        for (di, d) in k.measure.dimensions().iter().enumerate() {
            if k.has(*d) {
                if let Some(&total) = index.get(&k.without(*d)) {
                    members.entry((total, di)).or_default().push(i);
                }
            }
        }
    }
    members
        .into_iter()
        .map(|((total, _), mut m)| {
            m.push(total);
            m
        })
        .collect()
}

/// Which of `values` to suppress, given the sums published among them
/// (`equations`, each a list of indexes whose values are tied by one
/// linear relation, as [`equations`] gives them).
///
/// Primary suppression: every value in `1..k`. Complementary: in every
/// equation with exactly one suppressed value, the smallest other
/// non-zero value is suppressed too (the total itself if need be), so
/// that subtraction cannot recover it; repeated until nothing changes.
/// Zero is published as zero and never chosen as a complement (a hidden
/// zero next to a hidden small count would still give the count away).
pub fn suppress(values: &[u32], k: u32, equations: &[Vec<usize>]) -> Vec<bool> {
    let mut hidden: Vec<bool> = values.iter().map(|&v| v > 0 && v < k).collect();
    loop {
        let mut changed = false;
        for eq in equations {
            let n = eq.iter().filter(|&&i| hidden[i]).count();
            if n != 1 {
                continue;
            }
            let pick = eq
                .iter()
                .copied()
                .filter(|&i| !hidden[i] && values[i] > 0)
                .min_by_key(|&i| (values[i], i));
            if let Some(i) = pick {
                hidden[i] = true;
                changed = true;
            }
        }
        if !changed {
            return hidden;
        }
    }
}

/// Turn raw counts into cells with small counts suppressed (primary and
/// complementary, see [`suppress`]).
pub fn suppressed_cells(raw: Vec<(CellKey, u32)>, k: u32) -> Vec<Cell> {
    let keys: Vec<CellKey> = raw.iter().map(|(key, _)| key.clone()).collect();
    let values: Vec<u32> = raw.iter().map(|(_, v)| *v).collect();
    let hidden = suppress(&values, k, &equations(&keys));
    raw.into_iter()
        .zip(hidden)
        .map(|((key, v), h)| {
            Cell::new(
                key,
                if h {
                    Count::Suppressed
                } else {
                    Count::Value(v)
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: &str = "00000000-0000-4000-8000-0000000000a1";
    const R: &str = "11111111-2222-4333-8444-555555555555";

    fn week() -> IsoWeek {
        IsoWeek::parse("2026-W49").unwrap()
    }

    fn key(measure: Measure, dep: Option<&str>, age: Option<AgeBand>, sex: Option<Sex>) -> CellKey {
        CellKey {
            measure,
            week: week(),
            department: dep.map(|d| Slug::parse(d).unwrap()),
            age_band: age,
            sex,
        }
    }

    #[test]
    fn a_single_small_cell_is_suppressed_and_zero_is_kept() {
        let hidden = suppress(&[0, 1, 10, 11, 500], 11, &[]);
        assert_eq!(hidden, vec![false, true, true, false, false]);
    }

    #[test]
    fn one_hidden_cell_in_a_sum_hides_the_next_smallest() {
        // departments a=3, b=20, c=15, total 38: 3 is hidden, and 15 with it.
        let raw = vec![
            (key(Measure::Appointments, Some("a"), None, None), 3),
            (key(Measure::Appointments, Some("b"), None, None), 20),
            (key(Measure::Appointments, Some("c"), None, None), 15),
            (key(Measure::Appointments, None, None, None), 38),
        ];
        let cells = suppressed_cells(raw, 11);
        let counts: Vec<Count> = cells.iter().map(|c| c.count).collect();
        assert_eq!(
            counts,
            vec![
                Count::Suppressed,
                Count::Value(20),
                Count::Suppressed,
                Count::Value(38)
            ]
        );
    }

    #[test]
    fn a_hidden_cell_with_only_zeros_beside_it_hides_the_total() {
        let raw = vec![
            (key(Measure::Admissions, Some("a"), None, None), 4),
            (key(Measure::Admissions, Some("b"), None, None), 0),
            (key(Measure::Admissions, None, None, None), 4),
        ];
        let counts: Vec<Count> = suppressed_cells(raw, 11).iter().map(|c| c.count).collect();
        assert_eq!(
            counts,
            vec![Count::Suppressed, Count::Value(0), Count::Suppressed]
        );
    }

    /// Every equation of a suppressed table has zero or at least two
    /// hidden cells: no hidden value follows from one sum.
    fn no_sum_reveals(values: &[u32], hidden: &[bool], eqs: &[Vec<usize>]) {
        for eq in eqs {
            let n = eq.iter().filter(|&&i| hidden[i]).count();
            assert!(
                n != 1,
                "equation {eq:?} over {values:?} reveals its hidden cell"
            );
        }
    }

    #[test]
    fn complementary_suppression_reaches_a_fixed_point_in_two_dimensions() {
        // age × sex with row, column and grand totals.
        let mut raw = Vec::new();
        let grid = [
            (AgeBand::A0To4, [5_u32, 30]),
            (AgeBand::A18To29, [40, 12]),
            (AgeBand::A45To64, [25, 60]),
        ];
        let sexes = [Sex::Female, Sex::Male];
        for (age, row) in grid {
            for (s, v) in sexes.iter().zip(row) {
                raw.push((
                    key(Measure::PatientsRegistered, None, Some(age), Some(*s)),
                    v,
                ));
            }
            raw.push((
                key(Measure::PatientsRegistered, None, Some(age), None),
                row.iter().sum(),
            ));
        }
        for (j, s) in sexes.iter().enumerate() {
            let col: u32 = grid.iter().map(|(_, r)| r[j]).sum();
            raw.push((key(Measure::PatientsRegistered, None, None, Some(*s)), col));
        }
        let all: u32 = grid.iter().flat_map(|(_, r)| r.iter()).sum();
        raw.push((key(Measure::PatientsRegistered, None, None, None), all));
        let keys: Vec<CellKey> = raw.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<u32> = raw.iter().map(|(_, v)| *v).collect();
        let eqs = equations(&keys);
        // 3 rows + 2 columns + the margin row + the margin column.
        assert_eq!(eqs.len(), 7, "{eqs:?}");
        let hidden = suppress(&values, 11, &eqs);
        assert!(hidden[0], "the 5 is suppressed");
        assert!(hidden.iter().filter(|h| **h).count() >= 4, "{hidden:?}");
        no_sum_reveals(&values, &hidden, &eqs);
    }

    #[test]
    fn random_tables_never_leave_one_hidden_cell_in_a_sum() {
        // A small deterministic generator (no dependency).
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let mut raw = Vec::new();
            let mut total = 0;
            for d in ["a", "b", "c", "d", "e"] {
                let v = (next() % 30) as u32;
                total += v;
                raw.push((key(Measure::Appointments, Some(d), None, None), v));
            }
            raw.push((key(Measure::Appointments, None, None, None), total));
            let keys: Vec<CellKey> = raw.iter().map(|(k, _)| k.clone()).collect();
            let values: Vec<u32> = raw.iter().map(|(_, v)| *v).collect();
            let eqs = equations(&keys);
            let hidden = suppress(&values, 11, &eqs);
            no_sum_reveals(&values, &hidden, &eqs);
            for (v, h) in values.iter().zip(&hidden) {
                assert!(*h || *v == 0 || *v >= 11, "{values:?} {hidden:?}");
            }
        }
    }

    fn report(cells: serde_json::Value) -> serde_json::Value {
        json!({
            "tenant_id": T, "report_id": R, "from": "2026-W49", "to": "2026-W49",
            "suppress_below": 11, "cells": cells,
        })
    }

    #[test]
    fn the_wire_format_round_trips() {
        let r: DeidentifiedReport = serde_json::from_value(report(json!([
            {"measure": "appointments", "week": "2026-W49", "department": "cardiology",
             "age_band": null, "sex": null, "count": "suppressed"},
            {"measure": "patients_registered", "week": "2026-W49", "department": null,
             "age_band": "80+", "sex": "female", "count": 12},
        ])))
        .unwrap();
        r.validate().unwrap();
        assert_eq!(r.cells[0].count, Count::Suppressed);
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["cells"][1]["age_band"], "80+");
        assert_eq!(back["cells"][1]["count"], 12);
    }

    #[test]
    fn nothing_but_the_enumerated_values_is_accepted() {
        let cell = |extra: serde_json::Value| {
            let mut c = json!({"measure": "appointments", "week": "2026-W49",
                "department": "cardiology", "age_band": null, "sex": null, "count": 12});
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            serde_json::from_value::<DeidentifiedReport>(report(json!([c])))
        };
        assert!(cell(json!({})).is_ok());
        for bad in [
            json!({"department": "Jane Doe"}),
            json!({"department": "MRN-000123"}),
            json!({"department": "a_very_long_department_code_of_more_than_32"}),
            json!({"week": "2026-12-03"}),
            json!({"week": "2026-W54"}),
            json!({"age_band": "1961-04-02"}),
            json!({"age_band": "47"}),
            json!({"sex": "F"}),
            json!({"count": "about five"}),
            json!({"count": -1}),
            json!({"count": 1.5}),
            json!({"name": "Jane"}),
            json!({"measure": "names"}),
        ] {
            assert!(cell(bad.clone()).is_err(), "{bad} accepted");
        }
        let mut extra = report(json!([]));
        extra["patient"] = json!("Jane");
        assert!(serde_json::from_value::<DeidentifiedReport>(extra).is_err());
        let mut t = report(json!([]));
        t["tenant_id"] = json!("Hospital of Jane Doe");
        assert!(serde_json::from_value::<DeidentifiedReport>(t).is_err());
    }

    #[test]
    fn validation_refuses_visible_small_counts_and_misshapen_cells() {
        let parse = |cells| serde_json::from_value::<DeidentifiedReport>(report(cells)).unwrap();
        let small = parse(json!([{"measure": "break_glass", "week": "2026-W49",
            "department": null, "age_band": null, "sex": null, "count": 3}]));
        assert!(small.validate().is_err());
        let shape = parse(json!([{"measure": "break_glass", "week": "2026-W49",
            "department": "icu", "age_band": null, "sex": null, "count": 30}]));
        assert!(shape.validate().is_err());
        let outside = parse(json!([{"measure": "break_glass", "week": "2026-W48",
            "department": null, "age_band": null, "sex": null, "count": 30}]));
        assert!(outside.validate().is_err());
    }

    #[test]
    fn weeks_and_bands() {
        let w = IsoWeek::of(NaiveDate::from_ymd_opt(2026, 12, 3).unwrap());
        assert_eq!(w.to_string(), "2026-W49");
        assert_eq!(w.next().to_string(), "2026-W50");
        assert_eq!(w.minus(49).to_string(), "2025-W52");
        assert_eq!(
            IsoWeek::parse("2026-W01").unwrap().minus(1).to_string(),
            "2025-W52"
        );
        assert_eq!(w.minus(3).span(w), 4);
        let at = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
        let dob = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(AgeBand::at(dob(2022, 12, 7), at), AgeBand::A0To4);
        assert_eq!(AgeBand::at(dob(2008, 12, 6), at), AgeBand::A18To29);
        assert_eq!(AgeBand::at(dob(2008, 12, 7), at), AgeBand::A5To17);
        assert_eq!(AgeBand::at(dob(1940, 1, 1), at), AgeBand::A80Plus);
    }
}
