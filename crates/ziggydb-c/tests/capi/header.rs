//! include/ziggydb.h is what cbindgen generates from the source now.

use std::path::Path;

#[test]
fn header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen parses the crate");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let path = dir.join("include/ziggydb.h");
    if std::env::var_os("ZIGGY_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
    }
    let checked_in = std::fs::read(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/ziggydb.h is stale: regenerate it with \
         `ZIGGY_BLESS=1 cargo test -p ziggydb-c --test capi header` and commit it"
    );
}
