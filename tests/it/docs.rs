//! The API documentation: every public method and function of the library has an example
//! (an `# Examples` section with a doc test), so that `cargo doc` teaches by example and
//! `cargo test --doc` keeps the examples true.

use std::path::Path;

/// The source files that hold the public API (the types re-exported at the crate root).
const API_FILES: &[&str] = &[
    "src/db.rs",
    "src/db/txn.rs",
    "src/db/dbs.rs",
    "src/engine/options.rs",
    "src/tools/check.rs",
    "src/value_type.rs",
    "src/types/read.rs",
    "src/format/value.rs",
    "src/error.rs",
    "src/tools/dump.rs",
    "src/tools/repair.rs",
    "src/commands/import.rs",
    "src/types/collections/hash.rs",
    "src/types/collections/list.rs",
    "src/types/collections/set.rs",
    "src/types/collections/zset.rs",
    "src/types/keys.rs",
    "src/types/pubsub.rs",
    "src/types/strings.rs",
    "src/types/ttl.rs",
    "src/types/blocking.rs",
    "src/types/dump.rs",
    "src/types/bits.rs",
    "src/engine/wake.rs",
];

/// Public functions that are not part of the documented API, with why.
const EXEMPT: &[(&str, &str)] = &[(
    "src/tools/dump.rs:check_line",
    "re-exported only in the hidden `testing` module, for the fuzz crate",
)];

/// Public functions of `text` (`pub fn`, `pub const fn`, and the provided methods of a
/// `pub trait`) as (line number, name, whether their doc comment has an `# Examples`
/// section). Stops at the first `#[cfg(test)]` at the start of a line (the unit tests);
/// skips `#[doc(hidden)]` items.
fn public_fns(text: &str) -> Vec<(usize, String, bool)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut in_pub_trait = false;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("#[cfg(test)]") {
            break;
        }
        if line.starts_with("pub trait ") {
            in_pub_trait = true;
        } else if line.starts_with('}') {
            in_pub_trait = false;
        }
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let rest = if let Some(r) = t.strip_prefix("pub fn ") {
            r
        } else if let Some(r) = t.strip_prefix("pub const fn ") {
            r
        } else if let Some(r) = t
            .strip_prefix("fn ")
            .filter(|_| in_pub_trait && indent == 4)
        {
            r
        } else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut has_example, mut hidden) = (false, false);
        for prev in lines[..i].iter().rev() {
            let p = prev.trim_start();
            if p.starts_with("#[doc(hidden)]") {
                hidden = true;
            } else if p.starts_with("///") {
                has_example |= p.trim_start_matches('/').trim() == "# Examples";
            } else if !p.starts_with("#[") {
                break;
            }
        }
        if !hidden {
            out.push((i + 1, name, has_example));
        }
    }
    out
}

