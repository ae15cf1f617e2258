//! The two checksums of the P1 world, table-driven through the `crc` crate:
//! CRC-16/ARC for ASCII telegrams and CRC-16/X.25 (IBM-SDLC) for HDLC HCS/FCS.

use crc::{CRC_16_ARC, CRC_16_IBM_SDLC, Crc, Table};

// Slice-by-16 tables: a Swedish telegram is ~700 bytes, checked at every decode.
static ARC: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_ARC);
static X25: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_IBM_SDLC);

/// CRC-16/ARC (poly 0x8005 reflected, init 0), as DSMR 4+ puts after `!`.
pub fn arc(bytes: &[u8]) -> u16 {
    ARC.checksum(bytes)
}

/// CRC-16/X.25 (IBM-SDLC), as HDLC HCS and FCS use; sent little-endian.
pub fn x25(bytes: &[u8]) -> u16 {
    X25.checksum(bytes)
}

/// Whether checksums are enforced. Under `cfg(fuzzing)` they are not, so that a
/// fuzzer reaches the parsers behind them instead of stopping at every checksum.
pub const fn enforced() -> bool {
    !cfg!(fuzzing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_of_the_catalogue() {
        // The "check" value of each algorithm: its CRC over "123456789".
        assert_eq!(arc(b"123456789"), 0xBB3D);
        assert_eq!(x25(b"123456789"), 0x906E);
    }
}
