//! `examples/vtep` as a user runs it: a bad configuration exits with status 2 and a
//! message naming the key, before any device or socket is created; `vtep ctl` without a
//! running switch fails cleanly; `--help` and `--version` answer and exit 0.
#![cfg(feature = "linux")]

use std::path::PathBuf;
use std::process::Command;

/// The example binary beside this test's own, built (or found up to date) first, so a
/// test run alone never tries a stale one.
fn vtep() -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args([
            "build",
            "--quiet",
            "--example",
            "vtep",
            "--features",
            "linux",
        ]);
        if !cfg!(debug_assertions) {
            cargo.arg("--release");
        }
        let status = cargo.status().unwrap();
        assert!(status.success());
    });
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join("vtep")
}

const GOOD: &str = r#"
[underlay]
local_ip = "10.99.0.2"

[[port]]
name = "tap0"
vni = 42

[[port]]
name = "trunk0"
[[port.vlan]]
vid = 100
vni = 42

[[segment]]
vni = 42

[[segment.remote]]
ip = "10.99.0.1"

[[segment.static]]
mac = "02:00:00:00:00:09"
port = "tap0"
"#;

/// Runs vtep on GOOD with `from` replaced by `to`; returns its status and stderr.
fn run_with(from: &str, to: &str) -> (Option<i32>, String) {
    assert!(GOOD.contains(from), "{from}");
    let dir = std::env::temp_dir().join(format!("vtep-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.toml", to.len() * 131 + from.len()));
    std::fs::write(&path, GOOD.replacen(from, to, 1)).unwrap();
    let output = Command::new(vtep())
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_configurations_exit_2_naming_the_key() {
    let cases = [
        (
            "vni = 42\n\n[[port]]",
            "vni = 42\ncolour = \"red\"\n\n[[port]]",
            "unknown field `colour`",
        ),
        (
            "[[segment]]\nvni = 42",
            "[[segment]]\nvni = 16777216",
            "segment[0].vni: 16777216 is over 24 bits",
        ),
        (
            "vid = 100",
            "vid = 4095",
            "port[1].vlan[0].vid: 4095 is outside 1..=4094",
        ),
        (
            "[[segment]]\nvni = 42\n",
            "",
            "segment: [[segment.remote]] or [[segment.static]] without a [[segment]]",
        ),
        (
            "port = \"tap0\"",
            "port = \"tap7\"",
            "segment[0].static[0].port: no [[port]] is named \"tap7\"",
        ),
        (
            "name = \"tap0\"\nvni = 42",
            "name = \"tap0\"\nvni = 41",
            "port[0].vni: no [[segment]] has VNI 41",
        ),
        ("local_ip = \"10.99.0.2\"", "", "missing field `local_ip`"),
        // IPv6: a remote needs a local address of its family, ours is not one, and
        // neither is an address no VTEP can have.
        (
            "ip = \"10.99.0.1\"",
            "ip = \"fd00:99::1\"",
            "segment[0].remote[0].ip: fd00:99::1 is IPv6 but [underlay] has no IPv6 address: give local_ip6",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"10.99.0.2\"",
            "segment[0].remote[0].ip: 10.99.0.2 is this VTEP's own address",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"ff02::1\"",
            "segment[0].remote[0].ip: remote ff02::1 is not a unicast address",
        ),
        (
            "local_ip = \"10.99.0.2\"",
            "local_ip = \"fd00:99::2\"",
            "segment[0].remote[0].ip: 10.99.0.1 is IPv4 but [underlay] has no IPv4 address",
        ),
        (
            "local_ip = \"10.99.0.2\"",
            "local_ip = \"10.99.0.2\"\nlocal_ip6 = \"ff02::2\"",
            "underlay.local_ip6: ff02::2 is not a unicast address",
        ),
        (
            "ip = \"10.99.0.1\"",
            "ip = \"255.255.255.255\"",
            "segment[0].remote[0].ip: remote 255.255.255.255 is not a unicast address",
        ),
        (
            "[[segment]]\nvni = 42",
            "[[segment]]\nvni = 42\nageing_secs = 0",
            "segment[0].ageing_secs: 0 would age every address out",
        ),
        (
            "port = \"tap0\"",
            "port = \"tap0\"\n\n[[segment.static]]\nmac = \"02:00:00:00:00:09\"\nremote = \"10.99.0.1\"",
            "segment[0].static[1].mac: 02:00:00:00:00:09 is pinned already, by segment[0].static[0]",
        ),
    ];
    for (from, to, expected) in cases {
        let (status, stderr) = run_with(from, to);
        assert_eq!(status, Some(2), "{to:?}: {stderr}");
        assert!(stderr.contains(expected), "{to:?}: {stderr}");
        println!(
            "exit 2: {}",
            stderr.trim().lines().last().unwrap_or_default()
        );
    }
}

#[test]
fn a_missing_file_or_config_exits_2() {
    let output = Command::new(vtep())
        .args(["--config", "/nonexistent/vtep.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/vtep.toml"));
    let output = Command::new(vtep()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn control_refuses_a_file_and_a_socket_another_process_answers_on_with_status_1() {
    // Checked before any device or socket is created, so no privileges are needed.
    let dir = std::env::temp_dir().join(format!("vtep-cli-control-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("vtep.toml");
    std::fs::write(&config, GOOD).unwrap();
    let run = |control: &std::path::Path| {
        let output = Command::new(vtep())
            .arg("--config")
            .arg(&config)
            .arg("--control")
            .arg(control)
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let file = dir.join("notes.txt");
    std::fs::write(&file, "precious").unwrap();
    let (status, stderr) = run(&file);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("notes.txt") && stderr.contains("is not a socket"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");

    let live = dir.join("live.sock");
    let _ = std::fs::remove_file(&live);
    let listener = std::os::unix::net::UnixListener::bind(&live).unwrap();
    let (status, stderr) = run(&live);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(stderr.contains("another process answers"), "{stderr}");
    let _client = std::os::unix::net::UnixStream::connect(&live).unwrap();
    assert!(listener.accept().is_ok(), "the other socket still answers");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctl_without_a_running_switch_fails_cleanly() {
    let output = Command::new(vtep())
        .args(["ctl", "/nonexistent/vtep.sock", "fdb"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/vtep.sock"));
    let output = Command::new(vtep())
        .args(["ctl", "/x.sock", "flush"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "clap refuses an unknown command"
    );
}

#[test]
fn ctl_into_a_closed_pipe_exits_quietly() {
    // A switch of the test's own, answering `fdb` with 2 MB of lines.
    let dir = std::env::temp_dir().join(format!("vtep-cli-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vtep.sock");
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let switch = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut client, _) = listener.accept().unwrap();
        let mut command = [0u8; 4];
        client.read_exact(&mut command).unwrap();
        let line = "{\"vni\":42,\"mac\":\"02:00:00:00:00:01\",\"port\":\"tap0\",\"static\":false,\"age_secs\":1}\n";
        for _ in 0..20_000 {
            if client.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let output = Command::new("bash")
        .args(["-o", "pipefail", "-c", r#""$0" ctl "$1" fdb | head -n 1"#])
        .arg(vtep())
        .arg(&path)
        .output()
        .unwrap();
    switch.join().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert_eq!(stderr, "");
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_and_version_answer_and_exit_0() {
    let output = Command::new(vtep()).arg("--version").output().unwrap();
    assert!(output.status.success(), "vtep --version: {output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("vtep {}\n", env!("CARGO_PKG_VERSION"))
    );
    let output = Command::new(vtep()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && help.contains("Usage: vtep ") && help.contains("--config"),
        "vtep --help: {output:?}"
    );
}
