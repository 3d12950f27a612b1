//! The build script of every crate whose tests use what the repository does not hold: the
//! real data in `../shared/data` beside it and external tools (tshark, tcpdump, nftables,
//! nginx, Chromium...). It tells the tests what this machine has, as cfg flags:
//!
//! * `levee_shared_data`: `../shared/data` exists;
//! * `levee_has_TOOL` (`-` as `_`): TOOL is on PATH;
//! * `levee_root`: the build runs as root (network namespaces need it).
//!
//! A test that needs one of them is marked
//! `#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]`: it runs where the
//! machine has what it needs and is reported as ignored, with its reason, where it does not,
//! so no test passes having checked nothing. `.ci/run` fails when any test was ignored.
//!
//! What is missing is watched (cargo reruns a build script whose watched path does not exist),
//! so installing a tool or adding `../shared` is seen by the next build.

use std::path::{Path, PathBuf};

const TOOLS: &[&str] = &[
    "tcpdump",
    "tshark",
    "mergecap",
    "editcap",
    "nft",
    "tcpreplay",
    "tcprewrite",
    "ip",
    "iptables-restore",
    "ipset",
    "nginx",
    "chromium",
    "pmacctd",
    "nfcapd",
    "softflowd",
];

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(levee_shared_data)");
    println!("cargo::rustc-check-cfg=cfg(levee_root)");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let shared = Path::new(&manifest).join("../../../shared/data");
    if shared.is_dir() {
        println!("cargo::rustc-cfg=levee_shared_data");
        println!(
            "cargo::rerun-if-changed={}",
            shared.join("README.md").display()
        );
    } else {
        println!("cargo::rerun-if-changed={}", shared.display());
    }
    for tool in TOOLS {
        let flag = format!("levee_has_{}", tool.replace('-', "_"));
        println!("cargo::rustc-check-cfg=cfg({flag})");
        match on_path(tool) {
            Some(p) => {
                println!("cargo::rustc-cfg={flag}");
                println!("cargo::rerun-if-changed={}", p.display());
            }
            None => println!("cargo::rerun-if-changed=/usr/bin/{tool}"),
        }
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        println!("cargo::rustc-cfg=levee_root");
    }
}
