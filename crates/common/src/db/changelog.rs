//! The change log behind the online copy (issue 12, item 3): database
//! triggers record every row written to every table into `change_log`,
//! inside the writing transaction, so no code path can write a row the
//! copy misses. A schema that has a `change_log` table gets the triggers
//! after its migrations ([`super::Db::migrate`]); others are untouched.
//!
//! - SQLite: three triggers per table (`bh_cl_<table>_i/_u/_d`), each
//!   rendering the row with `json_object` (BLOB columns as hex). An update
//!   that changes the primary key is logged as a delete of the old key
//!   followed by the new row.
//! - PostgreSQL: one trigger per table (`bh_cl`) calling one function that
//!   renders the row with `row_to_json`; the primary-key columns are its
//!   arguments (for the same key-change rule).
//!
//! `audit_log` is followed without triggers ([`APPEND_ONLY`]): it is
//! append-only with a dense `seq`, so the shipper copies the rows past the
//! last one it shipped into the log when it seals a batch
//! ([`copy_appended`]), rendered as a trigger would render them, instead
//! of a trigger writing a second copy of every audit row inside each
//! request's transaction (about half of what an audited read writes).
//!
//! `change_log_tables` records the column list each table's triggers were
//! made for. A table met for the first time, or whose columns changed (a
//! migration), has its triggers made again and, unless told otherwise
//! (a restore), every row it holds logged as it stands, in the same
//! transaction: what a migration wrote is in the copy too. Tables are
//! handled parents first (foreign keys), so a replay in log order meets
//! each parent before its children.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::DbConn;

/// Tables never logged: the log and its bookkeeping, the engines' own, and
/// `audit_head` — every write transaction "updates" it to take its lock,
/// and a restore sets it from the last audit row it restored.
pub const EXCLUDED: &[&str] = &[
    "audit_head",
    "change_log",
    "change_log_tables",
    "sync_state",
    "sync_outbox",
    "__diesel_schema_migrations",
    "sqlite_sequence",
];

/// The table followed by its `seq` instead of by triggers (see the module
/// documentation): append-only, so its rows past a position are exactly
/// what changed since.
pub const APPEND_ONLY: &str = "audit_log";

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its declared type, lower case.
    pub kind: String,
    /// Whether it holds bytes (logged as hex on SQLite).
    pub blob: bool,
}

/// One logged table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Its name.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<Column>,
    /// Its primary-key columns.
    pub pk: Vec<String>,
    /// Tables its foreign keys name.
    pub parents: BTreeSet<String>,
}

impl Table {
    /// What the triggers were made for: columns, types and key.
    pub fn signature(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| format!("{}:{}", c.name, c.kind))
            .collect();
        format!("v1|{}|pk:{}", cols.join(","), self.pk.join(","))
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// `"name"` with inner quotes doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteCol {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct PgCol {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
}

#[derive(QueryableByName)]
struct Sig {
    #[diesel(sql_type = Text)]
    tbl: String,
    #[diesel(sql_type = Text)]
    signature: String,
}

/// Whether this database has a change log (the hospital's schema).
pub fn present(conn: &mut DbConn) -> anyhow::Result<bool> {
    let n: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'change_log'",
        )
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT tablename AS name FROM pg_tables \
             WHERE schemaname = current_schema() AND tablename = 'change_log'",
        )
        .load(c)?,
    };
    Ok(!n.is_empty())
}

/// Every table the log covers, parents before children.
pub fn tables(conn: &mut DbConn) -> anyhow::Result<Vec<Table>> {
    let names: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT tablename AS name FROM pg_tables \
             WHERE schemaname = current_schema() ORDER BY tablename",
        )
        .load(c)?,
    };
    let mut found = Vec::new();
    for n in names
        .into_iter()
        .filter(|n| !EXCLUDED.contains(&n.name.as_str()))
    {
        let t = describe(conn, n.name)?;
        if t.pk.is_empty() {
            bail!(
                "table {} has no primary key: the change log cannot follow it",
                t.name
            );
        }
        found.push(t);
    }
    Ok(parents_first(found))
}

