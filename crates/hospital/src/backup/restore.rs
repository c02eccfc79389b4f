//! Rebuilding an empty hospital database from owner's batches.
//!
//! The schema comes from this release's migrations; the rows from the
//! batches, opened in order against the chain (a changed, dropped,
//! reordered or replayed batch stops the restore and names the batch) and
//! replayed in log order: inserts and updates as upserts of the whole row,
//! deletes by primary key. Consecutive changes to one table are replayed
//! in one statement over a JSON array (`json_each` on SQLite,
//! `json_populate_recordset` on PostgreSQL), so a million changes do not
//! mean a million statements. The tables' own triggers (signed notes stay
//! unchanged, …) are off while replaying, as are SQLite's foreign-key
//! checks, which are then run over the whole database. At the end the
//! chain's position is kept (`sync_state`), so the restored server ships
//! its next batch after the last one restored, and the change-log
//! triggers are made again without logging what was restored.

use std::collections::{HashMap, HashSet};

use anyhow::{bail, Context};
use common::db::changelog::{self, ident, literal, Table};
use common::db::DbConn;
use contracts::backup::{
    self, BackupBatch, BackupBatchInfo, BackupKey, Change, GENESIS_TAG, TAG_LEN,
};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

/// Where the batches come from (owner over mTLS; a test's or a bench's
/// own store).
pub trait BatchSource {
    /// Batches after `after`, in order, at most `limit`.
    fn list(&mut self, after: i64, limit: i64) -> anyhow::Result<Vec<BackupBatchInfo>>;
    /// One batch.
    fn get(&mut self, batch_no: i64) -> anyhow::Result<BackupBatch>;
}

/// What a restore did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Batches replayed.
    pub batches: i64,
    /// Changes replayed.
    pub changes: i64,
    /// The last change's sequence number.
    pub last_seq: i64,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct TriggerSql {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

/// Refuse a database that holds any table: a restore starts from nothing.
pub fn ensure_empty(conn: &mut DbConn) -> anyhow::Result<()> {
    let tables: Vec<Named> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .load(c)?,
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()",
        )
        .load(c)?,
    };
    if !tables.is_empty() {
        bail!(
            "the database is not empty ({} tables, e.g. {}): restore into a new, empty database",
            tables.len(),
            tables[0].name
        );
    }
    Ok(())
}

/// Replays changes on one connection; holds each table's statements.
pub struct Replayer {
    tables: HashMap<String, Table>,
    sql: HashMap<(String, char, String), String>,
    sqlite: bool,
}

/// One run: consecutive changes of one table, one kind, one column set.
struct Run<'a> {
    table: &'a str,
    kind: char,
    keys: String,
    rows: Vec<&'a str>,
    seen: HashSet<String>,
}

impl Replayer {
    /// Learn the tables of the (migrated) database.
    pub fn new(conn: &mut DbConn) -> anyhow::Result<Self> {
        let tables = changelog::tables(conn)?
            .into_iter()
            .map(|t| (t.name.clone(), t))
            .collect();
        Ok(Self {
            tables,
            sql: HashMap::new(),
            sqlite: matches!(conn, DbConn::Sqlite(_)),
        })
    }

