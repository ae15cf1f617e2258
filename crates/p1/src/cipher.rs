//! DLMS general-glo-ciphering (`DB`) with AES-128-GCM: open (decrypt, verify the
//! tag when an authentication key is set) and seal. Generic over the plaintext
//! (a DLMS APDU or an encrypted DSMR telegram); no I/O, no logging, no panics.
//!
//! Wire form: `DB 08 <system title> <BER length> <SC> <frame counter(4)> <ciphertext>
//! [<tag(12)>]`. IV = system title ‖ frame counter. Security control (SC) bits:
//! `0x10` authentication, `0x20` encryption, low nibble the suite. With
//! authentication the AAD is SC ‖ AK (and the plaintext, when only authenticated).

use super::axdr::{emit_length, read_length};
use super::{DecodeError, Keys};
use aes::Aes128;
use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use ctr::cipher::{KeyIvInit, StreamCipher};

/// The APDU tag of general-glo-ciphering.
pub const GENERAL_GLO_CIPHERING: u8 = 0xDB;
/// SC bit: the APDU carries a GCM tag.
pub const SC_AUTHENTICATION: u8 = 0x10;
/// SC bit: the information is encrypted.
pub const SC_ENCRYPTION: u8 = 0x20;
/// Length of the (truncated) GCM tag DLMS uses.
pub const TAG_LEN: usize = 12;

type Gcm = AesGcm<Aes128, U12, U12>;
type Ctr = ctr::Ctr32BE<Aes128>;

/// A general-glo-ciphering APDU, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub system_title: [u8; 8],
    pub security_control: u8,
    pub frame_counter: u32,
    /// Whether the GCM tag was checked (an authentication key was configured).
    pub authenticated: bool,
    pub plaintext: Vec<u8>,
}

/// Checked view of a general-glo-ciphering APDU (nothing decrypted yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ciphered<'a> {
    pub system_title: [u8; 8],
    pub security_control: u8,
    pub frame_counter: u32,
    /// Ciphertext (or plaintext, when SC says not encrypted), tag excluded.
    pub payload: &'a [u8],
    /// The GCM tag, when SC says authenticated.
    pub tag: Option<&'a [u8; TAG_LEN]>,
}

fn malformed(detail: impl Into<String>) -> DecodeError {
    DecodeError::malformed("general-glo-ciphering APDU", detail)
}

impl<'a> Ciphered<'a> {
    /// Checks the structure of a `DB` APDU. Bytes after the announced length are
    /// ignored (padding some meters add).
    pub fn new_checked(apdu: &'a [u8]) -> Result<Self, DecodeError> {
        if apdu.first() != Some(&GENERAL_GLO_CIPHERING) {
            return Err(malformed("does not start with DB"));
        }
        if apdu.len() < 10 || apdu[1] != 8 {
            return Err(malformed("system title is not 8 bytes"));
        }
        let system_title: [u8; 8] = apdu[2..10]
            .try_into()
            .map_err(|_| malformed("short system title"))?;
        let (len, l) = read_length(&apdu[10..])?;
        let start = 10 + l;
        let body = apdu.get(start..start.saturating_add(len)).ok_or_else(|| {
            malformed(format!(
                "announces {len} bytes, {} present",
                apdu.len() - start.min(apdu.len())
            ))
        })?;
        if body.len() < 5 {
            return Err(malformed("no security header"));
        }
        let security_control = body[0];
        let frame_counter = u32::from_be_bytes([body[1], body[2], body[3], body[4]]);
        let rest = &body[5..];
        let (payload, tag) = if security_control & SC_AUTHENTICATION != 0 {
            let cut = rest
                .len()
                .checked_sub(TAG_LEN)
                .ok_or_else(|| malformed("shorter than its tag"))?;
            let tag: &[u8; TAG_LEN] = rest[cut..].try_into().map_err(|_| malformed("bad tag"))?;
            (&rest[..cut], Some(tag))
        } else {
            (rest, None)
        };
        Ok(Ciphered {
            system_title,
            security_control,
            frame_counter,
            payload,
            tag,
        })
    }

    fn nonce(&self) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[..8].copy_from_slice(&self.system_title);
        iv[8..].copy_from_slice(&self.frame_counter.to_be_bytes());
        iv
    }
}

/// The system title as the error messages print it (uppercase hex).
pub fn title_hex(title: &[u8; 8]) -> String {
    title.iter().map(|b| format!("{b:02X}")).collect()
}

