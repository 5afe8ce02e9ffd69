//! The write audit: the increments found in the database after a test against the writes the clients were
//! told succeeded.

use std::path::Path;

use anyhow::{Context, Result};

use crate::model::WriteAudit;

/// `acknowledged`: write responses with HTTP 200.
pub fn audit_writes(db: &Path, acknowledged: u64) -> Result<WriteAudit> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {} for the write audit", db.display()))?;
    let applied = shared::db::total_value(&conn).with_context(|| format!("summing values in {}", db.display()))?;
    Ok(audit_of(acknowledged, applied))
}

/// `lost`: acknowledged but not in the database; `phantom`: applied but never acknowledged.
pub fn audit_of(acknowledged: u64, applied: i64) -> WriteAudit {
    let applied_count = u64::try_from(applied).unwrap_or(0);
    WriteAudit {
        acknowledged,
        applied,
        lost: acknowledged.saturating_sub(applied_count),
        phantom: applied_count.saturating_sub(acknowledged),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_phantom_writes_are_told_apart() {
        assert_eq!(audit_of(10, 10), WriteAudit { acknowledged: 10, applied: 10, lost: 0, phantom: 0 });
        assert_eq!(audit_of(10, 7).lost, 3);
        assert_eq!(audit_of(7, 10).phantom, 3);
    }
}
