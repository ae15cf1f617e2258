//! The source's layers, read from its `crate::` and `super::` paths: the
//! modules point only down the layer table below, and no two files import each
//! other, directly or round a loop (a file may use its parent module's items:
//! that is how Rust modules are built, not a cycle). Reads `src/` and `crates/p1/src/`,
//! runs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: a module may use its own layer and those before
/// it. The chain of the design (p1 → hub → history → tariff/prices →
/// mqtt/web/export/ecosystem/homeassistant → app → cli) with the shared parts where their
/// imports put them.
const LAYERS: &[&[&str]] = &[
    &["time", "identity"],
    &["p1"],
    &["capture", "hub", "log", "http", "update", "mdns"],
    &["history"],
    &["tariff", "prices", "source", "network", "leds"],
    &["mqtt"],
    &["web", "export", "ecosystem", "homeassistant"],
    &["app"],
    &["cli"],
];

/// Modules outside the table, and why. `config` is every part's settings
/// schema: each layer reads it, and it checks the tariff rules with the
/// tariff's own parser (a known exception, left for a later step).
const SHARED: &[&str] = &["config"];

/// A file's module path (`["web", "auth"]`; `mod.rs` is its directory's).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `.rs` file under `dir`, in no set order.
pub(crate) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments (doc links name modules they do not use)
/// and without its `#[cfg(test)]` tests, which may reach anywhere.
fn code_of(text: &str) -> String {
    let tests = text.match_indices("#[cfg(test)]\n").find(|(at, m)| {
        let next = text[at + m.len()..].lines().next().unwrap_or("");
        next.contains("mod tests")
    });
    let text = match tests {
        Some((at, _)) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path `crate::…` or `super::…` in `code` names, as written
/// (grouped imports `super::{a, b::c}` give one path each).
fn paths_in(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    for (prefix, is_crate) in [("crate::", true), ("super::", false)] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let before = rest[..at].chars().last();
            rest = &rest[at + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // the second `super::` of `super::super::` is a segment
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let path = segments(item.trim());
                    if !path.is_empty() {
                        out.push((is_crate, path));
                    }
                }
            } else {
                let path = segments(rest);
                if !path.is_empty() {
                    out.push((is_crate, path));
                }
            }
        }
    }
    out
}

/// `a::b::c` at the start of `s`, as segments.
fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    out
}

/// The deepest module of `path` that is a file of ours.
fn resolve(modules: &BTreeSet<Vec<String>>, path: &[String]) -> Option<Vec<String>> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| modules.contains(m))
}

struct Source {
    /// File module → the modules it uses.
    uses: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

/// The crate's own files, and the protocol core's (`crates/p1`, re-exported as
/// `p1ib::p1`) as the module `p1`: its `crate::x` is `p1::x`.
fn read_source() -> Source {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(Vec<String>, PathBuf)> = Vec::new();
    for (dir, mount) in [("src", None), ("crates/p1/src", Some("p1"))] {
        let dir = root.join(dir);
        let mut found = Vec::new();
        rust_files(&dir, &mut found);
        for f in found {
            let mut module: Vec<String> = mount.iter().map(|m| m.to_string()).collect();
            let inner = module_of(&dir, &f);
            if mount.is_some() && inner == ["lib"] {
                // the core's lib.rs is the module `p1` itself
            } else {
                module.extend(inner);
            }
            files.push((module, f));
        }
    }
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut uses = BTreeMap::new();
    for (me, file) in &files {
        let me = me.clone();
        if me
            .first()
            .is_some_and(|m| m == "bin" || m == "main" || m == "lib")
            || me.is_empty()
        {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        let mut used = BTreeSet::new();
        for (is_crate, path) in paths_in(&code) {
            let full = if is_crate {
                if me[0] == "p1" && path.first().is_none_or(|p| p != "p1") {
                    std::iter::once("p1".to_owned()).chain(path).collect()
                } else {
                    path
                }
            } else {
                let mut base = me.clone();
                base.pop();
                let mut path = path.as_slice();
                while path.first().is_some_and(|p| p == "super") {
                    base.pop();
                    path = &path[1..];
                }
                base.extend(path.iter().cloned());
                base
            };
            if let Some(m) = resolve(&modules, &full)
                && m != me
                // a module's own parents: their items are its context
                && !me.starts_with(&m)
            {
                used.insert(m);
            }
        }
        uses.insert(me, used);
    }
    Source { uses }
}

fn layer_of(top: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&top))
}

#[test]
fn every_module_is_in_the_layer_table() {
    let s = read_source();
    let tops: BTreeSet<&str> = s.uses.keys().map(|m| m[0].as_str()).collect();
    for top in tops {
        assert!(
            layer_of(top).is_some() || SHARED.contains(&top),
            "src/{top} is in no layer of tests/layers.rs: add it where its imports put it"
        );
    }
}

#[test]
fn modules_use_only_their_own_layer_and_those_below() {
    let s = read_source();
    let mut wrong = Vec::new();
    for (from, used) in &s.uses {
        let Some(mine) = layer_of(&from[0]) else {
            continue;
        };
        for to in used {
            if let Some(theirs) = layer_of(&to[0])
                && theirs > mine
            {
                wrong.push(format!("{} uses {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports from a layer above:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_round_a_loop() {
    let s = read_source();
    // Depth-first search for a back edge; the first loop found is reported.
    fn visit<'a>(
        m: &'a Vec<String>,
        uses: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        stack.push(m);
        for next in uses.get(m).into_iter().flatten() {
            match state.get(next) {
                Some(1) => {
                    let at = stack.iter().position(|s| *s == next).unwrap();
                    let mut cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
                    cycle.push(next.join("::"));
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, uses, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in s.uses.keys() {
        if !state.contains_key(m)
            && let Some(cycle) = visit(m, &s.uses, &mut state, &mut Vec::new())
        {
            panic!("an import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_reader_of_paths_finds_grouped_and_relative_imports() {
    let code = code_of(
        "use super::{auth, password::hash};\nuse crate::history::query::Cost; // crate::web\nfn f() { crate::p1::crc::arc(b\"\"); }\n",
    );
    let paths = paths_in(&code);
    assert!(paths.contains(&(false, vec!["auth".into()])));
    assert!(paths.contains(&(false, vec!["password".into(), "hash".into()])));
    assert!(paths.contains(&(true, vec!["history".into(), "query".into(), "Cost".into()])));
    assert!(paths.contains(&(true, vec!["p1".into(), "crc".into(), "arc".into()])));
    assert!(!paths.iter().any(|(_, p)| p == &vec!["web".to_owned()]));
}
