//! Whether apt keeps this p1ib current: the package's deb822 sources entry for the p1ib apt
//! repository is there and enabled. Then apt alone updates `/usr/bin/p1ib` and the firmware
//! page only lists releases, so two update channels never fight over one binary. Reads one
//! small file; writes nothing.

use std::path::Path;

/// The sources entry the p1ib package ships (a conffile; the README's is the same file).
pub const SOURCES_FILE: &str = "/etc/apt/sources.list.d/p1ib.sources";

/// How p1ib is updated on such a system; the firmware page says so.
pub const UPDATE_COMMAND: &str = "sudo apt update && sudo apt upgrade";

/// True if the deb822 text has a stanza for binary packages (`Types:` with `deb`) that is not
/// switched off with `Enabled: no`. Comments and unknown fields are ignored.
pub fn enabled_in(sources: &str) -> bool {
    sources.split("\n\n").any(|stanza| {
        let mut deb = false;
        let mut enabled = true;
        for line in stanza.lines().map(str::trim) {
            if line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "types" => deb = value.split_whitespace().any(|t| t == "deb"),
                "enabled" => enabled = !matches!(value, "no" | "false" | "0"),
                _ => {}
            }
        }
        deb && enabled
    })
}

/// True if `sources` (normally [`SOURCES_FILE`]) exists and enables the repository.
pub fn from_repository(sources: &Path) -> bool {
    std::fs::read_to_string(sources).is_ok_and(|text| enabled_in(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGED: &str = include_str!("../../debian/p1ib.sources");

    #[test]
    fn the_packaged_sources_entry_means_apt_updates_p1ib() {
        assert!(enabled_in(PACKAGED));
    }

    #[test]
    fn a_disabled_or_missing_entry_leaves_updates_to_p1ib() {
        let off = PACKAGED.replace("Types: deb", "Enabled: no\nTypes: deb");
        assert!(!enabled_in(&off));
        assert!(!enabled_in("# Types: deb\n"));
        assert!(!enabled_in("Types: deb-src\nURIs: http://127.0.0.1/\n"));
        assert!(!from_repository(Path::new("/nonexistent/p1ib.sources")));
    }

    #[test]
    fn one_enabled_stanza_is_enough() {
        let text = format!("Types: deb\nEnabled: no\nURIs: http://127.0.0.1/\n\n{PACKAGED}");
        assert!(enabled_in(&text));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p1ib.sources");
        std::fs::write(&file, text).unwrap();
        assert!(from_repository(&file));
    }
}
