//! Serial devices: the Pi UART behind the p1ib HAT, a USB cable, any tty.
//! Opens the device with one line setting; choosing between settings (baud
//! "auto") is the reader's job in `source::run`, by whether frames check out.

use super::Link;
use crate::config::{Framing, Parity};
use std::io;
use std::path::Path;
use tokio_serial::{DataBits, SerialPortBuilderExt, StopBits};

/// Opens `path` with `framing`. The port is opened exclusively, so a second
/// reader (another daemon, a forgotten `cat`) fails loudly instead of stealing bytes.
pub fn open(path: &Path, framing: Framing) -> io::Result<Link> {
    let name = path.to_string_lossy();
    let builder = tokio_serial::new(name.as_ref(), framing.baud)
        .data_bits(if framing.data_bits == 7 {
            DataBits::Seven
        } else {
            DataBits::Eight
        })
        .parity(match framing.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if framing.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .flow_control(tokio_serial::FlowControl::None);
    let port = builder.open_native_async().map_err(io::Error::from)?;
    Ok(Link {
        reader: Box::new(port),
        detail: Some(framing.to_string()),
        seven_bit: framing.data_bits == 7,
        finite: false,
        idle: None,
    })
}