    /// Replay `changes` in order (inside the caller's transaction).
    pub fn apply(&mut self, conn: &mut DbConn, changes: &[Change]) -> anyhow::Result<()> {
        let mut run: Option<Run<'_>> = None;
        for c in changes {
            let table = self.tables.get(&c.t).with_context(|| {
                format!(
                    "change {} is for table {:?}, which this release does not have",
                    c.s, c.t
                )
            })?;
            let row: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(c.r.get())
                    .with_context(|| format!("change {}: its row is not a JSON object", c.s))?;
            for k in row.keys() {
                if table.column(k).is_none() {
                    bail!(
                        "change {}: table {} has no column {k:?} in this release",
                        c.s,
                        c.t
                    );
                }
            }
            let mut key_value = String::new();
            for k in &table.pk {
                let v = row
                    .get(k)
                    .with_context(|| format!("change {}: the row lacks its key {k:?}", c.s))?;
                key_value.push_str(&v.to_string());
                key_value.push('\u{1f}');
            }
            let kind = if c.o == "D" { 'D' } else { 'U' };
            let keys: String = if kind == 'D' {
                table.pk.join(",")
            } else {
                row.keys().cloned().collect::<Vec<_>>().join(",")
            };
            let same = run.as_ref().is_some_and(|r| {
                r.table == c.t && r.kind == kind && r.keys == keys && !r.seen.contains(&key_value)
            });
            if !same {
                if let Some(r) = run.take() {
                    self.flush(conn, r)?;
                }
            }
            let r = run.get_or_insert_with(|| Run {
                table: &c.t,
                kind,
                keys,
                rows: Vec::new(),
                seen: HashSet::new(),
            });
            r.rows.push(c.r.get());
            r.seen.insert(key_value);
        }
        if let Some(r) = run.take() {
            self.flush(conn, r)?;
        }
        Ok(())
    }

    fn flush(&mut self, conn: &mut DbConn, run: Run<'_>) -> anyhow::Result<()> {
        let table = &self.tables[run.table];
        let cols: Vec<&str> = run.keys.split(',').collect();
        let sqlite = self.sqlite;
        let sql = self
            .sql
            .entry((run.table.to_string(), run.kind, run.keys.clone()))
            .or_insert_with(|| statement(table, run.kind, &cols, sqlite))
            .clone();
        let mut array =
            String::with_capacity(run.rows.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        array.push('[');
        for (i, r) in run.rows.iter().enumerate() {
            if i > 0 {
                array.push(',');
            }
            array.push_str(r);
        }
        array.push(']');
        match conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql).bind::<Text, _>(&array).execute(c),
            DbConn::Pg(c) => diesel::sql_query(sql).bind::<Text, _>(&array).execute(c),
        }
        .with_context(|| format!("replaying {} change(s) of {}", run.rows.len(), run.table))?;
        Ok(())
    }
}

/// The statement replaying a run of `table` over a JSON array bound as the
/// only parameter.
fn statement(table: &Table, kind: char, cols: &[&str], sqlite: bool) -> String {
    let t = ident(&table.name);
    let pk: Vec<String> = table.pk.iter().map(|k| ident(k)).collect();
    let value = |c: &str| -> String {
        if sqlite {
            let e = format!("json_extract(value, {})", literal(&format!("$.\"{c}\"")));
            if table.column(c).is_some_and(|col| col.blob) {
                format!("unhex({e})")
            } else {
                e
            }
        } else {
            format!("r.{}", ident(c))
        }
    };
    let from = if sqlite {
        "json_each(?1)".to_string()
    } else {
        format!("json_populate_recordset(NULL::{t}, $1::json) r")
    };
    if kind == 'D' {
        let keys: Vec<String> = table.pk.iter().map(|k| value(k)).collect();
        return format!(
            "DELETE FROM {t} WHERE ({}) IN (SELECT {} FROM {from})",
            pk.join(", "),
            keys.join(", ")
        );
    }
    let names: Vec<String> = cols.iter().map(|c| ident(c)).collect();
    let values: Vec<String> = cols.iter().map(|c| value(c)).collect();
    let updates: Vec<String> = cols
        .iter()
        .filter(|c| !table.pk.iter().any(|k| k == *c))
        .map(|c| format!("{0} = excluded.{0}", ident(c)))
        .collect();
    let action = if updates.is_empty() {
        "DO NOTHING".to_string()
    } else {
        format!("DO UPDATE SET {}", updates.join(", "))
    };
    // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT.
    format!(
        "INSERT INTO {t} ({}) SELECT {} FROM {from} WHERE true ON CONFLICT ({}) {action}",
        names.join(", "),
        values.join(", "),
        pk.join(", ")
    )
}

