//! What the web pages and `/deviceInfo` say about the machine itself: MAC
//! address, Wi-Fi signal, whether it has Ethernet. Reads `/sys/class/net` and
//! `/proc/net/wireless` only; changes nothing.

use std::path::{Path, PathBuf};

/// Where the network facts are read from (tests point it at a fake tree).
#[derive(Clone, Debug)]
pub struct Device {
    sys_net: PathBuf,
    proc_wireless: PathBuf,
}

impl Default for Device {
    fn default() -> Self {
        Device {
            sys_net: "/sys/class/net".into(),
            proc_wireless: "/proc/net/wireless".into(),
        }
    }
}

impl Device {
    pub fn at(sys_net: impl Into<PathBuf>, proc_wireless: impl Into<PathBuf>) -> Self {
        Device {
            sys_net: sys_net.into(),
            proc_wireless: proc_wireless.into(),
        }
    }

    /// Network interfaces other than loopback, wired ones first.
    fn interfaces(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.sys_net)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo")
            .collect();
        names.sort_by_key(|n| (!is_wired(n), !n.starts_with("wl"), n.clone()));
        names
    }

    /// The MAC address of the main interface (`b8:27:eb:12:34:56`), or zeros.
    pub fn mac(&self) -> String {
        self.interfaces()
            .iter()
            .filter_map(|n| read_trimmed(&self.sys_net.join(n).join("address")))
            .find(|a| a.len() == 17 && a != "00:00:00:00:00:00")
            .unwrap_or_else(|| "00:00:00:00:00:00".into())
    }

    pub fn has_ethernet(&self) -> bool {
        self.interfaces().iter().any(|n| is_wired(n))
    }

    /// The Wi-Fi signal level in dBm, 0 without Wi-Fi.
    pub fn rssi(&self) -> i32 {
        let text = std::fs::read_to_string(&self.proc_wireless).unwrap_or_default();
        // Inter-| sta-|   Quality        |   Discarded packets ...
        //  wlan0: 0000   70.  -40.  -256        0      0 ...
        text.lines()
            .skip(2)
            .filter_map(|l| l.split_whitespace().nth(3))
            .filter_map(|v| v.trim_end_matches('.').parse::<f64>().ok())
            .map(|v| v as i32)
            .next()
            .unwrap_or(0)
    }
}

fn is_wired(name: &str) -> bool {
    name.starts_with("eth") || name.starts_with("en")
}

fn read_trimmed(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mac_of_the_wired_interface_and_the_wifi_level() {
        let dir = tempfile::tempdir().unwrap();
        for (name, mac) in [
            ("wlan0", "b8:27:eb:00:00:02"),
            ("eth0", "b8:27:eb:00:00:01"),
        ] {
            std::fs::create_dir_all(dir.path().join("net").join(name)).unwrap();
            std::fs::write(
                dir.path().join("net").join(name).join("address"),
                format!("{mac}\n"),
            )
            .unwrap();
        }
        let wireless = dir.path().join("wireless");
        std::fs::write(
            &wireless,
            "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n \
             face | status | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n \
             wlan0: 0000   70.  -61.  -256        0      0      0      0      0        0\n",
        )
        .unwrap();
        let d = Device::at(dir.path().join("net"), &wireless);
        assert_eq!(d.mac(), "b8:27:eb:00:00:01");
        assert!(d.has_ethernet());
        assert_eq!(d.rssi(), -61);
    }

    #[test]
    fn a_machine_without_network_facts_reports_zeros() {
        let d = Device::at("/nonexistent/net", "/nonexistent/wireless");
        assert_eq!(d.mac(), "00:00:00:00:00:00");
        assert_eq!(d.rssi(), 0);
        assert!(!d.has_ethernet());
    }
}
