//! Fitting the ecosystem: `--version` names the shim and image format, completions and man pages
//! come from the clap definitions, `--help` shows examples.

use std::process::Command;

fn wasifs(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_wasifs"))
        .args(args)
        .output()
        .expect("running wasifs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const SUBCOMMANDS: [&str; 7] = [
    "rewrite",
    "inspect",
    "ls",
    "extract",
    "strip",
    "completions",
    "man",
];

#[test]
fn version_names_the_shim_image_format_and_record() {
    let v = wasifs::versions();
    let text = wasifs(&["--version"]);
    assert!(text.starts_with(&format!("wasifs {}", v.wasifs)), "{text}");
    assert!(
        text.contains(&format!("shim {:016x}", v.shim_hash)),
        "{text}"
    );
    assert!(
        text.contains(&format!("image format {}", v.image_format)),
        "{text}"
    );
    assert!(text.contains(&format!("record {}", v.record)), "{text}");
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = wasifs(&["completions", shell]);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: no {sub}");
        }
        assert!(script.contains("mount"), "{shell}: no mount option");
    }
}

#[test]
fn man_prints_a_roff_page_and_writes_one_per_subcommand() {
    let page = wasifs(&["man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH wasifs"),
        "{page}"
    );
    let dir = tempfile::tempdir().unwrap();
    wasifs(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(dir.path().join("wasifs.1").is_file());
    for sub in SUBCOMMANDS {
        let p = dir.path().join(format!("wasifs-{sub}.1"));
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(text.contains(".TH"), "{}", p.display());
    }
}

#[test]
fn help_shows_examples_for_mounts_ro_globs_and_policies() {
    let top = wasifs(&["--help"]);
    assert!(top.contains("Examples:"), "{top}");
    let rewrite = wasifs(&["rewrite", "--help"]);
    for want in [
        ":ro",
        "--include",
        "--exclude",
        "--host-fs deny",
        "--preopen",
    ] {
        assert!(rewrite.contains(want), "no {want} in\n{rewrite}");
    }
}
