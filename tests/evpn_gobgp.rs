//! vtep with `[evpn]` against a real gobgpd (Debian's `gobgpd` 3.x), each in a network
//! namespace of its own made for the test: the routes vtep advertises read back with the
//! `gobgp` CLI (route distinguisher, route target, PMSI tunnel, label, next hop,
//! encapsulation community), routes added with the CLI turned into remotes and MAC
//! entries, gobgpd absent at start and restarted; and, with no privileges needed, a bad
//! `[evpn]` section refused with exit status 2 naming its key.
//!
//! Needs root (a network namespace, a TAP device), `ip` and gobgpd: without them the
//! daemon test fails saying what is missing, unless `TUNNELWIRE_SKIP_PRIVILEGED=1` (no
//! root) or, outside CI, a missing gobgpd asks to skip it (it then says so on standard
//! error; CI installs gobgpd, so there it fails).
#![cfg(feature = "evpn")]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tunnelwire::linux::control;

/// How long gobgpd and vtep may take to find each other (vtep's backoff reaches 4 s by
/// its fourth try).
const MEETS: Duration = Duration::from_secs(20);

/// The path of the built vtep example.
fn vtep() -> PathBuf {
    static BUILD: std::sync::Once = std::sync::Once::new();
    BUILD.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "--example",
                "vtep",
                "--features",
                "evpn",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the vtep example");
    });
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("vtep")
}

/// A directory of the test's own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("tw-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const CONFIG: &str = r#"
[underlay]
local_ip = "10.99.0.2"

[[port]]
name = "twe0"
vni = 100

[[segment]]
vni = 100

[[segment]]
vni = 5000
[[segment.remote]]
ip = "10.99.0.7"
encap = "geneve"
"#;

#[test]
fn a_bad_evpn_section_exits_2_naming_the_key() {
    let scratch = Scratch::new("evpn-config");
    for (section, key) in [
        ("gobgp = \"127.0.0.1:50051\"\nasn = 70000\n", "evpn.asn"),
        ("gobgp = \"nowhere\"\nasn = 65000\n", "evpn.gobgp"),
        ("gobgp = \"127.0.0.1:50051\"\nasn = 65000\nrd = 1\n", "`rd`"),
        ("asn = 65000\n", "`gobgp`"),
    ] {
        let file = scratch.path("vtep.toml");
        fs::write(&file, format!("{CONFIG}\n[evpn]\n{section}")).unwrap();
        let output = Command::new(vtep())
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{section:?}: {stderr}");
        assert!(stderr.contains(key), "{section:?}: {stderr}");
    }
}

/// A network namespace made for the test, deleted with everything in it.
struct Namespace(String);

impl Namespace {
    fn new() -> Namespace {
        let name = format!("tw-evpn-{}", std::process::id());
        // Left by an earlier run that died: none normally.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        let ns = Namespace(name);
        ns.run(&["ip", "link", "set", "lo", "up"]);
        ns.run(&["ip", "addr", "add", "10.99.0.2/24", "dev", "lo"]);
        ns
    }

