//! Timestamps read and written without chrono's format-string machinery on
//! the hot paths.
//!
//! diesel reads a SQLite `TIMESTAMP` by trying `NaiveDateTime::parse_from_str`
//! with one format string after another — each call parses its format
//! string again — and chrono's serde writes one character at a time through
//! `Debug`. Under a list load (`GET /departments`) the two were a tenth of
//! the server's CPU (`perf`). [`Stamp`] reads the shape diesel writes
//! (`YYYY-MM-DD HH:MM:SS[.fraction]`, or with a `T`) directly and falls back
//! to chrono for anything else; [`json`] writes exactly what chrono's serde
//! writes. Both are tested against chrono.
//!
//! Use on a hot struct's field: `#[diesel(deserialize_as = Stamp)]` and
//! `#[serde(serialize_with = "stamp::json")]`.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::{Nullable, Timestamp};
use diesel::sqlite::Sqlite;

use super::DbBackend;

/// A `TIMESTAMP` column read as a [`NaiveDateTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct Stamp(pub NaiveDateTime);

impl From<Stamp> for NaiveDateTime {
    fn from(s: Stamp) -> Self {
        s.0
    }
}

impl FromSql<Timestamp, Sqlite> for Stamp {
    fn from_sql(value: diesel::sqlite::SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<diesel::sql_types::Text, Sqlite>>::from_sql(value)?;
        parse(&text)
            .map(Stamp)
            .ok_or_else(|| format!("invalid timestamp {text:?}").into())
    }
}

impl FromSql<Timestamp, Pg> for Stamp {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(Stamp)
    }
}

impl FromSql<Timestamp, DbBackend> for Stamp {
    fn from_sql(
        value: <DbBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

/// A nullable `TIMESTAMP` column read as an `Option<NaiveDateTime>`
/// (`#[diesel(deserialize_as = OptStamp)]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct OptStamp(pub Option<NaiveDateTime>);

impl From<OptStamp> for Option<NaiveDateTime> {
    fn from(s: OptStamp) -> Self {
        s.0
    }
}

impl<DB> FromSql<Nullable<Timestamp>, DB> for OptStamp
where
    DB: Backend,
    Stamp: FromSql<Timestamp, DB>,
{
    fn from_sql(value: DB::RawValue<'_>) -> deserialize::Result<Self> {
        <Stamp as FromSql<Timestamp, DB>>::from_sql(value).map(|s| Self(Some(s.0)))
    }

    fn from_nullable_sql(value: Option<DB::RawValue<'_>>) -> deserialize::Result<Self> {
        match value {
            Some(value) => Self::from_sql(value),
            None => Ok(Self(None)),
        }
    }
}

/// `YYYY-MM-DD HH:MM[:SS[.fraction]]` (or `T` between) in one pass; other
/// shapes (an offset, a Julian day) through chrono.
fn parse(text: &str) -> Option<NaiveDateTime> {
    fast(text.as_bytes()).or_else(|| slow(text))
}

fn fast(b: &[u8]) -> Option<NaiveDateTime> {
    let num = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0_u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b' ' | b'T')
        || b[13] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(&b[0..4])? as i32, num(&b[5..7])?, num(&b[8..10])?)?;
    let (hour, minute) = (num(&b[11..13])?, num(&b[14..16])?);
    let (second, nano) = match &b[16..] {
        [] => (0, 0),
        [b':', s1, s2, rest @ ..] => {
            let second = num(&[*s1, *s2])?;
            let nano = match rest {
                [] => 0,
                [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
                    num(digits)? * 10_u32.pow(9 - digits.len() as u32)
                }
                _ => return None,
            };
            (second, nano)
        }
        _ => return None,
    };
    Some(date.and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?))
}

fn slow(text: &str) -> Option<NaiveDateTime> {
    const OFFSET_FORMATS: [&str; 2] = ["%F %T%.f%:z", "%FT%T%.f%:z"];
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_utc());
    }
    for format in OFFSET_FORMATS {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, format) {
            return Some(t.naive_utc());
        }
    }
    // A Julian day number (SQLite's `julianday()`).
    let days: f64 = text.parse().ok()?;
    let micros = ((days - 2_440_587.5) * 86_400_000_000.0).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

/// Serialize as chrono's serde does (`2026-12-07T09:30:00.123456`), without
/// its character-by-character `Debug` path.
pub fn json<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(32);
    iso(t, &mut out);
    s.serialize_str(&out)
}

/// [`json`] for an optional field.
pub fn json_opt<S: serde::Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => json(t, s),
        None => s.serialize_none(),
    }
}

/// `t` as `%Y-%m-%dT%H:%M:%S%.6f` (the audit hash's form), without
/// parsing that format string at every row.
pub fn iso_micros(t: &NaiveDateTime) -> String {
    use chrono::Datelike;
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    }
    let mut out = String::with_capacity(26);
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        nano / 1_000
    );
    out
}