/// One table's columns, key and parents.
fn describe(conn: &mut DbConn, name: String) -> anyhow::Result<Table> {
    Ok(match conn {
        DbConn::Sqlite(c) => {
            let cols: Vec<SqliteCol> = diesel::sql_query(
                "SELECT name, lower(type) AS kind, pk FROM pragma_table_info(?) ORDER BY cid",
            )
            .bind::<Text, _>(&name)
            .load(c)?;
            let mut pk: Vec<(i32, String)> = cols
                .iter()
                .filter(|c| c.pk > 0)
                .map(|c| (c.pk, c.name.clone()))
                .collect();
            pk.sort();
            let parents: Vec<Name> = diesel::sql_query(
                "SELECT DISTINCT \"table\" AS name FROM pragma_foreign_key_list(?)",
            )
            .bind::<Text, _>(&name)
            .load(c)?;
            Table {
                columns: cols
                    .into_iter()
                    .map(|c| Column {
                        blob: c.kind.contains("blob") || c.kind.contains("binary"),
                        name: c.name,
                        kind: c.kind,
                    })
                    .collect(),
                pk: pk.into_iter().map(|(_, n)| n).collect(),
                parents: parents.into_iter().map(|p| p.name).collect(),
                name,
            }
        }
        DbConn::Pg(c) => {
            let cols: Vec<PgCol> = diesel::sql_query(
                "SELECT column_name::text AS name, data_type::text AS kind \
                 FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 \
                 ORDER BY ordinal_position",
            )
            .bind::<Text, _>(&name)
            .load(c)?;
            let pk: Vec<Name> = diesel::sql_query(
                "SELECT a.attname::text AS name FROM pg_index i \
                 JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
                 AND i.indisprimary ORDER BY k.ord",
            )
            .bind::<Text, _>(&name)
            .load(c)?;
            let parents: Vec<Name> = diesel::sql_query(
                "SELECT DISTINCT p.relname::text AS name FROM pg_constraint f \
                 JOIN pg_class p ON p.oid = f.confrelid \
                 WHERE f.conrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
                 AND f.contype = 'f'",
            )
            .bind::<Text, _>(&name)
            .load(c)?;
            Table {
                columns: cols
                    .into_iter()
                    .map(|c| Column {
                        blob: c.kind == "bytea",
                        name: c.name,
                        kind: c.kind,
                    })
                    .collect(),
                pk: pk.into_iter().map(|p| p.name).collect(),
                parents: parents.into_iter().map(|p| p.name).collect(),
                name,
            }
        }
    })
}

/// Order tables so each comes after the tables it references (a cycle or
/// a self-reference keeps the remaining order by name).
fn parents_first(tables: Vec<Table>) -> Vec<Table> {
    let mut left: BTreeMap<String, Table> =
        tables.into_iter().map(|t| (t.name.clone(), t)).collect();
    let mut out: Vec<Table> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<String> = left
            .values()
            .filter(|t| {
                t.parents
                    .iter()
                    .all(|p| p == &t.name || !left.contains_key(p))
            })
            .map(|t| t.name.clone())
            .collect();
        let take = if ready.is_empty() {
            vec![left.keys().next().cloned().unwrap_or_default()]
        } else {
            ready
        };
        for name in take {
            if let Some(t) = left.remove(&name) {
                out.push(t);
            }
        }
    }
    out
}

/// What [`install`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Installed {
    /// Tables whose triggers were (re)made.
    pub tables: Vec<String>,
    /// Rows logged as they stood (new or changed tables).
    pub baseline_rows: i64,
}

