//! `[files]`: where objects are stored, the medical modules and the rules of
//! each category (allowed types, size limit, retention), archival age and
//! the retention job's interval. Modules are configuration, not code: the
//! eight of the original design are built in with their retention years,
//! and `[files.modules.<name>]` adds a module or changes one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use anyhow::{bail, Context};
use common::config::Config;
use common::objects::{Objects, StorageConfig};
use common::server::{AppDataFn, Section};
use serde::Deserialize;

/// A file type Bulkhead recognises by its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileType {
    /// The name used in configuration (`pdf`).
    pub name: &'static str,
    /// The media type served on download.
    pub mime: &'static str,
    /// File-name extensions that declare it.
    pub extensions: &'static [&'static str],
    /// Whether compressing it usually helps (not for images already compressed).
    pub compress: bool,
}

/// Every type a rule may allow.
pub const TYPES: &[FileType] = &[
    FileType {
        name: "pdf",
        mime: "application/pdf",
        extensions: &["pdf"],
        compress: false,
    },
    FileType {
        name: "png",
        mime: "image/png",
        extensions: &["png"],
        compress: false,
    },
    FileType {
        name: "jpeg",
        mime: "image/jpeg",
        extensions: &["jpg", "jpeg"],
        compress: false,
    },
    FileType {
        name: "tiff",
        mime: "image/tiff",
        extensions: &["tif", "tiff"],
        compress: true,
    },
    FileType {
        name: "dicom",
        mime: "application/dicom",
        extensions: &["dcm", "dicom"],
        compress: true,
    },
    FileType {
        name: "txt",
        mime: "text/plain; charset=utf-8",
        extensions: &["txt"],
        compress: true,
    },
    FileType {
        name: "csv",
        mime: "text/csv; charset=utf-8",
        extensions: &["csv"],
        compress: true,
    },
    FileType {
        name: "docx",
        mime: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        extensions: &["docx"],
        compress: false,
    },
];

/// The type named `name` in configuration.
pub fn type_named(name: &str) -> Option<&'static FileType> {
    TYPES.iter().find(|t| t.name == name)
}

/// The type a file name declares by its extension.
pub fn type_of_name(name: &str) -> Option<&'static FileType> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    TYPES.iter().find(|t| t.extensions.contains(&ext.as_str()))
}

/// The areas of a doctor's workspace that take uploads (`archive` is where
/// the retention job moves old files; nobody uploads there).
pub const WORKSPACE_CATEGORIES: &[&str] = &["documents", "reports", "images", "temp"];

/// The categories of a patient's folder.
pub const PATIENT_CATEGORIES: &[&str] = &[
    "medical_records",
    "lab_results",
    "imaging",
    "prescriptions",
    "treatment_plans",
    "progress_notes",
    "discharge_summaries",
    "consent_forms",
];

/// Whether `category` belongs in a patient's folder (else a workspace area).
pub fn is_patient_category(category: &str) -> bool {
    PATIENT_CATEGORIES.contains(&category)
}

/// The built-in rule of a category: allowed types and size limit (MiB).
fn default_category(category: &str) -> (&'static [&'static str], i64) {
    const DOCS: &[&str] = &["pdf", "txt", "docx"];
    const IMAGES: &[&str] = &["dicom", "png", "jpeg", "tiff"];
    match category {
        "imaging" | "images" => (IMAGES, 2048),
        "lab_results" => (&["pdf", "txt", "csv", "png", "jpeg"], 100),
        "medical_records" => (&["pdf", "txt", "docx", "png", "jpeg"], 200),
        "consent_forms" => (&["pdf", "png", "jpeg"], 50),
        "temp" => (
            &["pdf", "txt", "csv", "docx", "png", "jpeg", "tiff", "dicom"],
            2048,
        ),
        _ => (DOCS, 100),
    }
}

/// The built-in modules of the original design and their retention years.
const DEFAULT_MODULES: &[(&str, i64)] = &[
    ("radiology", 10),
    ("medicine", 10),
    ("dentistry", 10),
    ("dermatology", 10),
    ("pathology", 15),
    ("homeopathy", 7),
    ("allopathy", 10),
    ("cosmetology", 7),
];

/// `[files.modules.<name>.categories.<category>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Allowed type names (see [`TYPES`]).
    pub types: Option<Vec<String>>,
    /// Size limit in MiB.
    pub max_mb: Option<i64>,
    /// Retention in years (else the module's).
    pub retention_years: Option<i64>,
}

/// `[files.modules.<name>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleConfig {
    /// Retention in years of the module's files (7 to 15 in the original design).
    pub retention_years: Option<i64>,
    /// Per-category changes.
    #[serde(default)]
    pub categories: BTreeMap<String, CategoryConfig>,
}

/// `[files]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilesConfig {
    /// Where objects are stored (default: local disk next to the database).
    pub storage: StorageConfig,
    /// Files older than this move to the archive area (days).
    pub archive_after_days: i64,
    /// How often the retention job runs (minutes; 0: only on request).
    pub job_interval_minutes: u64,
    /// Usage above this share of the plan's storage is a warning (percent).
    pub quota_warning_percent: i64,
    /// Modules added or changed.
    pub modules: BTreeMap<String, ModuleConfig>,
}

impl Default for FilesConfig {
    fn default() -> Self {
        Self {
            storage: StorageConfig::default(),
            archive_after_days: 730,
            job_interval_minutes: 60,
            quota_warning_percent: 80,
            modules: BTreeMap::new(),
        }
    }
}

/// One category's rule in one module, resolved.
#[derive(Debug, Clone)]
pub struct CategoryRule {
    /// Allowed types.
    pub types: Vec<&'static FileType>,
    /// Size limit in bytes.
    pub max_bytes: u64,
    /// Retention in years.
    pub retention_years: i64,
}

