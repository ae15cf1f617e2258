//! Signs release archives the way p1ib verifies them (zipsign, ed25519, the file name as
//! context), and checks them against the release key built into p1ib. Used by
//! `.github/workflows/release.yml`; never part of the shipped binary.
//!
//!     cargo run --example sign_release -- sign KEYPAIR_FILE FILE.tar.gz...
//!     cargo run --example sign_release -- verify FILE.tar.gz...
//!
//! KEYPAIR_FILE holds the 64 raw bytes secret‖public (zipsign's key format).

use std::io::Cursor;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sign") if args.len() >= 3 => sign(&args[1], &args[2..]),
        Some("verify") if args.len() >= 2 => verify(&args[1..]),
        _ => Err(
            "usage: sign_release sign KEYPAIR_FILE FILE.tar.gz... | verify FILE.tar.gz...".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sign_release: {e}");
            ExitCode::FAILURE
        }
    }
}

fn sign(key_file: &str, files: &[String]) -> Result<(), String> {
    let bytes = std::fs::read(key_file).map_err(|e| format!("{key_file}: {e}"))?;
    let pair: [u8; 64] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("{key_file}: expected 64 bytes, got {}", bytes.len()))?;
    let key = zipsign_api::SigningKey::from_keypair_bytes(&pair).map_err(|e| e.to_string())?;
    for file in files {
        let name = Path::new(file)
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{file}: no UTF-8 file name"))?;
        let input = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let mut output = Cursor::new(Vec::new());
        zipsign_api::sign::copy_and_sign_tar(
            &mut Cursor::new(input),
            &mut output,
            std::slice::from_ref(&key),
            Some(name.as_bytes()),
        )
        .map_err(|e| format!("{file}: {e}"))?;
        std::fs::write(file, output.into_inner()).map_err(|e| format!("{file}: {e}"))?;
        println!("signed {file}");
    }
    Ok(())
}

fn verify(files: &[String]) -> Result<(), String> {
    for file in files {
        p1ib::update::artifact::check_signature(Path::new(file), &[p1ib::update::key::RELEASE_KEY])
            .map_err(|e| e.to_string())?;
        println!("verified {file} against the built-in release key");
    }
    Ok(())
}
