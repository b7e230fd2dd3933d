//! The library's layers call one way only. Each folder of `src/` is a layer, from the top:
//! `commands` → `tools` → `types` → `db` → `engine` → `format` → `os`, with `error`,
//! `value_type` (the vocabulary of all) and `progress` (the callback every layer's long
//! operations report to) at the bottom. A file may name (`crate::…`) its own layer and the layers
//! below it, never one above: the test reads every source file and lists each path that
//! points up. Test code (`#[cfg(test)] mod tests`, `tests.rs`) is exempt, and so is `lib.rs`,
//! which wires the public names together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first, each with its modules (the first segment of a path under
/// `crate::`, and the file or folder under `src/`).
const LAYERS: [&[&str]; 8] = [
    &["error", "value_type", "progress"],
    &["os"],
    &["format"],
    &["engine"],
    &["db"],
    &["types"],
    &["tools"],
    &["commands"],
];

fn layer_of_module(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&name))
}

/// The layer of a source file, from its path under `src/`; `None` for files outside the
/// layers (`lib.rs`, the binary).
fn layer_of_file(rel: &Path) -> Option<usize> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    layer_of_module(name)
}

/// The names `lib.rs` re-exports at the crate root (`pub use a::b::{X, Y}`), with the layer
/// they come from, so that `crate::Db` counts as a use of the `db` layer.
fn root_names(lib_rs: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut rest = lib_rs;
    while let Some(at) = rest.find("\npub use ") {
        rest = &rest[at + "\npub use ".len()..];
        let end = rest.find(';').unwrap_or(rest.len());
        let stmt: String = rest[..end].split_whitespace().collect();
        let first = stmt.split("::").next().unwrap_or("");
        let Some(layer) = layer_of_module(first) else {
            continue;
        };
        let names = match (stmt.find('{'), stmt.rfind('}')) {
            (Some(a), Some(b)) if a < b => stmt[a + 1..b].to_string(),
            _ => stmt.rsplit("::").next().unwrap_or("").to_string(),
        };
        for name in names.split(',').filter(|n| !n.is_empty()) {
            let name = name.rsplit(" as ").next().unwrap_or(name);
            out.insert(name.rsplit("::").next().unwrap_or(name).to_string(), layer);
        }
    }
    out
}

/// The source without comments and without a trailing `#[cfg(test)] mod tests { … }`.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path in `code`, including each entry of a
/// `crate::{a::X, b}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `$crate::` or part of a longer name
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut entry_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' | ',' if depth == 1 => {
                        out.push(ident(&group[entry_start..i]));
                        entry_start = i + 1;
                        if c == '}' {
                            break;
                        }
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `file: crate::name (layer of name above layer of file)` in the tree at `src`.
fn upward_paths(src: &Path) -> Vec<String> {
    let roots = root_names(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    let mut files = Vec::new();
    source_files(src, &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let rel = path.strip_prefix(src).unwrap();
        let Some(own) = layer_of_file(rel) else {
            continue;
        };
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&path).unwrap());
        for name in crate_paths(&code) {
            let layer = layer_of_module(&name).or_else(|| roots.get(&name).copied());
            match layer {
                Some(layer) if layer > own => found.push(format!(
                    "{}: crate::{name} (layer {}) is above its own layer {}",
                    rel.display(),
                    LAYERS[layer][0],
                    LAYERS[own][0]
                )),
                Some(_) => {}
                None => found.push(format!(
                    "{}: crate::{name} belongs to no layer; add it to LAYERS or re-export it",
                    rel.display()
                )),
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_paths(&src);
    assert!(
        found.is_empty(),
        "{} paths point up a layer:\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn the_check_finds_a_path_that_points_up() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::create_dir_all(src.join("os")).unwrap();
    std::fs::write(
        src.join("lib.rs"),
        "//! A crate.\npub use db::Db;\npub use os::map::Map;\n",
    )
    .unwrap();
    std::fs::write(src.join("db.rs"), "use crate::{engine::Shared, os::map};\n").unwrap();
    std::fs::write(
        src.join("engine/mod.rs"),
        "use crate::os::map;\n// crate::commands in a comment\nfn f(_: crate::Db) {}\n\
         #[cfg(test)]\nmod tests {\n    use crate::types::read;\n}\n",
    )
    .unwrap();
    std::fs::write(
        src.join("os/map.rs"),
        "use crate::{error::Error, format::shm};\n",
    )
    .unwrap();
    assert_eq!(
        upward_paths(src),
        [
            "engine/mod.rs: crate::Db (layer db) is above its own layer engine",
            "os/map.rs: crate::format (layer format) is above its own layer os",
        ]
    );
}
