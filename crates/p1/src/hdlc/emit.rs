//! Frames an APDU the way a meter sends it: addresses, control, HCS and FCS
//! around each information field, split into segments or one general-block-
//! transfer block per frame. Writes only; checking frames is `frame`'s job.

use super::{FLAG, LLC, MAX_LENGTH};
use crate::{crc, dlms};

/// Addressing and size limits of emitted frames. Addresses are the raw address
/// bytes as one number (`0x41`, `0x0883`): the last byte must have bit 0 set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameOptions {
    pub destination: u32,
    pub source: u32,
    pub control: u8,
    /// Largest information field per frame; longer ones are segmented.
    pub max_info: usize,
}

impl Default for FrameOptions {
    /// Aidon's addressing (`41 08 83`, control `13`), one frame up to the 11-bit limit.
    fn default() -> Self {
        FrameOptions {
            destination: 0x41,
            source: 0x0883,
            control: 0x13,
            max_info: MAX_LENGTH,
        }
    }
}

impl FrameOptions {
    /// Kaifa's addressing (`01 02 01`, control `10`).
    pub fn kaifa() -> Self {
        FrameOptions {
            destination: 0x01,
            source: 0x0201,
            control: 0x10,
            ..Self::default()
        }
    }

    /// Kamstrup's addressing (`2B 21`, control `13`).
    pub fn kamstrup() -> Self {
        FrameOptions {
            destination: 0x2B,
            source: 0x21,
            control: 0x13,
            ..Self::default()
        }
    }

    /// Landis+Gyr E450 addressing (`CE FF 03`, control `13`).
    pub fn landis_gyr() -> Self {
        FrameOptions {
            destination: 0xCEFF,
            source: 0x03,
            control: 0x13,
            ..Self::default()
        }
    }
}

fn address_bytes(a: u32) -> ([u8; 4], usize) {
    let b = (a | 1).to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count().min(3);
    let mut out = [0u8; 4];
    out[..4 - skip].copy_from_slice(&b[skip..]);
    (out, 4 - skip)
}

/// Appends one frame around `info` (which already holds any LLC).
pub fn emit_frame(info: &[u8], segmented: bool, opts: &FrameOptions, out: &mut Vec<u8>) {
    let (dest, dl) = address_bytes(opts.destination);
    let (src, sl) = address_bytes(opts.source);
    let header = 2 + dl + sl + 1;
    let length = header + if info.is_empty() { 0 } else { 2 + info.len() } + 2;
    let start = out.len();
    out.reserve(length + 2);
    out.push(FLAG);
    let seg = if segmented { 0x08 } else { 0 };
    out.push(0xA0 | seg | ((length >> 8) as u8 & 0x07));
    out.push(length as u8);
    out.extend_from_slice(&dest[..dl]);
    out.extend_from_slice(&src[..sl]);
    out.push(opts.control);
    if !info.is_empty() {
        let hcs = crc::x25(&out[start + 1..]);
        out.extend_from_slice(&hcs.to_le_bytes());
        out.extend_from_slice(info);
    }
    let fcs = crc::x25(&out[start + 1..]);
    out.extend_from_slice(&fcs.to_le_bytes());
    out.push(FLAG);
}

fn max_info(opts: &FrameOptions) -> usize {
    let overhead = 2 + address_bytes(opts.destination).1 + address_bytes(opts.source).1 + 1 + 2 + 2;
    opts.max_info.clamp(1, MAX_LENGTH - overhead)
}

/// Frames an APDU: LLC `E6 E7 00` then the APDU, segmented into several frames
/// when longer than `opts.max_info`. Returns the frames back to back, as a meter
/// sends them.
pub fn emit(apdu: &[u8], opts: &FrameOptions) -> Vec<u8> {
    let mut info = Vec::with_capacity(apdu.len() + 3);
    info.extend_from_slice(&LLC);
    info.extend_from_slice(apdu);
    let mut out = Vec::with_capacity(info.len() + 16);
    let chunks: Vec<&[u8]> = info.chunks(max_info(opts)).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        emit_frame(chunk, i + 1 < chunks.len(), opts, &mut out);
    }
    out
}

/// Frames an APDU as general-block-transfer blocks, one per frame, `block_size`
/// bytes of APDU each; LLC only in the first frame (as Landis+Gyr E450 does).
pub fn emit_gbt(apdu: &[u8], block_size: usize, opts: &FrameOptions) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, block) in dlms::emit_gbt(apdu, block_size).iter().enumerate() {
        let mut info = Vec::with_capacity(block.len() + 3);
        if i == 0 {
            info.extend_from_slice(&LLC);
        }
        info.extend_from_slice(block);
        emit_frame(&info, false, opts, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::HdlcFrame;
    use super::super::tests::aidon_list1;

    #[test]
    fn frame_header_matches_the_aidon_layout() {
        let bytes = aidon_list1();
        assert_eq!(&bytes[..3], &[0x7E, 0xA0, 0x2A]);
        assert_eq!(&bytes[3..7], &[0x41, 0x08, 0x83, 0x13]);
        let f = HdlcFrame::new_checked(&bytes).unwrap();
        assert_eq!(f.destination(), &[0x41]);
        assert_eq!(f.source(), &[0x08, 0x83]);
        assert_eq!(f.control(), 0x13);
        assert!(!f.segmented());
        assert_eq!(f.length(), bytes.len() - 2);
    }
}