/// SQLite: `json_object('c', <prefix>"c", …)` of `cols`.
fn sqlite_json(cols: &[&Column], prefix: &str) -> String {
    let parts: Vec<String> = cols
        .iter()
        .map(|c| {
            let v = format!("{prefix}{}", ident(&c.name));
            let v = if c.blob {
                format!("CASE WHEN {v} IS NULL THEN NULL ELSE hex({v}) END")
            } else {
                v
            };
            format!("{}, {v}", literal(&c.name))
        })
        .collect();
    format!("json_object({})", parts.join(", "))
}

fn sqlite_triggers(t: &Table) -> String {
    let all: Vec<&Column> = t.columns.iter().collect();
    let key: Vec<&Column> = t.pk.iter().filter_map(|k| t.column(k)).collect();
    let name = literal(&t.name);
    let tbl = ident(&t.name);
    let same_key: Vec<String> =
        t.pk.iter()
            .map(|k| format!("OLD.{0} IS NEW.{0}", ident(k)))
            .collect();
    let trig = |suffix: &str| ident(&format!("bh_cl_{}_{suffix}", t.name));
    format!(
        "CREATE TRIGGER {ti} AFTER INSERT ON {tbl} BEGIN \
           INSERT INTO change_log (tbl, op, row_data) VALUES ({name}, 'I', {new}); END;\n\
         CREATE TRIGGER {tu} AFTER UPDATE ON {tbl} BEGIN \
           INSERT INTO change_log (tbl, op, row_data) SELECT {name}, 'D', {old_key} WHERE NOT ({same}); \
           INSERT INTO change_log (tbl, op, row_data) VALUES ({name}, 'U', {new}); END;\n\
         CREATE TRIGGER {td} AFTER DELETE ON {tbl} BEGIN \
           INSERT INTO change_log (tbl, op, row_data) VALUES ({name}, 'D', {old_key}); END;",
        ti = trig("i"),
        tu = trig("u"),
        td = trig("d"),
        new = sqlite_json(&all, "NEW."),
        old_key = sqlite_json(&key, "OLD."),
        same = same_key.join(" AND "),
    )
}

