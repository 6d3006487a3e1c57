//! Finding the Chromium executable, and the rule for browser tests when it is missing: they fail,
//! naming the package to install, unless `VIGIE_SKIP_BROWSER_TESTS=1` says to skip them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Environment variable naming the Chromium (or Chrome) executable to use instead of the default.
pub const CHROME_ENV: &str = "CHROME";
/// Where Debian's `chromium` package installs its launcher.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Set to `1` to skip browser tests on a machine without Chromium.
pub const SKIP_ENV: &str = "VIGIE_SKIP_BROWSER_TESTS";

/// The Chromium executable to launch: `$CHROME` if set, else `/usr/bin/chromium`. The error says
/// what to install.
pub fn chromium_available() -> Result<PathBuf, String> {
    locate(std::env::var_os(CHROME_ENV))
}

/// For a browser test's first line: `Ok(true)` to run, `Ok(false)` to skip (only when
/// `VIGIE_SKIP_BROWSER_TESTS=1`; it prints why), and an error naming the missing package otherwise,
/// so a machine without Chromium fails the test instead of passing it silently.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// if !vigie_browser::browser_tests_enabled()? {
///     return Ok(());
/// }
/// # Ok(()) }
/// ```
pub fn browser_tests_enabled() -> Result<bool, String> {
    let found = chromium_available();
    if std::env::var_os(SKIP_ENV).is_some_and(|v| v == "1") {
        let status = match &found {
            Ok(path) => format!("chromium is at {}", path.display()),
            Err(e) => e.clone(),
        };
        eprintln!("skipping browser test because {SKIP_ENV}=1 ({status})");
        return Ok(false);
    }
    found.map(|_| true).map_err(|e| format!("{e}; or set {SKIP_ENV}=1 to skip browser tests"))
}

fn locate(chrome_env: Option<OsString>) -> Result<PathBuf, String> {
    match chrome_env.filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            if is_file(&path) {
                Ok(path)
            } else {
                Err(format!(
                    "{CHROME_ENV}={} is not an executable file; unset it to use Debian's package \
                     (apt-get install -y chromium, installs {DEFAULT_CHROMIUM})",
                    path.display()
                ))
            }
        }
        None if is_file(Path::new(DEFAULT_CHROMIUM)) => Ok(PathBuf::from(DEFAULT_CHROMIUM)),
        None => Err(format!(
            "Chromium not found at {DEFAULT_CHROMIUM}: install Debian's package with `apt-get install -y chromium`, \
             or set {CHROME_ENV} to a Chromium/Chrome executable"
        )),
    }
}

fn is_file(path: &Path) -> bool {
    path.metadata().is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_override_names_the_package() {
        let e = locate(Some("/nonexistent/chrome".into())).unwrap_err();
        assert!(e.contains("CHROME=/nonexistent/chrome"), "{e}");
        assert!(e.contains("apt-get install -y chromium"), "{e}");
    }

    #[test]
    fn an_existing_override_wins() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(locate(Some(file.path().into())).unwrap(), file.path());
    }

    #[test]
    fn an_empty_override_means_the_default() {
        let found = locate(Some(OsString::new()));
        match found {
            Ok(path) => assert_eq!(path, Path::new(DEFAULT_CHROMIUM)),
            Err(e) => assert!(e.contains("apt-get install -y chromium"), "{e}"),
        }
    }
}
