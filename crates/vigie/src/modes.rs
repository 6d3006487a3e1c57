//! File modes of the data directory, checked before the server opens anything in it.
//!
//! `vigie.db` holds every person's record (NIR, disability recognition) and every agent's
//! credentials; the keyrings open the sealed TOTP secrets and ledger bodies; the outbox holds
//! enrolment links; the detector's snapshot and the alerts name agents and persons. Everything
//! Vigie creates there is 0600 (directories 0700) whatever the umask; this check refuses to start
//! when the data directory, anything directly in it, the keyrings' and the outbox's contents,
//! or a key or alert file configured elsewhere can be read, written or entered by anyone but
//! the owner (any of the mode's group or other bits, as OpenSSH refuses a private key). The
//! data directory's own mode guards everything deeper (ledger segments and tiles are not listed
//! one by one: a year of a national registry's accesses is millions of tile files).
//!
//! `insecure_skip_file_mode_check` turns the refusal into a warning per path, for a deployment
//! that must share these files with another account (a backup agent in the owner's group, say)
//! and accepts that this account can read every person's record.

use std::path::{Path, PathBuf};

/// A path that someone other than its owner can reach, and its mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exposed {
    pub path: PathBuf,
    pub mode: u32,
}

impl Exposed {
    /// `… is readable by others (mode 0644)`.
    pub fn describe(&self) -> String {
        let what = if self.mode & 0o044 != 0 {
            "readable by others"
        } else if self.mode & 0o022 != 0 {
            "writable by others"
        } else {
            "open to others"
        };
        format!("{} is {what} (mode {:04o})", self.path.display(), self.mode)
    }
}

/// The paths to check: the data directory, what is directly in it, the contents of the
/// directories holding keys or links (`nested`), and the files configured outside it.
pub fn paths(data_dir: &Path, nested: &[PathBuf], elsewhere: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = vec![data_dir.to_path_buf()];
    out.extend(list(data_dir));
    for dir in nested {
        out.extend(list(dir));
    }
    for path in elsewhere {
        if !out.contains(path) {
            out.push(path.clone());
        }
    }
    out
}

fn list(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    entries.sort();
    entries
}

/// Those of `paths` that exist and that someone other than the owner can reach.
pub fn exposed(paths: &[PathBuf]) -> Vec<Exposed> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        paths
            .iter()
            .filter_map(|p| {
                let mode = std::fs::metadata(p).ok()?.permissions().mode() & 0o7777;
                (mode & 0o077 != 0).then(|| Exposed { path: p.clone(), mode })
            })
            .collect()
    }
    #[cfg(not(unix))]
    {
        let _ = paths;
        Vec::new()
    }
}

/// Refuses (one line: the first path, its mode, how many more, and the fix) unless `insecure`,
/// in which case each exposed path is logged as a warning.
pub fn check(data_dir: &Path, paths: &[PathBuf], insecure: bool) -> anyhow::Result<()> {
    let found = exposed(paths);
    let Some(first) = found.first() else { return Ok(()) };
    if insecure {
        for e in &found {
            tracing::warn!("{} (insecure_skip_file_mode_check is set)", e.describe());
        }
        return Ok(());
    }
    let more = match found.len() - 1 {
        0 => String::new(),
        1 => " and 1 more path".to_owned(),
        n => format!(" and {n} more paths"),
    };
    anyhow::bail!(
        "{}{more}: the data directory holds every person's record and every agent's credentials; run `chmod -R \
         go-rwx {}` (or set insecure_skip_file_mode_check = true to start anyway)",
        first.describe(),
        data_dir.display()
    )
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_path_others_can_reach_is_named_with_its_mode() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        chmod(&data, 0o700);
        let keys = data.join("ledger-keys");
        std::fs::create_dir(&keys).unwrap();
        chmod(&keys, 0o700);
        for (p, mode) in [(data.join("vigie.db"), 0o600), (keys.join("2026-01.key"), 0o600)] {
            std::fs::write(&p, b"x").unwrap();
            chmod(&p, mode);
        }
        let outside = root.path().join("secrets.key");
        std::fs::write(&outside, b"x").unwrap();
        chmod(&outside, 0o600);
        let all = paths(&data, std::slice::from_ref(&keys), std::slice::from_ref(&outside));
        assert_eq!(all.len(), 5, "{all:?}");
        check(&data, &all, false).unwrap();

        // (path, mode) → the first words of the refusal
        for (path, mode, says) in [
            (data.clone(), 0o755, "readable by others (mode 0755)"),
            (data.join("vigie.db"), 0o644, "readable by others (mode 0644)"),
            (data.join("vigie.db"), 0o640, "readable by others (mode 0640)"),
            (data.join("vigie.db"), 0o620, "writable by others (mode 0620)"),
            (data.join("vigie.db"), 0o601, "open to others (mode 0601)"),
            (keys.join("2026-01.key"), 0o604, "readable by others (mode 0604)"),
            (outside.clone(), 0o644, "readable by others (mode 0644)"),
        ] {
            let before = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            chmod(&path, mode);
            let e = check(&data, &all, false).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{} is {says}", path.display())), "{e}");
            assert!(e.contains("chmod -R go-rwx") && e.contains("insecure_skip_file_mode_check"), "{e}");
            assert!(!e.contains('\n'), "{e}");
            check(&data, &all, true).unwrap();
            chmod(&path, before);
        }
        chmod(&data.join("vigie.db"), 0o644);
        chmod(&outside, 0o644);
        let e = check(&data, &all, false).unwrap_err().to_string();
        assert!(e.contains("and 1 more path:"), "{e}");
    }
}