/// The tables' own triggers, switched off for the replay and back on after.
enum UserTriggers {
    Sqlite(Vec<TriggerSql>),
    Pg(Vec<String>),
}

impl UserTriggers {
    fn off(conn: &mut DbConn) -> anyhow::Result<Self> {
        match conn {
            DbConn::Sqlite(c) => {
                let all: Vec<TriggerSql> = diesel::sql_query(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL",
                )
                .load(c)?;
                for t in &all {
                    c.batch_execute(&format!("DROP TRIGGER {}", ident(&t.name)))?;
                }
                Ok(Self::Sqlite(all))
            }
            DbConn::Pg(c) => {
                let tables: Vec<Named> = diesel::sql_query(
                    "SELECT DISTINCT c.relname::text AS name FROM pg_trigger g \
                     JOIN pg_class c ON c.oid = g.tgrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE NOT g.tgisinternal AND n.nspname = current_schema()",
                )
                .load(c)?;
                for t in &tables {
                    c.batch_execute(&format!(
                        "ALTER TABLE {} DISABLE TRIGGER USER",
                        ident(&t.name)
                    ))?;
                }
                Ok(Self::Pg(tables.into_iter().map(|t| t.name).collect()))
            }
        }
    }

    fn on(self, conn: &mut DbConn) -> anyhow::Result<()> {
        match (self, conn) {
            (Self::Sqlite(all), DbConn::Sqlite(c)) => {
                for t in all {
                    c.batch_execute(&t.sql)
                        .with_context(|| format!("re-creating trigger {}", t.name))?;
                }
            }
            (Self::Pg(tables), DbConn::Pg(c)) => {
                for t in tables {
                    c.batch_execute(&format!("ALTER TABLE {} ENABLE TRIGGER USER", ident(&t)))?;
                }
            }
            _ => bail!("the connection changed backend"),
        }
        Ok(())
    }
}

#[derive(QueryableByName)]
struct FkProblem {
    #[diesel(sql_type = Text)]
    table: String,
}

/// Rebuild the (migrated, otherwise empty) database behind `conn` from
/// `source`'s batches of `tenant`, opened with `key`. `progress` hears of
/// each batch replayed. The database must have been checked empty
/// ([`ensure_empty`]) before its migrations ran.
pub fn run(
    conn: &mut DbConn,
    source: &mut dyn BatchSource,
    key: &BackupKey,
    tenant: &str,
    progress: &mut dyn FnMut(&BackupBatch),
) -> anyhow::Result<Restored> {
    let backend = match conn {
        DbConn::Sqlite(_) => "sqlite",
        DbConn::Pg(_) => "postgres",
    };
    let schema = crate::owner_link::heartbeat::migration_version(conn)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut replayer = Replayer::new(conn)?;
    if let DbConn::Sqlite(c) = conn {
        c.batch_execute("PRAGMA foreign_keys = OFF")?;
    }
    let triggers = UserTriggers::off(conn)?;
    let mut done = Restored::default();
    let mut prev = GENESIS_TAG;
    let mut after = 0;
    loop {
        let infos = source.list(after, 500)?;
        if infos.is_empty() {
            break;
        }
        for info in infos {
            let expected = done.batches + 1;
            if info.batch_no != expected {
                bail!(
                    "owner lists batch {} where batch {expected} should follow: the copy has a gap or is out of order",
                    info.batch_no
                );
            }
            let batch = source.get(info.batch_no)?;
            if batch.batch_no != info.batch_no || !batch.tenant_id.eq_ignore_ascii_case(tenant) {
                bail!(
                    "owner answered batch {} of tenant {} for batch {} of {tenant}",
                    batch.batch_no,
                    batch.tenant_id,
                    info.batch_no
                );
            }
            if batch.backend != backend {
                bail!(
                    "batch {} was written on {}; restore it into a {} database",
                    batch.batch_no,
                    batch.backend,
                    batch.backend
                );
            }
            if batch.schema_version > schema {
                bail!(
                    "batch {} was written by a newer schema ({}) than this release's ({schema}): restore with the release that wrote it",
                    batch.batch_no,
                    batch.schema_version
                );
            }
            let (plain, tag): (Vec<u8>, [u8; TAG_LEN]) = backup::open(key, &batch, &prev)
                .map_err(|e| anyhow::anyhow!("batch {}: {e}", batch.batch_no))?;
            let changes = backup::changes(&batch, &plain)
                .map_err(|e| anyhow::anyhow!("batch {}: {e}", batch.batch_no))?;
            conn.transaction::<(), anyhow::Error, _>(|c| replayer.apply(c, &changes))
                .with_context(|| format!("batch {}", batch.batch_no))?;
            prev = tag;
            done.batches = batch.batch_no;
            done.changes += batch.rows;
            done.last_seq = done.last_seq.max(batch.last_seq);
            after = batch.batch_no;
            progress(&batch);
        }
    }
    if done.batches == 0 {
        bail!("owner holds no batch for tenant {tenant}: there is nothing to restore");
    }
    triggers.on(conn)?;
    if let DbConn::Sqlite(c) = conn {
        let broken: Vec<FkProblem> =
            diesel::sql_query("SELECT \"table\" AS \"table\" FROM pragma_foreign_key_check")
                .load(c)?;
        if let Some(b) = broken.first() {
            bail!(
                "the restored rows break {} foreign key(s), first in {}",
                broken.len(),
                b.table
            );
        }
        c.batch_execute("PRAGMA foreign_keys = ON")?;
    }
    head_from_last_row(conn)?;
    keep_position(conn, &done, &prev)?;
    changelog::install(conn, false)?;
    Ok(done)
}