/// Whether a plaintext looks like something a meter sends: a DLMS APDU tag
/// (data-notification, event-notification, get-response, general-block-transfer)
/// or the `/` of a DSMR telegram.
pub fn plaintext_parses(plaintext: &[u8]) -> bool {
    matches!(plaintext.first(), Some(0x0F | 0xC2 | 0xC4 | 0xE0 | b'/'))
}

/// Decrypts a general-glo-ciphering APDU starting with its `DB` tag.
///
/// With an authentication key the tag is verified; without one the ciphertext is
/// decrypted alone (GCM is CTR from counter 2) and the plaintext must look like a
/// meter message. No encryption key: [`DecodeError::NoKey`].
pub fn open(apdu: &[u8], keys: &Keys) -> Result<Opened, DecodeError> {
    let c = Ciphered::new_checked(apdu)?;
    let sc = c.security_control;
    let encrypted = sc & SC_ENCRYPTION != 0;
    let mut plaintext = c.payload.to_vec();
    let mut authenticated = false;
    match keys.encryption {
        None if encrypted => {
            return Err(DecodeError::NoKey {
                system_title: title_hex(&c.system_title),
            });
        }
        None => {}
        Some(ek) => {
            let nonce = c.nonce();
            match (c.tag, keys.authentication) {
                (Some(tag), Some(ak)) => {
                    let gcm = Gcm::new(&ek.into());
                    let mut aad =
                        Vec::with_capacity(17 + if encrypted { 0 } else { plaintext.len() });
                    aad.push(sc);
                    aad.extend_from_slice(&ak);
                    let verified = if encrypted {
                        gcm.decrypt_in_place_detached(
                            &nonce.into(),
                            &aad,
                            &mut plaintext,
                            tag.into(),
                        )
                    } else {
                        aad.extend_from_slice(&plaintext);
                        gcm.decrypt_in_place_detached(&nonce.into(), &aad, &mut [], tag.into())
                    };
                    if verified.is_err() {
                        return Err(DecodeError::WrongKey(format!(
                            "authentication tag does not verify (system title {})",
                            title_hex(&c.system_title)
                        )));
                    }
                    authenticated = true;
                }
                _ if encrypted => ctr_apply(&ek, &nonce, &mut plaintext),
                _ => {}
            }
        }
    }
    if encrypted && !authenticated && !plaintext_parses(&plaintext) {
        return Err(DecodeError::WrongKey("plaintext does not parse".into()));
    }
    Ok(Opened {
        system_title: c.system_title,
        security_control: sc,
        frame_counter: c.frame_counter,
        authenticated,
        plaintext,
    })
}

/// AES-CTR as GCM runs it: J0 = IV ‖ 1, the first keystream block uses IV ‖ 2.
fn ctr_apply(key: &[u8; 16], nonce: &[u8; 12], buf: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..12].copy_from_slice(nonce);
    iv[15] = 2;
    let mut ctr = Ctr::new(key.into(), &iv.into());
    ctr.apply_keystream(buf);
}