/// The resolved rules the handlers use.
#[derive(Debug, Clone)]
pub struct FilesRules {
    /// module → category → rule.
    modules: BTreeMap<String, BTreeMap<&'static str, CategoryRule>>,
    /// Archival age in days.
    pub archive_after_days: i64,
    /// Retention job interval (minutes, 0 = on request only).
    pub job_interval_minutes: u64,
    /// Warning threshold (percent of the plan's storage).
    pub quota_warning_percent: i64,
}

impl FilesRules {
    /// The module names, sorted.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.modules.keys().map(String::as_str)
    }

    /// Whether `module` is configured.
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.contains_key(module)
    }

    /// The rule of `category` in `module`.
    pub fn rule(&self, module: &str, category: &str) -> Option<&CategoryRule> {
        self.modules.get(module)?.get(category)
    }

    /// Resolve and check `[files]`.
    pub fn from_config(c: &FilesConfig) -> anyhow::Result<Self> {
        if !(1..=36_500).contains(&c.archive_after_days) {
            bail!("files.archive_after_days must be between 1 and 36500");
        }
        if !(1..=100).contains(&c.quota_warning_percent) {
            bail!("files.quota_warning_percent must be between 1 and 100");
        }
        let mut names: BTreeMap<String, Option<i64>> = DEFAULT_MODULES
            .iter()
            .map(|(m, y)| (m.to_string(), Some(*y)))
            .collect();
        for (name, m) in &c.modules {
            check_module_name(name)?;
            let base = names.get(name).copied().flatten();
            names.insert(name.clone(), m.retention_years.or(base));
        }
        let mut modules = BTreeMap::new();
        for (name, years) in names {
            let Some(years) = years else {
                bail!("files.modules.{name}.retention_years is required for a module of your own");
            };
            check_years(&format!("files.modules.{name}.retention_years"), years)?;
            let given = c.modules.get(&name);
            if let Some(m) = given {
                for cat in m.categories.keys() {
                    if !is_patient_category(cat) && !WORKSPACE_CATEGORIES.contains(&cat.as_str()) {
                        bail!("files.modules.{name}.categories.{cat}: no such category");
                    }
                }
            }
            let mut cats = BTreeMap::new();
            for cat in PATIENT_CATEGORIES.iter().chain(WORKSPACE_CATEGORIES) {
                let (types, max_mb) = default_category(cat);
                let over = given
                    .and_then(|m| m.categories.get(*cat))
                    .cloned()
                    .unwrap_or_default();
                let key = format!("files.modules.{name}.categories.{cat}");
                let types = match &over.types {
                    Some(list) => list
                        .iter()
                        .map(|t| {
                            type_named(t)
                                .with_context(|| format!("{key}.types: no such type {t:?}"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()?,
                    None => types.iter().filter_map(|t| type_named(t)).collect(),
                };
                if types.is_empty() {
                    bail!("{key}.types must allow at least one type");
                }
                let max_mb = over.max_mb.unwrap_or(max_mb);
                if !(1..=1024 * 1024).contains(&max_mb) {
                    bail!("{key}.max_mb must be between 1 and 1048576");
                }
                let retention_years = over.retention_years.unwrap_or(years);
                check_years(&format!("{key}.retention_years"), retention_years)?;
                let max_bytes = u64::try_from(max_mb).unwrap_or(1) * 1024 * 1024;
                cats.insert(
                    *cat,
                    CategoryRule {
                        types,
                        max_bytes,
                        retention_years,
                    },
                );
            }
            modules.insert(name, cats);
        }
        Ok(Self {
            modules,
            archive_after_days: c.archive_after_days,
            job_interval_minutes: c.job_interval_minutes,
            quota_warning_percent: c.quota_warning_percent,
        })
    }
}

fn check_module_name(name: &str) -> anyhow::Result<()> {
    let ok = (2..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
    if !ok {
        bail!("files.modules.{name}: a module name is 2 to 40 of a-z, 0-9 and _");
    }
    Ok(())
}

fn check_years(key: &str, years: i64) -> anyhow::Result<()> {
    if !(1..=100).contains(&years) {
        bail!("{key} must be between 1 and 100");
    }
    Ok(())
}

/// Where local objects go when `[files.storage]` names no root: beside a
/// SQLite database (`data/hospital.db` → `data/hospital/objects`), else
/// `data/hospital/objects` under the working directory.
pub fn default_root(config: &Config) -> PathBuf {
    config.data_dir("hospital").join("objects")
}

/// Read `[files]` (absent: the defaults), resolve its rules and open the
/// object store.
pub fn load(config: &Config) -> anyhow::Result<(FilesRules, Objects)> {
    let c: FilesConfig = config.section("files")?.unwrap_or_default();
    let rules = FilesRules::from_config(&c)?;
    let objects = Objects::open(&c.storage, &default_root(config)).context("files.storage")?;
    Ok((rules, objects))
}

/// `[files]`, as the hospital's spec lists it.
pub const SECTION: Section = Section {
    name: "files",
    load: load_section,
};

fn load_section(config: &Config) -> anyhow::Result<AppDataFn> {
    let (rules, objects) = load(config)?;
    let rules = web::Data::new(rules);
    let probe_objects = objects.clone();
    let probe = web::Data::new(common::http::ReadyProbe::new("objects", move || {
        let o = probe_objects.clone();
        Box::pin(async move { o.check().await })
    }));
    let objects = web::Data::new(objects);
    Ok(Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(rules.clone())
            .app_data(objects.clone())
            .app_data(probe.clone());
    }))
}