/// `audit_head` is not in the copy (every write takes its lock by
/// updating it): it is the last restored audit row.
fn head_from_last_row(conn: &mut DbConn) -> anyhow::Result<()> {
    conn.batch_execute(
        "UPDATE audit_head SET \
           seq = COALESCE((SELECT MAX(seq) FROM audit_log), 0), \
           hash = COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), hash) \
         WHERE id = 1",
    )?;
    Ok(())
}

/// The restored server goes on where the copy ends: its next batch is the
/// one after the last restored, following its tag, and its change numbers
/// continue after the last one.
fn keep_position(conn: &mut DbConn, done: &Restored, tag: &[u8; TAG_LEN]) -> anyhow::Result<()> {
    use crate::schema::sync_state;
    let now = common::db::now();
    // The head is the last restored audit row (`head_from_last_row`).
    let last_audit = common::audit::head(conn)
        .map_err(|e| anyhow::anyhow!("reading the audit head: {e}"))?
        .seq;
    diesel::update(sync_state::table.find(1))
        .set((
            sync_state::next_batch_no.eq(done.batches + 1),
            sync_state::prev_tag.eq(hex::encode(tag)),
            sync_state::acked_batch_no.eq(done.batches),
            sync_state::acked_at.eq(Some(now)),
            sync_state::restored_from_batch.eq(Some(done.batches)),
            // Every restored audit row came from the copy.
            sync_state::audit_shipped.eq(last_audit),
        ))
        .execute(conn)?;
    match conn {
        DbConn::Sqlite(c) => {
            c.batch_execute("DELETE FROM sqlite_sequence WHERE name = 'change_log'")?;
            diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES ('change_log', ?)")
                .bind::<diesel::sql_types::BigInt, _>(done.last_seq)
                .execute(c)?;
        }
        DbConn::Pg(c) => {
            diesel::sql_query("SELECT setval(pg_get_serial_sequence('change_log', 'seq'), $1)")
                .bind::<diesel::sql_types::BigInt, _>(done.last_seq.max(1))
                .execute(c)?;
        }
    }
    Ok(())
}
