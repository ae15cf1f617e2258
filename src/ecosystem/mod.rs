//! The languages of other devices, so that programs made for them read this
//! meter: the HomeWizard P1 meter's local API, the Shelly Pro 3EM's RPC, and a
//! raw telegram server in ser2net's place. Each is off by default
//! (`homewizard.enabled`, `shelly.enabled`, `raw.listen`). Owns no meter I/O:
//! readings come from the hub, raw frames from the reader's tap.
//!
//! Layout:
//! - [`homewizard`]: `/api` and `/api/v1/data` from a reading (pure).
//! - [`shelly`]: Gen2 RPC calls and notifications from a reading (pure); the
//!   WebSocket is `web::shelly_ws`.
//! - [`udp`]: Shelly's JSON-RPC over UDP for home batteries.
//! - [`raw`]: the raw telegram TCP server; [`dsmr`]: a reading written as a
//!   DSMR telegram, for its `dsmr` format.
//! - the HTTP routes live with the other routes, in `web::ecosystem`.

pub mod dsmr;
pub mod homewizard;
pub mod raw;
pub mod shelly;
pub mod udp;

use crate::config::{Config, RawFormat};
use crate::mdns::Service;

/// The `_hwenergy._tcp` service type of HomeWizard devices.
pub const HOMEWIZARD_SERVICE: &str = "_hwenergy._tcp.local.";
/// The `_shelly._tcp` service type of Shelly Gen2 devices.
pub const SHELLY_SERVICE: &str = "_shelly._tcp.local.";
/// p1ib's own type for the raw telegram server (there is no common one).
pub const RAW_SERVICE: &str = "_p1ib-raw._tcp.local.";

/// The device's serial in these languages: the stable device id (12 hex digits,
/// the shape of the MAC address a HomeWizard or Shelly gives).
pub fn serial() -> &'static str {
    crate::identity::device_id()
}

/// The mDNS services of the languages that are on; `web_port` is where the
/// HTTP APIs are, `raw_port` where the raw server listens.
pub fn services(
    config: &Config,
    serial: &str,
    web_port: u16,
    raw_port: Option<u16>,
) -> Vec<Service> {
    let mut out = Vec::new();
    if config.homewizard.enabled {
        let p1meter = homewizard::p1meter_name(serial);
        let (instance, host) = if config.homewizard.p1meter_hostname {
            (p1meter.clone(), Some(p1meter.to_ascii_lowercase()))
        } else {
            (config.mdns.name.clone(), None)
        };
        out.push(Service {
            ty: HOMEWIZARD_SERVICE.into(),
            instance,
            host,
            port: web_port,
            txt: vec![
                ("api_enabled".into(), "1".into()),
                ("path".into(), format!("/api/{}", homewizard::API_VERSION)),
                ("serial".into(), serial.into()),
                ("product_name".into(), homewizard::PRODUCT_NAME.into()),
                ("product_type".into(), homewizard::PRODUCT_TYPE.into()),
                ("product_version".into(), env!("CARGO_PKG_VERSION").into()),
            ],
        });
    }
    if config.shelly.enabled {
        let who = shelly::Identity::new(serial, &config.mdns.name);
        out.push(Service {
            ty: SHELLY_SERVICE.into(),
            instance: who.id.clone(),
            host: None,
            port: web_port,
            txt: vec![
                ("gen".into(), "2".into()),
                ("app".into(), shelly::APP.into()),
                ("ver".into(), env!("CARGO_PKG_VERSION").into()),
                ("id".into(), who.id),
            ],
        });
    }
    let dsmr = config.raw.dsmr_listen.map(|a| a.port());
    for (port, format, instance) in [
        (raw_port, config.raw.format, config.mdns.name.clone()),
        (dsmr, RawFormat::Dsmr, format!("{} DSMR", config.mdns.name)),
    ] {
        let Some(port) = port else { continue };
        out.push(Service {
            ty: RAW_SERVICE.into(),
            instance,
            host: None,
            port,
            txt: vec![
                ("id".into(), serial.into()),
                ("format".into(), format.as_str().into()),
            ],
        });
    }
    out
}

/// Host names the web server answers to for these languages (the Host check):
/// `p1meter-XXXXXX.local` when it is announced.
pub fn host_names(config: &Config) -> Vec<String> {
    if config.homewizard.enabled && config.homewizard.p1meter_hostname {
        let name = homewizard::p1meter_name(serial()).to_ascii_lowercase();
        vec![format!("{name}.local"), name]
    } else {
        Vec::new()
    }
}
