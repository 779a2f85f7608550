//! The committed `rewriter/assets/shim.wasm` and `shim-trace.wasm` are exactly what
//! `scripts/build-shim.sh` builds from source.

use std::process::Command;

use wasifs_tests::{skip_or_fail, workspace_root};

fn wasm_target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-unknown-unknown")
        })
}

#[test]
fn committed_shim_matches_a_fresh_build_of_shim_runtime() {
    if !wasm_target_installed() {
        skip_or_fail("the wasm32-unknown-unknown target is missing (rustup target add wasm32-unknown-unknown)");
        return;
    }
    let root = workspace_root();
    let script = root.join("scripts/build-shim.sh");
    assert!(script.exists(), "{} is missing", script.display());
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("shim.wasm");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--out")
        .arg(&fresh)
        .current_dir(&root)
        .output()
        .expect("running scripts/build-shim.sh");
    assert!(
        out.status.success(),
        "scripts/build-shim.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["shim.wasm", "shim-trace.wasm"] {
        let fresh =
            std::fs::read(dir.path().join(name)).expect("build-shim.sh --out wrote the shim");
        let committed = std::fs::read(root.join("rewriter/assets").join(name)).unwrap();
        assert!(
            fresh == committed,
            "rewriter/assets/{name} is stale ({} bytes committed, {} bytes built from shim-runtime/); \
             run scripts/build-shim.sh and commit the result",
            committed.len(),
            fresh.len()
        );
    }
}
