//! The admin password's hash: argon2id, one computation's memory sized for the
//! smallest supported Pi and given back to the system as soon as it is done.
//! Pure computation; the caller runs it off the async threads, one at a time.
//!
//! Parameters: m = 12 MiB, t = 3, p = 1, the second of OWASP's equally strong
//! argon2id settings (the first, 19 MiB and t = 2, is the argon2 crate's default).
//! The smallest supported board is the Pi Zero 2 W, with 512 MB shared with the
//! GPU: 12 MiB is a small, fixed part of it, and three passes over 12 MiB take
//! about as long there as two over 19 MiB. Hashes made with other parameters
//! (older p1ib versions used 19 MiB) verify with their own, up to
//! [`MAX_MEMORY_KIB`].

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Memory of one hash, in KiB.
pub const MEMORY_KIB: u32 = 12 * 1024;
const PASSES: u32 = 3;
/// The most memory a stored hash may ask for when it is verified.
pub const MAX_MEMORY_KIB: u32 = 64 * 1024;
/// Bytes of the block memory's allocation, at least. Above glibc's largest
/// dynamic mmap threshold (32 MiB on 64-bit systems, 16 MiB on 32-bit ones), so
/// that the block memory is always a mapping of its own that `free` unmaps: the
/// memory goes back to the system after each hash instead of staying in one of
/// the allocator's per-thread arenas (which kept ~19 MiB per blocking thread
/// before). Only the blocks in use are ever touched, so only those are resident.
const OWN_MAPPING_BYTES: usize = 33 * 1024 * 1024;

/// A password's length in characters (what a person counts), for setting one and
/// for logging in alike, so that every password that can be set can be used.
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 256;

/// A password's length in characters is what the limits count, for setting and
/// for logging in alike.
pub fn acceptable(password: &str) -> bool {
    let n = password.chars().count();
    (MIN_PASSWORD..=MAX_PASSWORD).contains(&n)
}

/// An argon2id PHC string of `password` with a fresh 16-byte salt.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| argon2::password_hash::Error::Crypto)?;
    let params = Params::new(MEMORY_KIB, PASSES, 1, Some(32))?;
    let mut out = [0u8; 32];
    compute(
        password,
        &salt,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        &mut out,
    )?;
    let salt = SaltString::encode_b64(&salt)?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out)?),
    }
    .to_string())
}

/// Whether `password` is the one `phc` was made from. A malformed hash, or one
/// asking for more than [`MAX_MEMORY_KIB`], matches nothing.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(h.algorithm),
        Params::try_from(&h),
        h.salt,
        h.hash,
    ) else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    if params.m_cost() > MAX_MEMORY_KIB {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    compute(password, salt, algorithm, version, &params, &mut out).is_ok()
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// Whether `phc` is an argon2 hash [`verify`] can use.
pub fn well_formed(phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Algorithm::try_from(h.algorithm).is_ok()
            && Params::try_from(&h).is_ok_and(|p| p.m_cost() <= MAX_MEMORY_KIB)
            && h.hash.is_some()
    })
}

fn compute(
    password: &str,
    salt: &[u8],
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    let mut memory: Vec<Block> =
        Vec::with_capacity(blocks.max(OWN_MAPPING_BYTES / std::mem::size_of::<Block>()));
    memory.resize(blocks, Block::default());
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{a}");
        assert!(verify("correct horse", &a));
        assert!(!verify("correct hors", &a));
        // the argon2 crate agrees with what this module makes
        let h = PasswordHash::new(&a).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &h)
                .is_ok()
        );
    }

    #[test]
    fn hashes_of_older_versions_still_verify() {
        use argon2::PasswordHasher;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let old = Argon2::default()
            .hash_password(b"legacy password", &salt)
            .unwrap()
            .to_string();
        assert!(old.contains("m=19456,t=2"), "{old}");
        assert!(well_formed(&old));
        assert!(verify("legacy password", &old));
        assert!(!verify("legacy passwore", &old));
    }

    #[test]
    fn a_hash_asking_for_too_much_memory_matches_nothing() {
        let greedy = "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";
        assert!(!well_formed(greedy));
        assert!(!verify("anything at all", greedy));
        assert!(!verify("anything at all", "not a hash"));
    }

    #[test]
    fn length_is_counted_in_characters() {
        assert!(acceptable(&"é".repeat(129)));
        assert!(acceptable(&"é".repeat(256)));
        assert!(!acceptable(&"é".repeat(257)));
        assert!(!acceptable("short"));
    }
}