#[test]
fn every_public_method_has_an_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (mut total, mut missing) = (0, Vec::new());
    for file in API_FILES {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let fns = public_fns(&text);
        assert!(
            !fns.is_empty(),
            "{file}: no public function found; is the list stale?"
        );
        total += fns.len();
        for (line, name, has_example) in fns {
            let id = format!("{file}:{name}");
            if !has_example && !EXEMPT.iter().any(|(e, _)| *e == id) {
                missing.push(format!("{file}:{line}: {name}"));
            }
        }
    }
    assert!(
        total > 150,
        "only {total} public functions found: the scan is broken"
    );
    assert!(
        missing.is_empty(),
        "{} of {total} public functions have no `# Examples` section in their doc \
         comment:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// The names the crate root re-exports (`pub use a::{B, C};` and `pub use a::B;`).
fn exported_names(lib_rs: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = lib_rs;
    while let Some(start) = rest.find("\npub use ") {
        let stmt = &rest[start + 9..];
        let end = stmt.find(';').unwrap();
        let list = stmt[..end].rsplit("::").next().unwrap();
        names.extend(
            list.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .filter(|n| !n.is_empty())
                .map(str::to_string),
        );
        rest = &stmt[end..];
    }
    names
}

/// Files under `dir` (recursively) that are not in [`API_FILES`] but add a `pub fn` to a type
/// the crate root exports (in an `impl` block at the start of a line): the scan above
/// would miss their methods.
fn unscanned_files(root: &Path, dir: &Path, exported: &[String], out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            if rel != "src/bin" {
                unscanned_files(root, &path, exported, out);
            }
            continue;
        }
        if !rel.ends_with(".rs") || API_FILES.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut in_exported_impl = false;
        for line in text.lines() {
            if line.starts_with("#[cfg(test)]") {
                break;
            }
            if line.starts_with("impl") {
                let head = line.split(" for ").last().unwrap();
                let ty: String = head
                    .trim_start_matches("impl")
                    .trim_start_matches(|c: char| c != ' ')
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                in_exported_impl = exported.contains(&ty);
            } else if line.starts_with('}') {
                in_exported_impl = false;
            } else if in_exported_impl && line.trim_start().starts_with("pub fn ") {
                out.push(format!("{rel}: {}", line.trim()));
            }
        }
    }
}

#[test]
fn every_file_with_public_methods_is_scanned() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exported = exported_names(&std::fs::read_to_string(root.join("src/lib.rs")).unwrap());
    for name in [
        "Db",
        "WriteTxn",
        "List",
        "SortedSetView",
        "Value",
        "ErrorCode",
    ] {
        assert!(
            exported.iter().any(|n| n == name),
            "{name} not found in {exported:?}"
        );
    }
    let mut out = Vec::new();
    unscanned_files(root, &root.join("src"), &exported, &mut out);
    assert!(
        out.is_empty(),
        "public methods in files that tests/it/docs.rs API_FILES does not list:\n{}",
        out.join("\n")
    );
}

#[test]
fn the_scan_finds_methods_without_examples() {
    let text = "impl Db {\n    /// Doc.\n    ///\n    /// # Examples\n    /// ```\n    /// ```\n    \
                #[must_use]\n    pub fn a(&self) {}\n    /// Doc only.\n    pub fn b(&self) {}\n    \
                #[doc(hidden)]\n    pub fn c(&self) {}\n    pub(crate) fn d(&self) {}\n}\n\
                pub trait T {\n    /// No example.\n    fn e(&self) {}\n}\n#[cfg(test)]\npub fn f() {}\n";
    let found: Vec<(String, bool)> = public_fns(text)
        .into_iter()
        .map(|(_, n, e)| (n, e))
        .collect();
    assert_eq!(
        found,
        vec![
            ("a".to_string(), true),
            ("b".to_string(), false),
            ("e".to_string(), false)
        ]
    );
}

/// The README's compatibility table (between `<!-- compat:begin -->` and
/// `<!-- compat:end -->`) is the one generated from the command table and the list of Redis's
/// commands, so a command added to the table shows up there once it is regenerated. With
/// `ZIGGY_REGENERATE=1` the test writes the generated table into the README instead.
#[test]
fn readme_compatibility_table_is_generated() {
    const BEGIN: &str = "<!-- compat:begin -->\n";
    const END: &str = "<!-- compat:end -->";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let start = readme
        .find(BEGIN)
        .expect("README.md has <!-- compat:begin -->")
        + BEGIN.len();
    let end = start
        + readme[start..]
            .find(END)
            .expect("README.md has <!-- compat:end -->");
    let generated = ziggydb::commands::compatibility_table();
    if std::env::var("ZIGGY_REGENERATE").is_ok_and(|v| v == "1") {
        let updated = format!("{}{generated}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("write README.md");
        return;
    }
    assert!(
        readme[start..end] == generated,
        "README.md's compatibility table is not the generated one; regenerate it with\n  \
         ZIGGY_REGENERATE=1 cargo nextest run --test it -E 'test(compatibility_table)'"
    );
}