/// Builds a general-glo-ciphering APDU around `plaintext`. `security_control`
/// decides encryption (`0x20`) and authentication (`0x10`, needs `keys.authentication`,
/// else the tag is computed with an all-zero AK). Without an encryption key the
/// plaintext is sent as is (and no tag can be made).
pub fn seal(
    system_title: [u8; 8],
    security_control: u8,
    frame_counter: u32,
    keys: &Keys,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&system_title);
    nonce[8..].copy_from_slice(&frame_counter.to_be_bytes());
    let encrypt = security_control & SC_ENCRYPTION != 0;
    let authenticate = security_control & SC_AUTHENTICATION != 0;
    let mut body = plaintext.to_vec();
    let mut tag = None;
    if let Some(ek) = keys.encryption {
        let ak = keys.authentication.unwrap_or([0; 16]);
        let mut aad = vec![security_control];
        aad.extend_from_slice(&ak);
        let gcm = Gcm::new(&ek.into());
        if authenticate && encrypt {
            tag = gcm
                .encrypt_in_place_detached(&nonce.into(), &aad, &mut body)
                .ok();
        } else if authenticate {
            aad.extend_from_slice(&body);
            tag = gcm
                .encrypt_in_place_detached(&nonce.into(), &aad, &mut [])
                .ok();
        } else if encrypt {
            ctr_apply(&ek, &nonce, &mut body);
        }
    }
    let tag_len = if authenticate { TAG_LEN } else { 0 };
    let mut out = Vec::with_capacity(body.len() + 32);
    out.extend_from_slice(&[GENERAL_GLO_CIPHERING, 8]);
    out.extend_from_slice(&system_title);
    emit_length(5 + body.len() + tag_len, &mut out);
    out.push(security_control);
    out.extend_from_slice(&frame_counter.to_be_bytes());
    out.extend_from_slice(&body);
    if authenticate {
        match tag {
            Some(t) => out.extend_from_slice(&t),
            None => out.extend_from_slice(&[0; TAG_LEN]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    const EK: [u8; 16] = [0x11; 16];
    const AK: [u8; 16] = [0x22; 16];
    const TITLE: [u8; 8] = *b"TST\x00\x01\x02\x03\x04";
    // data-notification, invoke id 1, no date-time, uint8 7
    const PLAIN: [u8; 8] = [0x0F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x11, 0x07];

    fn both() -> Keys {
        Keys::new(Some(EK), Some(AK))
    }

    #[test]
    fn opens_authenticated_and_encrypted_with_both_keys() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        assert_eq!(apdu.len(), 2 + 8 + 1 + 5 + PLAIN.len() + TAG_LEN);
        assert_ne!(&apdu[16..24], &PLAIN);
        let o = open(&apdu, &both()).unwrap();
        assert!(o.authenticated);
        assert_eq!(o.plaintext, PLAIN);
        assert_eq!(o.frame_counter, 42);
        assert_eq!(o.system_title, TITLE);
    }

    #[test]
    fn decrypts_without_authentication_key_by_ctr_alone() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        let o = open(&apdu, &Keys::new(Some(EK), None)).unwrap();
        assert!(!o.authenticated);
        assert_eq!(o.plaintext, PLAIN);
    }

    #[test]
    fn opens_encryption_only() {
        let keys = Keys::new(Some(EK), None);
        let apdu = seal(TITLE, 0x21, 7, &keys, &PLAIN);
        assert_eq!(open(&apdu, &keys).unwrap().plaintext, PLAIN);
    }

    #[test]
    fn verifies_authentication_only() {
        let apdu = seal(TITLE, 0x10, 7, &both(), &PLAIN);
        assert_eq!(open(&apdu, &both()).unwrap().plaintext, PLAIN);
        let wrong = Keys::new(Some(EK), Some([0x33; 16]));
        assert_eq!(open(&apdu, &wrong).unwrap_err().kind(), ErrorKind::Decrypt);
    }

    #[test]
    fn rejects_tag_mismatch_as_wrong_key() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        let e = open(&apdu, &Keys::new(Some(EK), Some([0; 16]))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decrypt);
        assert!(e.to_string().contains("authentication tag"), "{e}");
    }

    #[test]
    fn rejects_wrong_key_by_plaintext_check() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        let e = open(&apdu, &Keys::new(Some([0x12; 16]), None)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decrypt);
    }

    #[test]
    fn asks_for_a_key_with_the_system_title() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        match open(&apdu, &Keys::default()).unwrap_err() {
            DecodeError::NoKey { system_title } => assert_eq!(system_title, "5453540001020304"),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn rejects_truncated_apdu() {
        let apdu = seal(TITLE, 0x30, 42, &both(), &PLAIN);
        for cut in 0..apdu.len() {
            assert!(open(&apdu[..cut], &both()).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn keeps_dsmr_plaintext_generic() {
        let text = b"/LUX5 meter\r\n\r\n!0000\r\n";
        let apdu = seal(TITLE, 0x30, 1, &both(), text);
        assert_eq!(
            open(&apdu, &Keys::new(Some(EK), None)).unwrap().plaintext,
            text
        );
    }

    #[test]
    fn uses_long_form_length_for_long_plaintext() {
        let mut p = vec![0x0F];
        p.resize(300, 0);
        let apdu = seal(TITLE, 0x30, 1, &both(), &p);
        assert_eq!(apdu[10], 0x82);
        assert_eq!(open(&apdu, &both()).unwrap().plaintext, p);
    }

    proptest! {
        #[test]
        fn seal_then_open_roundtrips(body in proptest::collection::vec(any::<u8>(), 0..400), fc: u32, sc in prop_oneof![Just(0x30u8), Just(0x20), Just(0x10), Just(0x00)]) {
            let mut p = vec![0x0F];
            p.extend_from_slice(&body);
            let apdu = seal(TITLE, sc, fc, &both(), &p);
            let o = open(&apdu, &both()).unwrap();
            prop_assert_eq!(o.plaintext, p);
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let mut apdu = vec![0xDB, 0x08];
            apdu.extend_from_slice(&bytes);
            let _ = open(&apdu, &both());
            let _ = open(&apdu, &Keys::new(Some(EK), None));
        }
    }
}
