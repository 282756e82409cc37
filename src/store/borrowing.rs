//! Statements whose text and blob parameters SQLite reads where they are, for the inserts the
//! store runs for every new item (its row, classifications, fingerprint and source).
//!
//! rusqlite binds every text and blob as `SQLITE_TRANSIENT`: SQLite allocates a copy of each
//! value before the statement runs, and the insert then copies it again into the record it
//! writes. A new item's text, HTML, summary, evidence and fingerprint are ~5 KB, so the first
//! copy and its allocation were 3.3 % of the store writer's CPU samples in the benchmark farm's
//! cold poll. rusqlite has no way to bind a value as `SQLITE_STATIC` (its raw statement
//! pointer is private), so these few statements are prepared and run over SQLite's C API
//! here, on the connection rusqlite opened. A value is bound only for one `execute`, which
//! clears the bindings before it returns, so SQLite never holds a pointer past the borrow.

use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

use rusqlite::{Connection, ffi};

/// A parameter value, borrowed for one `execute`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(text)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(text: &'a String) -> Self {
        Value::Text(text)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(blob: &'a [u8]) -> Self {
        Value::Blob(blob)
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(text: &'a Option<String>) -> Self {
        text.as_deref().map_or(Value::Null, Value::Text)
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Integer(n)
    }
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Integer(i64::from(b))
    }
}

impl From<f64> for Value<'_> {
    fn from(x: f64) -> Self {
        Value::Real(x)
    }
}

/// A prepared statement that writes rows and returns none (an insert, update or upsert).
/// Finalized when dropped; it cannot outlive its connection.
pub(super) struct Borrowing<'c> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: *mut ffi::sqlite3,
    parameters: usize,
    _conn: PhantomData<&'c Connection>,
}

