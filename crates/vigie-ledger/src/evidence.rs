//! The bytes of a torn tail, kept aside before they are cut: a file in the ledger directory,
//! `torn-<UTC time>-entries-<first>-<last>.bin` (mode 0600, created new, never overwritten),
//! holding exactly the bytes removed from the end of the last segment. The walk ignores it (it
//! is not a segment name); an investigator reads it with the records' layout (`format`).
//!
//! What a start can say about those bytes is limited, and the report says only that: they come
//! after the last published checkpoint, so no checkpoint and no witness directory covers them;
//! they hold at most as many entries as records of the smallest size fit before their last
//! byte that is not zero (no record is all zeros: its length is not). Whether any of them was
//! acknowledged before the crash, or removed by someone with access to the disk, the disk
//! cannot tell.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::format::{ENVELOPE_HEADER_LEN, RECORD_OVERHEAD};

/// The smallest record: its length and check, and an envelope with an empty body.
const MIN_RECORD: u64 = RECORD_OVERHEAD + ENVELOPE_HEADER_LEN as u64;

/// How many entries `tail` can hold at most, the first record starting at its first byte.
pub(crate) fn max_entries(tail: &[u8]) -> u64 {
    match tail.iter().rposition(|&b| b != 0) {
        Some(last) => last as u64 / MIN_RECORD + 1,
        None => 0,
    }
}

/// Writes `tail` to a new file in `dir` named after the time and the entries it may hold, and
/// syncs it and the directory. Returns its path.
pub(crate) fn keep(dir: &Path, tail: &[u8], first_index: u64, entries: u64) -> io::Result<PathBuf> {
    let last = first_index + entries.saturating_sub(1);
    let stem = format!("torn-{}-entries-{first_index}-{last}", utc_stamp(SystemTime::now()));
    for n in 0..1000 {
        let name = if n == 0 { format!("{stem}.bin") } else { format!("{stem}-{n}.bin") };
        let path = dir.join(name);
        let mut file = match crate::private::file().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        file.write_all(tail)?;
        file.sync_all()?;
        crate::recover::sync_dir(dir)?;
        return Ok(path);
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{stem}.bin and 999 others exist")))
}

/// `YYYYMMDDTHHMMSSZ`.
fn utc_stamp(at: SystemTime) -> String {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_counts_records_of_the_smallest_size_before_the_last_byte_that_is_not_zero() {
        assert_eq!(max_entries(&[]), 0);
        assert_eq!(max_entries(&[0; 100]), 0);
        assert_eq!(max_entries(&[1]), 1);
        let mut tail = vec![0u8; 1000];
        tail[17] = 1;
        assert_eq!(max_entries(&tail), 1, "one smallest record fits before byte 18");
        tail[18] = 1;
        assert_eq!(max_entries(&tail), 2, "a second one may start at byte 18");
        tail[18 * 10 + 3] = 9;
        assert_eq!(max_entries(&tail), 11);
    }

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_767_323_045); // 2026-01-02 03:04:05 UTC
        assert_eq!(utc_stamp(t), "20260102T030405Z");
        let leap = UNIX_EPOCH + std::time::Duration::from_secs(1_709_208_000); // 2024-02-29 12:00:00
        assert_eq!(utc_stamp(leap), "20240229T120000Z");
    }

    #[test]
    fn kept_bytes_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let a = keep(dir.path(), b"first", 5, 2).unwrap();
        let b = keep(dir.path(), b"second", 5, 2).unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"first");
        assert_eq!(std::fs::read(&b).unwrap(), b"second");
        let name = a.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("torn-") && name.ends_with("-entries-5-6.bin"), "{name}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