/// Append `t` as chrono's `Debug`/serde form.
fn iso(t: &NaiveDateTime, out: &mut String) {
    use chrono::Datelike;
    let (year, nano) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        // Signed years and leap seconds: chrono's own form.
        let _ = write!(out, "{t:?}");
        return;
    }
    let _ = write!(
        out,
        "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let _ = match nano {
        0 => Ok(()),
        n if n % 1_000_000 == 0 => write!(out, ".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => write!(out, ".{:06}", n / 1_000),
        n => write!(out, ".{n:09}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn samples() -> Vec<NaiveDateTime> {
        let mut out = Vec::new();
        for (secs, nanos) in [
            (0_i64, 0_u32),
            (1_765_000_000, 0),
            (1_765_000_000, 123_000_000),
            (1_765_000_000, 123_456_000),
            (1_765_000_000, 123_456_789),
            (1_765_000_000, 1_000),
            (1_765_000_000, 1),
            (-1_000_000_000, 500_000_000),
            (253_402_300_799, 999_999_000), // 9999-12-31T23:59:59.999999
        ] {
            out.push(
                DateTime::<Utc>::from_timestamp(secs, nanos)
                    .unwrap()
                    .naive_utc(),
            );
        }
        out.push(super::super::now());
        out
    }

    /// Forms chrono writes its own way: a signed year, a leap second, a
    /// fraction past microseconds.
    fn edges() -> Vec<NaiveDateTime> {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        vec![
            day(-44, 3, 15).and_hms_nano_opt(1, 2, 3, 999).unwrap(),
            day(2016, 12, 31)
                .and_hms_milli_opt(23, 59, 59, 1_500)
                .unwrap(),
            day(2026, 1, 2).and_hms_nano_opt(3, 4, 5, 6_789).unwrap(),
        ]
    }

    #[test]
    fn reads_what_diesel_writes_and_what_chrono_writes() {
        for t in samples() {
            // diesel's SQLite encoding, chrono's ISO form, second and minute precision.
            for text in [
                t.format("%F %T%.f").to_string(),
                t.format("%FT%T%.f").to_string(),
                format!("{t:?}"),
            ] {
                assert_eq!(parse(&text), Some(t), "{text}");
            }
            let minute = t.with_second(0).unwrap().with_nanosecond(0).unwrap();
            assert_eq!(parse(&t.format("%F %R").to_string()), Some(minute));
            assert_eq!(
                parse(&t.format("%F %T").to_string()),
                Some(t.with_nanosecond(0).unwrap())
            );
        }
        let t = samples()[3];
        assert_eq!(parse(&format!("{}+00:00", t.format("%F %T%.f"))), Some(t));
        assert_eq!(parse(&format!("{}Z", t.format("%FT%T%.f"))), Some(t));
        assert_eq!(
            parse(&format!("{}+02:00", t.format("%FT%T%.f"))),
            Some(t - chrono::TimeDelta::hours(2))
        );
        // SQLite's julianday() of 2000-01-01 12:00.
        assert_eq!(
            parse("2451545.0"),
            Some(
                DateTime::from_timestamp(946_728_000, 0)
                    .unwrap()
                    .naive_utc()
            )
        );
        for bad in [
            "",
            "2026-13-01 00:00:00",
            "2026-12-07 24:00:00",
            "2026-12-07 10:00:00.",
            "2026-12-07 10:00:00.1234567890",
            "2026-12-07x10:00",
            "yesterday",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_audit_form_is_chronos() {
        let all = samples().into_iter().chain(edges());
        for t in all {
            assert_eq!(
                iso_micros(&t),
                t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                "{t:?}"
            );
        }
    }

    #[test]
    fn loads_from_sqlite_as_diesel_would() {
        use diesel::dsl::sql;
        use diesel::prelude::*;
        let mut c = diesel::SqliteConnection::establish(":memory:").unwrap();
        let t = samples()[4];
        let text = t.format("%F %T%.f").to_string();
        let stored = format!("'{text}'");
        let ours: Stamp = diesel::select(sql::<Timestamp>(&stored))
            .get_result(&mut c)
            .unwrap();
        let theirs: NaiveDateTime = diesel::select(sql::<Timestamp>(&stored))
            .get_result(&mut c)
            .unwrap();
        assert_eq!((ours.0, theirs), (t, t));
        let some: OptStamp = diesel::select(sql::<Nullable<Timestamp>>(&stored))
            .get_result(&mut c)
            .unwrap();
        let none: OptStamp = diesel::select(sql::<Nullable<Timestamp>>("NULL"))
            .get_result(&mut c)
            .unwrap();
        assert_eq!((some.0, none.0), (Some(t), None));
        let bad = diesel::select(sql::<Timestamp>("'not a time'")).get_result::<Stamp>(&mut c);
        assert!(bad.is_err());
    }

    #[test]
    fn writes_exactly_what_chronos_serde_writes() {
        let all = samples().into_iter().chain(edges());
        for t in all {
            #[derive(serde::Serialize)]
            struct Ours(#[serde(serialize_with = "json")] NaiveDateTime);
            let ours = serde_json::to_string(&Ours(t)).unwrap();
            assert_eq!(ours, serde_json::to_string(&t).unwrap(), "{t:?}");
            #[derive(serde::Serialize)]
            struct Optional(#[serde(serialize_with = "json_opt")] Option<NaiveDateTime>);
            assert_eq!(
                serde_json::to_string(&Optional(Some(t))).unwrap(),
                serde_json::to_string(&Some(t)).unwrap()
            );
        }
        #[derive(serde::Serialize)]
        struct Optional(#[serde(serialize_with = "json_opt")] Option<NaiveDateTime>);
        assert_eq!(serde_json::to_string(&Optional(None)).unwrap(), "null");
    }
}