    /// `args` as a command run in the namespace.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0]).args(args);
        command
    }

    /// Runs `args` in the namespace; it must succeed.
    /// Adds or deletes a route in gobgpd's EVPN table with its CLI:
    /// `gobgp global rib -a evpn` followed by `route`'s words.
    fn evpn_rib(&self, route: &str) {
        let mut args = vec!["gobgp", "global", "rib", "-a", "evpn"];
        args.extend(route.split_whitespace());
        self.run(&args);
    }

    fn run(&self, args: &[&str]) -> Output {
        let output = self.command(args).output().unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn run(args: &[&str]) {
    let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(status.success(), "{args:?}");
}

/// A child process, ended (SIGTERM, then waited for) when dropped.
struct Process(Child);

impl Process {
    fn stop(&mut self) {
        // SIGCONT after SIGTERM: a frozen child would hold the signal, and the wait
        // would never end.
        self.signal(libc::SIGTERM);
        self.signal(libc::SIGCONT);
        let _ = self.0.wait();
    }

    /// SIGSTOP: the child keeps its sockets open and answers nothing.
    fn freeze(&mut self) {
        self.signal(libc::SIGSTOP);
    }

    fn thaw(&mut self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&mut self, signal: libc::c_int) {
        // SAFETY: kill takes no pointers; the child is ours and not yet waited for.
        unsafe { libc::kill(self.0.id() as libc::pid_t, signal) };
    }

    /// SIGKILL: nothing of the child's own runs after it.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// vtep started in `ns` with `config` and the control socket `socket`, its messages
/// appended to `log`.
fn vtep_process(ns: &Namespace, vtep: &Path, config: &Path, socket: &Path, log: &Path) -> Process {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Process(
        ns.command(&[
            vtep.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--control",
            socket.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap(),
    )
}

/// How many sockets a process has open.
fn open_sockets(process: &Process) -> usize {
    fs::read_dir(format!("/proc/{}/fd", process.0.id()))
        .unwrap()
        .filter(|fd| {
            fs::read_link(fd.as_ref().unwrap().path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Whether the machine can run the daemon test; says why not, failing or skipping.
fn can_run(test: &str) -> bool {
    let skip_privileged = std::env::var_os("TUNNELWIRE_SKIP_PRIVILEGED").is_some_and(|v| v == "1");
    // SAFETY: geteuid takes nothing.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            skip_privileged,
            "{test}: needs root (a network namespace, a TAP device); \
             TUNNELWIRE_SKIP_PRIVILEGED=1 skips it"
        );
        eprintln!("{test}: SKIPPED (TUNNELWIRE_SKIP_PRIVILEGED=1): not root");
        return false;
    }
    let gobgpd = Command::new("gobgpd").arg("--version").output();
    if gobgpd.is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: gobgpd is not installed, and CI must run this test (apt-get install gobgpd)"
        );
        eprintln!(
            "{test}: SKIPPED: gobgpd is not installed (apt-get install gobgpd); \
             CI installs it and runs this test"
        );
        return false;
    }
    true
}

const GOBGPD: &str = r#"
[global.config]
  as = 65000
  router-id = "10.99.0.2"
  # No BGP listener: the test only drives the RIB through the API.
  port = -1
"#;

fn start_gobgpd(ns: &Namespace, scratch: &Scratch) -> Process {
    let config = scratch.path("gobgpd.toml");
    fs::write(&config, GOBGPD).unwrap();
    let log = fs::File::create(scratch.path("gobgpd.log")).unwrap();
    let child = ns
        .command(&[
            "gobgpd",
            "-f",
            config.to_str().unwrap(),
            "-p",
            "--api-hosts=127.0.0.1:50051",
            "--pprof-disable",
        ])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Process(child)
}

/// gobgpd's EVPN RIB as the CLI prints it: prefix -> paths.
fn rib(ns: &Namespace) -> Option<serde_json::Map<String, Value>> {
    let output = ns
        .command(&["gobgp", "global", "rib", "-a", "evpn", "-j"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Waits until `check` holds, or fails saying `what` (with vtep's log).
fn wait_for(what: &str, log: &Path, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < MEETS,
            "{what}: not after {MEETS:?}; vtep said:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// The attributes of the one path of `prefix`.
fn attributes<'a>(rib: &'a serde_json::Map<String, Value>, prefix: &str) -> &'a Vec<Value> {
    rib[prefix][0]["attrs"].as_array().unwrap()
}

fn attribute(attributes: &[Value], kind: u64) -> &Value {
    attributes
        .iter()
        .find(|a| a["type"] == kind)
        .unwrap_or_else(|| panic!("attribute {kind} in {attributes:?}"))
}

fn ctl(socket: &Path, command: &str) -> Vec<Value> {
    control::request(socket, command)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn vtep_advertises_and_mirrors_routes_through_gobgpd() {
    let test = "vtep_advertises_and_mirrors_routes_through_gobgpd";
    if !can_run(test) {
        return;
    }
    let vtep = vtep();
    let scratch = Scratch::new("evpn");
    let ns = Namespace::new();
    let config = scratch.path("vtep.toml");
    fs::write(
        &config,
        format!("{CONFIG}\n[evpn]\ngobgp = \"127.0.0.1:50051\"\nasn = 65000\n"),
    )
    .unwrap();
    let socket = scratch.path("vtep.sock");
    let log = scratch.path("vtep.log");

    // gobgpd absent at start: vtep says so and forwards on.
    let mut running = vtep_process(&ns, &vtep, &config, &socket, &log);
    wait_for("vtep reporting gobgpd unreachable", &log, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("cannot connect"))
    });
    assert!(running.alive(), "vtep runs without gobgpd");
    assert!(ctl(&socket, "evpn").iter().all(|l| l["dir"] == "out"));

    let mut gobgpd = start_gobgpd(&ns, &scratch);
    let multicast = |n: u32| format!("[type:multicast][rd:10.99.0.2:{n}][etag:0][ip:10.99.0.2]");
    wait_for("both type-3 routes in gobgpd's RIB", &log, || {
        rib(&ns)
            .is_some_and(|rib| rib.contains_key(&multicast(1)) && rib.contains_key(&multicast(2)))
    });
    let table = rib(&ns).unwrap();
    for (n, vni, tunnel_type) in [(1, 100, 8), (2, 5000, 19)] {
        let attributes = attributes(&table, &multicast(n));
        let communities = attribute(attributes, 16)["value"].as_array().unwrap();
        assert!(
            communities.contains(
                &serde_json::json!({"type": 0, "subtype": 2, "value": format!("65000:{vni}")})
            ),
            "route target: {communities:?}"
        );
        assert!(
            communities.contains(
                &serde_json::json!({"type": 3, "subtype": 12, "tunnel_type": tunnel_type})
            ),
            "encapsulation: {communities:?}"
        );
        let pmsi = attribute(attributes, 22);
        assert_eq!(pmsi["tunnel-type"], 6, "ingress replication: {pmsi}");
        assert_eq!(pmsi["label"], vni, "label = VNI: {pmsi}");
        assert_eq!(pmsi["tunnel-id"], "10.99.0.2");
        assert_eq!(attribute(attributes, 14)["nexthop"], "10.99.0.2");
    }
    assert!(
        fs::read_to_string(&log)
            .unwrap()
            .contains("connected to gobgpd")
    );

    // Routes of another VTEP, added with the CLI: a flooding remote and an EVPN entry.
    let sockets_before = open_sockets(&running);
    ns.evpn_rib("add multicast 10.99.0.9 etag 0 rd 10.99.0.9:1 rt 65000:100 encap vxlan pmsi ingress-repl 100 10.99.0.9");
    ns.evpn_rib("add macadv 02:00:00:00:00:99 0.0.0.0 etag 0 label 100 rd 10.99.0.9:1 rt 65000:100 encap vxlan nexthop 10.99.0.9");
    let evpn_entry = |socket: &Path| {
        ctl(socket, "fdb").into_iter().any(|e| {
            e["mac"] == "02:00:00:00:00:99" && e["remote"] == "10.99.0.9" && e["origin"] == "evpn"
        })
    };
    wait_for("the type-2 route as an EVPN entry", &log, || {
        evpn_entry(&socket)
    });
    // The listing is rebuilt once a second at most.
    let received_routes = |socket: &Path| -> Vec<Value> {
        ctl(socket, "evpn")
            .into_iter()
            .filter(|l| l["dir"] == "in")
            .collect()
    };
    wait_for("both received routes in the evpn listing", &log, || {
        received_routes(&socket).len() == 2
    });
    let received = received_routes(&socket);
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(
        received
            .iter()
            .any(|l| l["type"] == 3 && l["nexthop"] == "10.99.0.9" && l["vni"] == 100)
    );
    let stats: Value = serde_json::from_str(&control::request(&socket, "stats").unwrap()).unwrap();
    let remotes = stats["segments"]["100"]["remotes"].as_array().unwrap();
    assert!(
        remotes.iter().any(|r| r["ip"] == "10.99.0.9"),
        "{remotes:?}"
    );
    // The new remote has its sending socket.
    assert_eq!(open_sockets(&running), sockets_before + 1);

    // The host behind 10.99.0.9 moves here (RFC 7432 section 15): a frame from it on the
    // TAP moves its entry to the port, and vtep advertises it with sequence number 1.
    send_from_tap(&ns, "02:00:00:00:00:99");
    let ours = "[type:macadv][rd:10.99.0.2:1][etag:0][mac:02:00:00:00:00:99][ip:<nil>]";
    wait_for("the moved MAC advertised", &log, || {
        rib(&ns).is_some_and(|rib| rib.contains_key(ours))
    });
    let table = rib(&ns).unwrap();
    let communities = attribute(attributes(&table, ours), 16)["value"]
        .as_array()
        .unwrap();
    assert!(
        communities
            .iter()
            .any(|c| c["subtype"] == 0 && c["type"] == 6 && c["sequence"] == 1),
        "MAC mobility sequence 1: {communities:?}"
    );
    let moved = ctl(&socket, "fdb")
        .into_iter()
        .find(|e| e["mac"] == "02:00:00:00:00:99")
        .unwrap();
    assert_eq!(
        (&moved["port"], &moved["origin"]),
        (&Value::from("twe0"), &Value::from("learned"))
    );

    // Withdrawn: gone again.
    ns.evpn_rib("del macadv 02:00:00:00:00:99 0.0.0.0 etag 0 label 100 rd 10.99.0.9:1");
    ns.evpn_rib("del multicast 10.99.0.9 etag 0 rd 10.99.0.9:1");
    wait_for("the withdrawn routes gone", &log, || {
        !evpn_entry(&socket) && ctl(&socket, "evpn").iter().all(|l| l["dir"] == "out")
    });
    let stats: Value = serde_json::from_str(&control::request(&socket, "stats").unwrap()).unwrap();
    assert_eq!(stats["segments"]["100"]["remotes"], serde_json::json!([]));
    // And the remote gone, its socket is closed: remotes that come and go for as long as
    // vtep runs leave nothing open behind them.
    assert_eq!(open_sockets(&running), sockets_before);

    // gobgpd restarted with an empty RIB: vtep keeps what it had meanwhile, then
    // reconnects and advertises again; what the new RIB lacks stays for a grace (its
    // peers may not have sent it again yet: the unit tests see it go after).
    ns.evpn_rib("add multicast 10.99.0.11 etag 0 rd 10.99.0.11:1 rt 65000:100 pmsi ingress-repl 100 10.99.0.11");
    let has_remote = |socket: &Path| {
        let stats: Value =
            serde_json::from_str(&control::request(socket, "stats").unwrap()).unwrap();
        stats["segments"]["100"]["remotes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ip"] == "10.99.0.11")
    };
    wait_for("a remote from a type-3 route", &log, || has_remote(&socket));
    gobgpd.stop();
    drop(gobgpd);
    wait_for("vtep noticing gobgpd gone", &log, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("lost"))
    });
    assert!(has_remote(&socket), "routes kept while gobgpd is away");
    let mut gobgpd = start_gobgpd(&ns, &scratch);
    wait_for("re-advertised after gobgpd restarted", &log, || {
        rib(&ns).is_some_and(|rib| {
            rib.contains_key(&multicast(1))
                && rib.contains_key(&multicast(2))
                && rib.contains_key(ours)
        })
    });
    assert!(has_remote(&socket), "a stale route kept for its grace");
    // Logged once every route is added again: a moment after the last one shows in
    // gobgpd's RIB, so waited for too, not read once.
    wait_for("the reconnection logged", &log, || {
        fs::read_to_string(&log).is_ok_and(|text| text.contains("reconnected to gobgpd"))
    });
    assert!(running.alive(), "vtep ran through it all");

    // Frozen, gobgpd keeps its connection open and answers nothing: an idle vtep finds
    // out, and once gobgpd runs again, reconnects and advertises what it learned
    // meanwhile.
    let log_says = |what: &str| fs::read_to_string(&log).is_ok_and(|text| text.contains(what));
    gobgpd.freeze();
    wait_for("vtep noticing gobgpd frozen", &log, || {
        log_says("gobgpd not answering")
    });
    send_from_tap(&ns, "02:00:00:00:00:77");
    gobgpd.thaw();
    let learned = "[type:macadv][rd:10.99.0.2:1][etag:0][mac:02:00:00:00:00:77][ip:<nil>]";
    wait_for(
        "the MAC learned while gobgpd was frozen advertised",
        &log,
        || rib(&ns).is_some_and(|rib| rib.contains_key(learned) && rib.contains_key(ours)),
    );

    // Killed, vtep cannot withdraw: its routes stay in gobgpd. Started again with segment
    // 100 alone, it withdraws what it no longer advertises (segment 5000's type-3 route,
    // the MAC it has not learned again) and keeps the rest.
    running.kill();
    let table = rib(&ns).unwrap();
    assert!(table.contains_key(&multicast(2)) && table.contains_key(ours));
    let smaller = CONFIG.split("\n[[segment]]\nvni = 5000").next().unwrap();
    fs::write(
        &config,
        format!("{smaller}\n[evpn]\ngobgp = \"127.0.0.1:50051\"\nasn = 65000\n"),
    )
    .unwrap();
    let mut running = vtep_process(&ns, &vtep, &config, &socket, &log);
    wait_for("the killed vtep's leftovers withdrawn", &log, || {
        rib(&ns).is_some_and(|rib| {
            rib.contains_key(&multicast(1))
                && !rib.contains_key(&multicast(2))
                && !rib.contains_key(ours)
        })
    });
    // vtep says so once every delete has returned: a moment after the last one shows in
    // gobgpd's RIB, so the log is waited for too, not read once.
    wait_for("the leftovers' withdrawal logged", &log, || {
        log_says("route(s) left in gobgpd by an earlier session withdrawn")
    });

    // Stopped, vtep withdraws its routes.
    running.stop();
    let left = rib(&ns).unwrap();
    assert!(
        left.is_empty(),
        "left in gobgpd: {:?}; vtep said:\n{}",
        left.keys(),
        fs::read_to_string(&log).unwrap_or_default()
    );
    drop(gobgpd);
}

/// Sends a broadcast frame from `mac` into vtep through the TAP, as a host there would.
fn send_from_tap(ns: &Namespace, mac: &str) {
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('twe0', 0))\n\
         s.send(bytes.fromhex('ff' * 6 + '{}' + '88b5' + '00' * 46))\n",
        mac.replace(':', "")
    );
    ns.run(&["python3", "-c", &script]);
}
