//! Stepping a prepared statement directly on a pooled connection's SQLite handle, for
//! reads that stream millions of rows (the export). sqlx hands each row from its
//! worker thread to the caller, a thread hand-off per row; here the caller's thread
//! steps the statement and reads columns in place, borrowing SQLite's own buffers.
//!
//! The invariants it relies on:
//! - the handle comes from a [`LockedSqliteHandle`], which keeps sqlx's worker off the
//!   connection for as long as a [`RawConnection`] (and so its statements) borrows it;
//! - the connection and statements are neither `Send` nor `Sync`: one thread uses them;
//! - a column's bytes are valid until the next step or reset, which take `&mut self`
//!   while the slices borrow `&self`, so the borrow checker enforces it.

use std::ffi::{c_int, CStr};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

use super::StoreError;

/// Runs `f`, which blocks, off the runtime's other tasks when the runtime allows it.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// A locked connection, on which statements are prepared.
pub struct RawConnection<'h> {
    db: NonNull<ffi::sqlite3>,
    _handle: PhantomData<&'h mut ()>,
}

impl<'h> RawConnection<'h> {
    /// The connection behind `handle`, for as long as it stays locked.
    pub fn new(handle: &'h mut LockedSqliteHandle<'_>) -> RawConnection<'h> {
        RawConnection {
            db: handle.as_raw_handle(),
            _handle: PhantomData,
        }
    }

    /// Reads the integer pragma `name`, after setting it to `value` when given.
    pub fn pragma(&self, name: &str, value: Option<i64>) -> Result<i64, StoreError> {
        if let Some(value) = value {
            self.prepare(&format!("PRAGMA {name} = {value}"))?.step()?;
        }
        let mut read = self.prepare(&format!("PRAGMA {name}"))?;
        if !read.step()? {
            return Err(StoreError::Corrupt(format!(
                "PRAGMA {name} returned nothing"
            )));
        }
        Ok(read.i64(0))
    }

    /// Prepares `sql` (one statement).
    pub fn prepare(&self, sql: &str) -> Result<RawStatement<'_>, StoreError> {
        let db = self.db;
        let mut stmt = ptr::null_mut();
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Corrupt("statement too long".into()))?;
        // SAFETY: `db` is an open connection that nobody else uses while `handle` is
        // borrowed; `sql` is valid for `len` bytes.
        let rc = unsafe {
            ffi::sqlite3_prepare_v2(
                db.as_ptr(),
                sql.as_ptr().cast(),
                len,
                &mut stmt,
                ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(db, rc, sql));
        }
        let stmt = NonNull::new(stmt)
            .ok_or_else(|| StoreError::Corrupt(format!("no statement in {sql:?}")))?;
        Ok(RawStatement {
            db,
            stmt,
            _connection: PhantomData,
        })
    }
}

/// A prepared statement on a [`RawConnection`]. Several may be stepped in turn.
pub struct RawStatement<'c> {
    db: NonNull<ffi::sqlite3>,
    stmt: NonNull<ffi::sqlite3_stmt>,
    _connection: PhantomData<&'c ()>,
}