impl<'c> Borrowing<'c> {
    /// Prepares `sql` (one statement) on `conn`. Kept prepared across schema changes: SQLite
    /// prepares it again by itself when it must (`sqlite3_prepare_v3`).
    pub(super) fn prepare(conn: &'c Connection, sql: &str) -> rusqlite::Result<Borrowing<'c>> {
        // SAFETY: the handle is rusqlite's open connection, which `'c` keeps open while this
        // statement lives; the statement is used on this thread only (the raw pointers make
        // `Borrowing` neither Send nor Sync).
        let db = unsafe { conn.handle() };
        let mut stmt = std::ptr::null_mut();
        let mut tail = std::ptr::null();
        let len = c_int::try_from(sql.len()).map_err(|_| {
            rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_TOOBIG),
                Some("statement text too long".to_string()),
            )
        })?;
        // SAFETY: `sql` is valid for `len` bytes; SQLite writes the statement and the tail.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                db,
                sql.as_ptr().cast(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT as _,
                &mut stmt,
                &mut tail,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error_of(db, rc, sql));
        }
        let Some(stmt) = NonNull::new(stmt) else {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_MISUSE),
                Some(format!("no statement in {sql:?}")),
            ));
        };
        // SAFETY: `stmt` was just prepared on `db`.
        let parameters = unsafe { ffi::sqlite3_bind_parameter_count(stmt.as_ptr()) } as usize;
        Ok(Borrowing {
            stmt,
            db,
            parameters,
            _conn: PhantomData,
        })
    }

    /// Runs the statement once with `values` as its parameters ?1, ?2, ... (all of them).
    pub(super) fn execute(&mut self, values: &[Value<'_>]) -> rusqlite::Result<()> {
        if values.len() != self.parameters {
            return Err(rusqlite::Error::InvalidParameterCount(
                values.len(),
                self.parameters,
            ));
        }
        let stmt = self.stmt.as_ptr();
        let mut result = Ok(());
        for (i, value) in values.iter().enumerate() {
            let index = i as c_int + 1;
            // SAFETY: the pointers bound as SQLITE_STATIC are valid for this whole call (the
            // values borrow them), and the bindings are cleared before it returns.
            let rc = unsafe {
                match *value {
                    Value::Null => ffi::sqlite3_bind_null(stmt, index),
                    Value::Integer(n) => ffi::sqlite3_bind_int64(stmt, index, n),
                    Value::Real(x) => ffi::sqlite3_bind_double(stmt, index, x),
                    Value::Text(text) => ffi::sqlite3_bind_text64(
                        stmt,
                        index,
                        text.as_ptr().cast(),
                        text.len() as ffi::sqlite3_uint64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as _,
                    ),
                    Value::Blob(blob) => ffi::sqlite3_bind_blob64(
                        stmt,
                        index,
                        blob.as_ptr().cast(),
                        blob.len() as ffi::sqlite3_uint64,
                        ffi::SQLITE_STATIC(),
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                result = Err(error_of(self.db, rc, self.sql()));
                break;
            }
        }
        if result.is_ok() {
            // SAFETY: a prepared statement with every parameter bound.
            let rc = unsafe { ffi::sqlite3_step(stmt) };
            result = match rc {
                ffi::SQLITE_DONE => Ok(()),
                ffi::SQLITE_ROW => Err(rusqlite::Error::ExecuteReturnedResults),
                rc => Err(error_of(self.db, rc, self.sql())),
            };
        }
        // SAFETY: reset and clear a statement of ours; reset's code repeats the step's error,
        // already taken.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }

    /// The statement's SQL text, for error messages.
    fn sql(&self) -> &str {
        // SAFETY: SQLite keeps the text while the statement lives.
        unsafe {
            let text = ffi::sqlite3_sql(self.stmt.as_ptr());
            if text.is_null() {
                ""
            } else {
                CStr::from_ptr(text).to_str().unwrap_or("")
            }
        }
    }
}

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is ours and finalized once; the connection is still open.
        unsafe {
            ffi::sqlite3_finalize(self.stmt.as_ptr());
        }
    }
}

/// The error SQLite reported for `rc`, as rusqlite gives it: the extended code (which
/// constraint failed) and the message, with the statement's text.
fn error_of(db: *mut ffi::sqlite3, rc: c_int, sql: &str) -> rusqlite::Error {
    // SAFETY: `db` is an open connection; the message is copied before any other call.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db);
        let message = ffi::sqlite3_errmsg(db);
        let message = if message.is_null() {
            String::new()
        } else {
            CStr::from_ptr(message).to_string_lossy().into_owned()
        };
        (if code == ffi::SQLITE_OK { rc } else { code }, message)
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(format!("{message} (in {sql})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, note TEXT)",
        )
        .unwrap();
        conn
    }

    type Row = (i64, String, f64, Vec<u8>, Option<String>);

    #[test]
    fn every_kind_of_value_is_stored_as_bound_and_the_statement_runs_again() {
        let conn = table();
        let mut insert = Borrowing::prepare(
            &conn,
            "INSERT INTO t (id, name, score, data, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .unwrap();
        for id in 1..=3_i64 {
            // Values that are freed as soon as `execute` returns.
            let name = format!("item {id} ünïcode");
            let data = vec![id as u8; 100 * id as usize];
            let note: Option<String> = (id != 2).then(|| "x".repeat(5000));
            insert
                .execute(&[
                    id.into(),
                    (&name).into(),
                    (id as f64 / 2.0).into(),
                    data.as_slice().into(),
                    (&note).into(),
                ])
                .unwrap();
        }
        let rows: Vec<Row> = conn
            .prepare("SELECT id, name, score, data, note FROM t ORDER BY id")
            .unwrap()
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].0, 2);
        assert_eq!(rows[1].1, "item 2 ünïcode");
        assert_eq!(rows[1].2, 1.0);
        assert_eq!(rows[1].3, vec![2u8; 200]);
        assert_eq!(rows[1].4, None);
        assert_eq!(rows[2].4.as_deref(), Some("x".repeat(5000).as_str()));
    }

    #[test]
    fn a_failed_insert_names_its_constraint_and_leaves_the_statement_usable() {
        let conn = table();
        let mut insert =
            Borrowing::prepare(&conn, "INSERT INTO t (id, name) VALUES (?1, ?2)").unwrap();
        insert.execute(&[1_i64.into(), "a".into()]).unwrap();
        match insert.execute(&[1_i64.into(), "b".into()]) {
            Err(rusqlite::Error::SqliteFailure(e, Some(message))) => {
                assert_eq!(e.extended_code, ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
                assert!(message.contains("INSERT INTO t"), "{message}");
            }
            other => panic!("expected a primary key failure, got {other:?}"),
        }
        assert!(matches!(
            insert.execute(&[2_i64.into()]),
            Err(rusqlite::Error::InvalidParameterCount(1, 2))
        ));
        insert.execute(&[2_i64.into(), "c".into()]).unwrap();
        let names: String = conn
            .query_row(
                "SELECT group_concat(name, ',') FROM t ORDER BY id",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(names, "a,c");
    }

    #[test]
    fn a_statement_kept_across_a_schema_change_is_prepared_again() {
        let conn = table();
        let mut insert =
            Borrowing::prepare(&conn, "INSERT INTO t (id, name) VALUES (?1, ?2)").unwrap();
        insert.execute(&[1_i64.into(), "a".into()]).unwrap();
        conn.execute_batch("CREATE INDEX t_name ON t (name)")
            .unwrap();
        insert.execute(&[2_i64.into(), "b".into()]).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM t INDEXED BY t_name WHERE name >= 'a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 2);
    }

    #[test]
    fn a_bad_statement_is_an_error_naming_it() {
        let conn = table();
        let Err(rusqlite::Error::SqliteFailure(_, Some(message))) =
            Borrowing::prepare(&conn, "INSERT INTO nowhere VALUES (?1)")
        else {
            panic!("expected an error");
        };
        assert!(message.contains("nowhere"), "{message}");
    }
}
