//! The VTEP under test running on a thread of its own, its settings, and what it shows
//! (the control socket's answers, the switch's drop counts, its signalfd).

use std::collections::BTreeMap;
use std::io;
use std::os::unix::thread::JoinHandleExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
use tunnelwire::linux::{Vtep, VtepConfig, control};
use tunnelwire::switch::{Reason, Switch};

use crate::{ARRIVES, NVGRE_PEER, VNI, VTEP, VXLAN_PEER};

/// A `Vtep` running on its own thread.
pub(crate) struct Running {
    thread: thread::JoinHandle<(Vtep, io::Result<()>)>,
    stopped: mpsc::Receiver<()>,
    /// The running thread's id, for its CPU time.
    tid: libc::pid_t,
}

impl Running {
    pub(crate) fn start(mut vtep: Vtep) -> Running {
        let (stopped_tx, stopped) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            // Blocked before `run` blocks them itself, so a SIGTERM sent early waits for
            // its signalfd instead of ending the test process.
            let mut signals = SigSet::empty();
            signals.add(Signal::SIGTERM);
            pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&signals), None).unwrap();
            // SAFETY: gettid takes nothing.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            let result = vtep.run();
            let _ = stopped_tx.send(());
            (vtep, result)
        });
        let tid = tid_rx.recv().unwrap();
        Running {
            thread,
            stopped,
            tid,
        }
    }

    /// Sends `signal` to the running thread.
    pub(crate) fn signal(&self, signal: libc::c_int) {
        // SAFETY: the thread is alive until it has sent `stopped`, which `stop` waits for.
        let rc = unsafe { libc::pthread_kill(self.thread.as_pthread_t(), signal) };
        assert_eq!(rc, 0);
    }

    /// Sends SIGTERM to the running thread and takes the `Vtep` back from it.
    pub(crate) fn stop(self) -> Vtep {
        self.signal(libc::SIGTERM);
        self.stopped
            .recv_timeout(ARRIVES)
            .expect("the VTEP did not stop on SIGTERM");
        let (vtep, result) = self.thread.join().unwrap();
        result.expect("run ends with Ok on SIGTERM");
        vtep
    }

    /// The running thread's CPU time so far (utime + stime), in clock ticks.
    pub(crate) fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/self/task/{}/stat", self.tid)).unwrap();
        // Fields after the parenthesised name: state is field 3, utime 14 and stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

pub(crate) fn config(text: &str) -> VtepConfig {
    VtepConfig::parse(text).unwrap()
}

/// The flags (as /proc/self/fdinfo gives them) of every signalfd the process holds.
pub(crate) fn signalfd_flags() -> Vec<u32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            if target.to_str()? != "anon_inode:[signalfd]" {
                return None;
            }
            let fd = entry.file_name();
            let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.to_str()?));
            let info = info.ok()?;
            let flags = info.lines().find_map(|line| line.strip_prefix("flags:"))?;
            u32::from_str_radix(flags.trim(), 8).ok()
        })
        .collect()
}

/// A control socket path of the test's own.
pub(crate) fn control_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tunnelwire-{test}-{}.sock", std::process::id()))
}

pub(crate) fn fdb(path: &Path) -> BTreeMap<String, serde_json::Value> {
    control::request(path, "fdb")
        .unwrap()
        .lines()
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            (entry["mac"].as_str().unwrap().to_owned(), entry)
        })
        .collect()
}

/// The MAC addresses the segment's table holds, expired or not (the control socket's
/// `stats`).
pub(crate) fn mac_entries(path: &Path) -> u64 {
    let stats: serde_json::Value =
        serde_json::from_str(&control::request(path, "stats").unwrap()).unwrap();
    stats["segments"][VNI.to_string()]["mac_entries"]
        .as_u64()
        .unwrap()
}

pub(crate) fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// Every frame counted under `reason`, wherever it was charged.
pub(crate) fn dropped(switch: &Switch, reason: Reason) -> u64 {
    let ports: u64 = switch
        .ports()
        .map(|p| switch.port_counters(p).get(reason))
        .sum();
    let remotes: u64 = switch
        .remotes()
        .map(|(id, ..)| switch.remote_counters(id).get(reason))
        .sum();
    ports + remotes + switch.underlay_counters().get(reason)
}

/// One access port on segment 5000, which has a VXLAN remote and an NVGRE remote: the VTEP
/// is also a VXLAN<->NVGRE gateway. The underlay MTU (1000) leaves 964 bytes for a frame sent over VXLAN.
pub(crate) fn gateway(port: &str, segment_extra: &str) -> VtepConfig {
    config(&format!(
        r#"
[underlay]
local_ip = "{VTEP}"
nvgre = true
mtu = 1000

[[port]]
name = "{port}"
vni = {VNI}
mtu = 1500

[[segment]]
vni = {VNI}
{segment_extra}

[[segment.remote]]
ip = "{VXLAN_PEER}"

[[segment.remote]]
ip = "{NVGRE_PEER}"
encap = "nvgre"
"#
    ))
}