impl RawStatement<'_> {
    /// Binds an integer to parameter `index` (1-based).
    pub fn bind_i64(&mut self, index: c_int, value: i64) -> Result<(), StoreError> {
        // SAFETY: the statement is live and not being stepped by anyone else.
        let rc = unsafe { ffi::sqlite3_bind_int64(self.stmt.as_ptr(), index, value) };
        self.check(rc)
    }

    /// Binds text to parameter `index` (1-based); SQLite copies it.
    pub fn bind_text(&mut self, index: c_int, value: &str) -> Result<(), StoreError> {
        self.bind_bytes(index, value.as_bytes(), true)
    }

    /// Binds a blob to parameter `index` (1-based); SQLite copies it.
    pub fn bind_blob(&mut self, index: c_int, value: &[u8]) -> Result<(), StoreError> {
        self.bind_bytes(index, value, false)
    }

    fn bind_bytes(&mut self, index: c_int, value: &[u8], text: bool) -> Result<(), StoreError> {
        let len = c_int::try_from(value.len())
            .map_err(|_| StoreError::Corrupt("bound value too long".into()))?;
        let (stmt, data) = (self.stmt.as_ptr(), value.as_ptr());
        // SAFETY: `value` is valid for `len` bytes and SQLITE_TRANSIENT makes SQLite
        // copy it before returning.
        let rc = unsafe {
            if text {
                ffi::sqlite3_bind_text(stmt, index, data.cast(), len, ffi::SQLITE_TRANSIENT())
            } else {
                ffi::sqlite3_bind_blob(stmt, index, data.cast(), len, ffi::SQLITE_TRANSIENT())
            }
        };
        self.check(rc)
    }

    /// Steps to the next row: `true` when there is one to read.
    pub fn step(&mut self) -> Result<bool, StoreError> {
        // SAFETY: the statement is live; column slices borrowed from `&self` cannot
        // outlive this `&mut self` call.
        match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => Err(error(self.db, rc, "stepping a statement")),
        }
    }

    /// Resets the statement so it can be stepped again (bindings are kept).
    pub fn reset(&mut self) {
        // SAFETY: the statement is live. An error here repeats the last step's, which
        // was already reported.
        unsafe { ffi::sqlite3_reset(self.stmt.as_ptr()) };
    }

    /// Whether column `i` of the current row is NULL.
    pub fn is_null(&self, i: c_int) -> bool {
        // SAFETY: the statement is on a row (callers read columns only after `step`
        // returned `true`); an out-of-range index yields NULL.
        unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), i) == ffi::SQLITE_NULL }
    }

    /// Column `i` as an integer (0 when NULL).
    pub fn i64(&self, i: c_int) -> i64 {
        // SAFETY: as for `is_null`.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), i) }
    }

    /// Column `i` as an integer, `None` when NULL.
    pub fn opt_i64(&self, i: c_int) -> Option<i64> {
        (!self.is_null(i)).then(|| self.i64(i))
    }

    /// Column `i` as bytes, `None` when NULL. Valid until the next step or reset.
    pub fn bytes(&self, i: c_int) -> Option<&[u8]> {
        if self.is_null(i) {
            return None;
        }
        // SAFETY: `sqlite3_column_blob` returns a buffer of `sqlite3_column_bytes`
        // bytes (called after it, as SQLite requires) that stays valid until the
        // statement is stepped, reset or finalized, all of which need `&mut self`.
        unsafe {
            let data = ffi::sqlite3_column_blob(self.stmt.as_ptr(), i);
            let len = ffi::sqlite3_column_bytes(self.stmt.as_ptr(), i);
            if data.is_null() || len <= 0 {
                return Some(&[]);
            }
            Some(std::slice::from_raw_parts(data.cast(), len as usize))
        }
    }

    /// Column `i` as UTF-8 text, `None` when NULL; text that is not UTF-8 is an error
    /// naming `what`.
    pub fn text(&self, i: c_int, what: &str) -> Result<Option<&str>, StoreError> {
        match self.bytes(i) {
            None => Ok(None),
            // simdutf8 checks long texts several times faster; std names the error.
            Some(bytes) => match simdutf8::basic::from_utf8(bytes) {
                Ok(text) => Ok(Some(text)),
                Err(_) => std::str::from_utf8(bytes)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("{what} is not UTF-8: {e}"))),
            },
        }
    }

    fn check(&self, rc: c_int) -> Result<(), StoreError> {
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(error(self.db, rc, "binding a parameter"))
        }
    }
}

impl Drop for RawStatement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement is live and dropped once.
        unsafe { ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The connection's error message for `rc`, with what was being done.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int, doing: &str) -> StoreError {
    // SAFETY: `db` is open; `sqlite3_errmsg` returns a NUL-terminated string owned by
    // the connection, copied here before anything else runs on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(db.as_ptr());
        if text.is_null() {
            String::new()
        } else {
            CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    };
    StoreError::Sqlite(format!("{message} (code {rc}) {doing}"))
}
