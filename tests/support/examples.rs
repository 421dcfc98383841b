//! Finds the example jobs built for wasm32-wasip2, building them first (through
//! `scripts/build-examples.sh`) when they are missing. Shared by the end-to-end
//! tests and the benchmarks.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the example `.wasm` files: `$CARILLON_EXAMPLES_DIR`
/// when set (the test script builds them once and sets it), else built here.
pub(crate) fn dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("CARILLON_EXAMPLES_DIR") {
            return PathBuf::from(dir);
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let output = Command::new(root.join("scripts/build-examples.sh"))
            .output()
            .expect("cannot run scripts/build-examples.sh");
        assert!(
            output.status.success(),
            "building the example jobs failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
    })
    .clone()
}

/// Path of the example job or fixture `name` (crate name, e.g. `sharded-sum`).
pub(crate) fn path(name: &str) -> PathBuf {
    let file = if name == "not-a-job" {
        name.to_owned()
    } else {
        name.replace('-', "_")
    };
    let path = dir().join(format!("{file}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Bytes of the example job or fixture `name`.
pub(crate) fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).expect("cannot read example job")
}
