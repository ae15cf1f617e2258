//! The device's identity: a stable, non-secret id (12 hex digits of sha256 over
//! `/etc/machine-id`, which itself should not be published, or over the host
//! name), read once per process. mDNS (TXT `id`), MQTT (the Home Assistant
//! device id) and `/deviceInfo` all name the device by it.

use std::sync::OnceLock;

/// The device id: 12 lower-case hex digits, the same for the life of the process.
pub fn device_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let seed = std::fs::read_to_string("/etc/machine-id")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_else(|_| "p1ib".into());
        of_seed(seed.trim())
    })
}

fn of_seed(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("p1ib:{seed}").as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_twelve_hex_digits_and_stable() {
        let id = device_id();
        assert_eq!(id.len(), 12);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(id, device_id());
        assert_eq!(of_seed("x"), of_seed("x"));
        assert_ne!(of_seed("x"), of_seed("y"));
    }
}