fn sqlite_drop_triggers(t: &Table) -> String {
    ["i", "u", "d"]
        .iter()
        .map(|s| {
            format!(
                "DROP TRIGGER IF EXISTS {};",
                ident(&format!("bh_cl_{}_{s}", t.name))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const PG_FUNCTION: &str = r#"
CREATE OR REPLACE FUNCTION bh_change_log() RETURNS trigger LANGUAGE plpgsql AS $bh$
DECLARE
    k text;
    moved boolean := false;
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO change_log (tbl, op, row_data) VALUES (TG_TABLE_NAME, 'D', row_to_json(OLD)::text);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        FOREACH k IN ARRAY TG_ARGV LOOP
            IF (to_jsonb(OLD) -> k) IS DISTINCT FROM (to_jsonb(NEW) -> k) THEN
                moved := true;
            END IF;
        END LOOP;
        IF moved THEN
            INSERT INTO change_log (tbl, op, row_data) VALUES (TG_TABLE_NAME, 'D', row_to_json(OLD)::text);
        END IF;
    END IF;
    INSERT INTO change_log (tbl, op, row_data)
        VALUES (TG_TABLE_NAME, CASE TG_OP WHEN 'INSERT' THEN 'I' ELSE 'U' END, row_to_json(NEW)::text);
    RETURN NULL;
END
$bh$;
"#;

fn pg_trigger(t: &Table) -> String {
    let args: Vec<String> = t.pk.iter().map(|k| literal(k)).collect();
    format!(
        "DROP TRIGGER IF EXISTS bh_cl ON {tbl};\n\
         CREATE TRIGGER bh_cl AFTER INSERT OR UPDATE OR DELETE ON {tbl} \
         FOR EACH ROW EXECUTE FUNCTION bh_change_log({args});",
        tbl = ident(&t.name),
        args = args.join(", ")
    )
}

/// Log the rows of `t` that `filter` (a `WHERE` clause, or nothing) picks,
/// in key order, as inserts rendered the way its triggers render a row.
fn log_rows_sql(conn: &DbConn, t: &Table, filter: &str) -> String {
    let order: Vec<String> = t.pk.iter().map(|k| ident(k)).collect();
    match conn {
        DbConn::Sqlite(_) => {
            let all: Vec<&Column> = t.columns.iter().collect();
            format!(
                "INSERT INTO change_log (tbl, op, row_data) SELECT {}, 'I', {} FROM {} {filter} ORDER BY {}",
                literal(&t.name),
                sqlite_json(&all, ""),
                ident(&t.name),
                order.join(", ")
            )
        }
        DbConn::Pg(_) => format!(
            "INSERT INTO change_log (tbl, op, row_data) SELECT {}, 'I', row_to_json(x)::text FROM {} x {filter} ORDER BY {}",
            literal(&t.name),
            ident(&t.name),
            order
                .iter()
                .map(|o| format!("x.{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[derive(QueryableByName)]
struct Last {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    seq: Option<i64>,
}

/// Copy the [`APPEND_ONLY`] rows after `after` (at most `limit`, in `seq`
/// order) into the log, rendered as its trigger would have; the last `seq`
/// copied (`after` when there was none). Run inside the transaction that
/// records the new position.
pub fn copy_appended(conn: &mut DbConn, after: i64, limit: i64) -> anyhow::Result<i64> {
    let pick = format!(
        "SELECT MAX(seq) AS seq FROM (SELECT seq FROM {} WHERE seq > {after} ORDER BY seq LIMIT {})",
        ident(APPEND_ONLY),
        limit.max(1)
    );
    let last = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(pick).get_result::<Last>(c)?,
        DbConn::Pg(c) => diesel::sql_query(pick + " AS picked").get_result::<Last>(c)?,
    };
    let Some(last) = last.seq else {
        return Ok(after);
    };
    let table = describe(conn, APPEND_ONLY.to_string())?;
    let sql = log_rows_sql(
        conn,
        &table,
        &format!("WHERE seq > {after} AND seq <= {last}"),
    );
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
        DbConn::Pg(c) => diesel::sql_query(sql).execute(c)?,
    };
    Ok(last)
}

/// Whether this table's triggers exist (someone may have dropped them).
fn triggers_present(conn: &mut DbConn, t: &Table) -> anyhow::Result<bool> {
    let found: Vec<Name> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'bh\\_cl\\_%' ESCAPE '\\'",
        )
        .bind::<Text, _>(&t.name)
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT tgname::text AS name FROM pg_trigger \
             WHERE tgrelid = (quote_ident(current_schema()) || '.' || quote_ident($1))::regclass \
             AND tgname = 'bh_cl'",
        )
        .bind::<Text, _>(&t.name)
        .load(c)?,
    };
    Ok(match conn {
        DbConn::Sqlite(_) => found.len() == 3,
        DbConn::Pg(_) => found.len() == 1,
    })
}

/// Make the triggers of every table that lacks them or whose columns
/// changed, in one transaction; with `baseline`, log the rows such a
/// table holds as they stand (without: a restore, whose rows came from
/// the log). Idempotent: a second call with nothing changed does nothing.
pub fn install(conn: &mut DbConn, baseline: bool) -> anyhow::Result<Installed> {
    conn.transaction::<Installed, anyhow::Error, _>(|conn| {
        if let DbConn::Pg(c) = conn {
            // Two instances starting at once: one installs, then the other
            // finds nothing to do.
            c.batch_execute("SELECT pg_advisory_xact_lock(7305120412)")?;
        }
        let known: BTreeMap<String, String> = {
            let rows: Vec<Sig> = match conn {
                DbConn::Sqlite(c) => diesel::sql_query("SELECT tbl, signature FROM change_log_tables").load(c)?,
                DbConn::Pg(c) => diesel::sql_query("SELECT tbl, signature FROM change_log_tables").load(c)?,
            };
            rows.into_iter().map(|r| (r.tbl, r.signature)).collect()
        };
        let mut done = Installed::default();
        let mut function_made = false;
        for t in tables(conn)? {
            if t.name == APPEND_ONLY {
                // Followed by seq, not by triggers.
                continue;
            }
            let sig = t.signature();
            if known.get(&t.name) == Some(&sig) && triggers_present(conn, &t)? {
                continue;
            }
            match conn {
                DbConn::Sqlite(c) => {
                    c.batch_execute(&sqlite_drop_triggers(&t))?;
                    c.batch_execute(&sqlite_triggers(&t))
                        .with_context(|| format!("change-log triggers on {}", t.name))?;
                }
                DbConn::Pg(c) => {
                    if !function_made {
                        c.batch_execute(PG_FUNCTION)?;
                        function_made = true;
                    }
                    c.batch_execute(&pg_trigger(&t))
                        .with_context(|| format!("change-log trigger on {}", t.name))?;
                }
            }
            if baseline {
                let sql = log_rows_sql(conn, &t, "");
                let n = match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(sql).execute(c)?,
                    DbConn::Pg(c) => diesel::sql_query(sql).execute(c)?,
                };
                done.baseline_rows += n as i64;
            }
            let upsert = "INSERT INTO change_log_tables (tbl, signature, installed_at) VALUES ($1, $2, $3) \
                          ON CONFLICT (tbl) DO UPDATE SET signature = excluded.signature, installed_at = excluded.installed_at";
            let now = super::now();
            match conn {
                DbConn::Sqlite(c) => diesel::sql_query(upsert.replace('$', "?"))
                    .bind::<Text, _>(&t.name)
                    .bind::<Text, _>(&sig)
                    .bind::<diesel::sql_types::Timestamp, _>(now)
                    .execute(c)?,
                DbConn::Pg(c) => diesel::sql_query(upsert)
                    .bind::<Text, _>(&t.name)
                    .bind::<Text, _>(&sig)
                    .bind::<diesel::sql_types::Timestamp, _>(now)
                    .execute(c)?,
            };
            done.tables.push(t.name);
        }
        Ok(done)
    })
}

/// Remove every change-log trigger (a restore replays with them off, then
/// installs them again without a baseline).
pub fn uninstall(conn: &mut DbConn) -> anyhow::Result<()> {
    for t in tables(conn)? {
        match conn {
            DbConn::Sqlite(c) => c.batch_execute(&sqlite_drop_triggers(&t))?,
            DbConn::Pg(c) => c.batch_execute(&format!(
                "DROP TRIGGER IF EXISTS bh_cl ON {}",
                ident(&t.name)
            ))?,
        }
    }
    match conn {
        DbConn::Sqlite(c) => c.batch_execute("DELETE FROM change_log_tables")?,
        DbConn::Pg(c) => c.batch_execute("DELETE FROM change_log_tables")?,
    }
    Ok(())
}

#[derive(QueryableByName)]
struct RowJson {
    #[diesel(sql_type = Text)]
    row: String,
}

/// Every row of `table` as the change log renders it, in key order (to
/// compare two databases, e.g. an original and its restore).
pub fn dump(conn: &mut DbConn, table: &Table) -> anyhow::Result<Vec<String>> {
    let order: Vec<String> = table.pk.iter().map(|k| ident(k)).collect();
    let rows: Vec<RowJson> = match conn {
        DbConn::Sqlite(c) => {
            let all: Vec<&Column> = table.columns.iter().collect();
            diesel::sql_query(format!(
                "SELECT {} AS row FROM {} ORDER BY {}",
                sqlite_json(&all, ""),
                ident(&table.name),
                order.join(", ")
            ))
            .load(c)?
        }
        DbConn::Pg(c) => diesel::sql_query(format!(
            "SELECT row_to_json(x)::text AS row FROM {} x ORDER BY {}",
            ident(&table.name),
            order
                .iter()
                .map(|o| format!("x.{o}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.row).collect())
}
