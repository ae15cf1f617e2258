//! Files of one concept and functions that fit on a screen: no file in `src/`, `tests/`,
//! `benches/` or `crates/p1/src/` over [`MAX_FILE_LINES`] without a reason at its top, no function over
//! [`MAX_FN_LINES`] without a reason in [`LONG_FUNCTIONS`]. Reads the sources, runs
//! nothing.

use crate::layers::rust_files;
use std::path::PathBuf;

/// The longest file, tests included, that needs no reason.
const MAX_FILE_LINES: usize = 650;
/// A longer file says why in a line of its `//!` header starting with this.
const FILE_REASON: &str = "//! Long because";
/// The longest function, tests included.
const MAX_FN_LINES: usize = 100;
/// Longer functions, and why: (file, function, reason).
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[];

/// `text` with comments, strings and character literals blanked (newlines
/// kept), so that braces in them do not count.
fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n);
            wipe(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let end = find(b, i + 2, b"*/").map_or(b.len(), |n| n + 2);
            wipe(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"r\"") || rest.starts_with(b"r#") {
            let hashes = rest[1..].iter().take_while(|&&c| c == b'#').count();
            if rest.get(1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = find(b, i + 2 + hashes, &close).map_or(b.len(), |n| n + close.len());
            wipe(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            wipe(&mut out, i, j + 1);
            i = j + 1;
        } else if rest[0] == b'\'' {
            // 'x', '\n', '\u{..}' are characters; 'a (a lifetime) is not.
            let end = if rest.get(1) == Some(&b'\\') {
                find(b, i + 2, b"'").map(|n| n + 1)
            } else {
                let len = std::str::from_utf8(&rest[1..rest.len().min(5)])
                    .unwrap_or_else(|e| std::str::from_utf8(&rest[1..1 + e.valid_up_to()]).unwrap())
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                (rest.get(1 + len) == Some(&b'\'')).then_some(i + 2 + len)
            };
            match end {
                Some(end) => {
                    wipe(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|n| n + from)
}

/// Each function with a body in `code` (blanked): its name and its length in
/// lines, from the `fn` line to the closing brace.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(name) = fn_name(line) else { continue };
        let (mut depth, mut opened) = (0i32, false);
        'scan: for (n, l) in lines[at..].iter().enumerate() {
            let from = if n == 0 { line.find("fn ").unwrap() } else { 0 };
            for c in l[from..].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    ';' if !opened && depth == 0 => break 'scan, // no body
                    _ => {}
                }
                if opened && depth == 0 {
                    out.push((name.clone(), n + 1));
                    break 'scan;
                }
            }
        }
    }
    out
}

/// The name of the function `line` declares, if it does.
fn fn_name(line: &str) -> Option<String> {
    let at = line.find("fn ")?;
    let before = line[..at].trim();
    let words_ok = before
        .split_whitespace()
        .all(|w| ["pub", "async", "const", "unsafe"].contains(&w) || w.starts_with("pub("));
    if !words_ok || (at > 0 && !line[..at].ends_with(' ')) {
        return None;
    }
    let name: String = line[at + 3..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

fn sources() -> Vec<(String, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "crates/p1/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(&root).unwrap().display().to_string();
            (rel, std::fs::read_to_string(f).unwrap())
        })
        .collect()
}

#[test]
fn no_file_is_long_without_a_reason_at_its_top() {
    let mut long = Vec::new();
    for (file, text) in sources() {
        let n = text.lines().count();
        let header = text.lines().take_while(|l| l.starts_with("//!"));
        let reason = header.into_iter().any(|l| l.starts_with(FILE_REASON));
        if n > MAX_FILE_LINES && !reason {
            long.push(format!("{file}: {n} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: split them by concept, or say why in a `{FILE_REASON} …` line:\n{}",
        long.join("\n")
    );
}

#[test]
fn no_function_is_long_without_a_reason() {
    let mut long = Vec::new();
    for (file, text) in sources() {
        for (name, n) in functions(&blank(&text)) {
            let excused = LONG_FUNCTIONS
                .iter()
                .any(|(f, g, _)| *f == file && *g == name);
            if n > MAX_FN_LINES && !excused {
                long.push(format!("{file}: fn {name}: {n} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: give their steps names:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_measure_skips_braces_in_strings_comments_and_characters() {
    let code = "fn a() {\n    let s = \"}}\"; // }\n    let c = '}';\n    let r = r#\"}\"#;\n    /* } */ x::<'static>();\n}\nfn b();\npub async fn c(x: u8) -> u8 {\n    x\n}\n";
    assert_eq!(
        functions(&blank(code)),
        [("a".to_owned(), 6), ("c".to_owned(), 3)]
    );
}
