//! The control socket: `fdb` and `stats` as JSON over a Unix stream socket, one command
//! per connection, as ovs-appctl and `bridge fdb` offer. This file writes the answers
//! and asks as a client; the server, which never holds up forwarding, is
//! [`ControlSocket`].

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::format;
use std::prelude::rust_2024::*;

use std::collections::BinaryHeap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::switch::{Counters, FdbEntry, Location, Switch};
use crate::tunnel::TunnelKind;

mod listen;
mod server;

pub use server::ControlSocket;

/// What the control socket needs besides the switch: the ports' device names.
#[derive(Debug, Clone)]
pub struct Names {
    /// Port device names, indexed by `PortId`.
    pub ports: Vec<String>,
    /// Remote addresses, indexed by `RemoteId` (printed IPv4 dotted, IPv6 as RFC 5952
    /// text).
    pub remotes: Vec<IpAddr>,
    /// The EVPN routes sent and received as JSON lines, when `[evpn]` is on.
    pub evpn: Option<String>,
}

impl Names {
    fn location(&self, location: Location) -> (&'static str, Value) {
        match location {
            Location::Port(port) => ("port", json!(port.of(&self.ports))),
            Location::Remote(remote) => ("remote", json!(remote.of(&self.remotes).to_string())),
        }
    }
}

/// The MAC table as JSON lines, in (VNI, MAC) order:
/// `{"vni":42,"mac":"..","port":"tap0","static":false,"origin":"learned","age_secs":3}`.
pub fn fdb_lines(switch: &Switch, names: &Names, now: Duration) -> String {
    let mut out = Vec::new();
    let mut listing = FdbListing::default();
    while listing.write_next(switch, names, now, usize::MAX, &mut out) {}
    // Only JSON, UTF-8 throughout, was written.
    String::from_utf8(out).unwrap_or_default()
}

/// Where an entry sits in an `fdb` listing: (VNI, MAC).
type FdbKey = (u32, [u8; 6]);

/// An `fdb` listing written a part at a time: each part holds the entries that follow the
/// last one written, in (VNI, MAC) order, as the table is when the part is written (as
/// `bridge fdb` dumps over netlink, the whole is not one snapshot). Keeps a key, not a
/// copy of the table, so a client that reads slowly holds no memory.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FdbListing {
    after: Option<FdbKey>,
}

/// An entry ordered by its key alone, for the heap that picks a part's entries.
struct Keyed(FdbKey, FdbEntry);

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for Keyed {}

impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl FdbListing {
    /// Appends the next (at most) `limit` entries to `out` as JSON lines; false when
    /// they were the last. One pass over the table, keeping the `limit` smallest keys
    /// after the last written in a heap: time linear in the table, memory in `limit`.
    pub(crate) fn write_next(
        &mut self,
        switch: &Switch,
        names: &Names,
        now: Duration,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut part = BinaryHeap::new();
        for entry in switch.fdb(now) {
            let key = (entry.vni.get(), entry.mac.0);
            if self.after.is_some_and(|after| key <= after) {
                continue;
            }
            if part.len() < limit {
                part.push(Keyed(key, entry));
            } else if part.peek().is_some_and(|largest| key < largest.0) {
                part.pop();
                part.push(Keyed(key, entry));
            }
        }
        let full = part.len() == limit;
        for Keyed(key, entry) in part.into_sorted_vec() {
            write_entry(&entry, names, out);
            self.after = Some(key);
        }
        full
    }
}

/// One `fdb` line, its keys in the contract's order whatever serde_json's map keeps.
fn write_entry(entry: &FdbEntry, names: &Names, out: &mut Vec<u8>) {
    let (key, value) = names.location(entry.location);
    // Writing to a Vec cannot fail.
    let _ = writeln!(
        out,
        "{{\"vni\":{},\"mac\":\"{}\",\"{key}\":{value},\"static\":{},\"origin\":\"{}\",\"age_secs\":{}}}",
        entry.vni.get(),
        entry.mac,
        entry.is_static,
        entry.origin.name(),
        entry.age.as_secs()
    );
}

fn counters(counters: &Counters) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("frames_in".into(), json!(counters.frames_in));
    object.insert("bytes_in".into(), json!(counters.bytes_in));
    object.insert("frames_out".into(), json!(counters.frames_out));
    object.insert("bytes_out".into(), json!(counters.bytes_out));
    object.insert("mac_moves".into(), json!(counters.mac_moves));
    for (reason, count) in counters.reasons() {
        object.insert(reason.name().into(), json!(count));
    }
    object
}

/// Every counter as one JSON object:
/// `{"ports":{"tap0":{..}},"segments":{"42":{..,"remotes":[{"ip":..,"encap":..,..}]}},"underlay":{..}}`.
pub fn stats(switch: &Switch, names: &Names) -> Value {
    let mut ports = Map::new();
    for (index, name) in names.ports.iter().enumerate() {
        let id = crate::switch::PortId(index as u16);
        ports.insert(
            name.clone(),
            Value::Object(counters(switch.port_counters(id))),
        );
    }
    let mut segments = Map::new();
    for (segment, vni) in switch.segments() {
        let mut object = counters(switch.segment_counters(segment));
        let remotes: Vec<Value> = switch
            .remotes()
            .filter(|&(_, v, _, _)| v == vni)
            .map(|(id, _, ip, kind)| {
                let mut remote = Map::new();
                remote.insert("ip".into(), json!(ip.to_string()));
                let encap = match kind {
                    TunnelKind::Vxlan => "vxlan",
                    TunnelKind::Nvgre => "nvgre",
                    TunnelKind::Geneve => "geneve",
                };
                remote.insert("encap".into(), json!(encap));
                remote.extend(counters(switch.remote_counters(id)));
                Value::Object(remote)
            })
            .collect();
        object.insert(
            "mac_entries".into(),
            json!(switch.mac_table().segment_len(segment)),
        );
        object.insert("remotes".into(), Value::Array(remotes));
        segments.insert(vni.to_string(), Value::Object(object));
    }
    json!({
        "ports": ports,
        "segments": segments,
        "underlay": counters(switch.underlay_counters()),
    })
}

/// The client side, for `vtep ctl PATH COMMAND`: sends the command, returns the answer.
///
/// # Errors
/// As [`request_to`]; `InvalidData` for an answer that is not UTF-8.
pub fn request(path: &Path, command: &str) -> io::Result<String> {
    let mut reply = Vec::new();
    request_to(path, command, &mut reply)?;
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Sends the command and copies the answer to `out` as it arrives, so a long `fdb`
/// needs no room for the whole of it.
///
/// # Errors
/// No socket at `path`; the switch went 5 seconds without sending a byte; what `out`
/// reports.
pub fn request_to(path: &Path, command: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    io::copy(&mut stream, out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::VtepConfig;
    use crate::switch::{Ingress, PortId};
    use crate::tunnel::HEADROOM;

    const CONFIG: &str = r#"
[underlay]
local_ip = "10.99.0.2"
[[port]]
name = "tap0"
vni = 42
[[segment]]
vni = 42
[[segment.remote]]
ip = "10.99.0.1"
[[segment.static]]
mac = "02:00:00:00:00:09"
remote = "10.99.0.1"
"#;

    pub(super) fn switch_with_one_learned_address() -> (Switch, Names) {
        let mut switch = VtepConfig::parse(CONFIG).unwrap().build(0).unwrap();
        let mut frame = vec![0u8; HEADROOM + 60];
        frame[HEADROOM..HEADROOM + 6].copy_from_slice(&[0xff; 6]);
        frame[HEADROOM + 6..HEADROOM + 12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        let port = Ingress::Port(PortId(0));
        let now = Duration::from_secs(10);
        let verdict = switch.receive(now, port, &mut frame, HEADROOM..HEADROOM + 60);
        let crate::switch::Verdict::Forward(forward) = verdict else {
            panic!("flooded to the remote")
        };
        let remote = switch.targets()[0];
        let inner = forward.frame.clone();
        let sent = switch.emit(&forward, remote, &mut frame, inner).unwrap();
        switch.count_sent(&forward, remote, sent.len());
        let names = Names {
            ports: vec!["tap0".into()],
            remotes: vec!["10.99.0.1".parse().unwrap()],
            evpn: None,
        };
        (switch, names)
    }

    /// The one-address switch with `n` more addresses learned on tap0, in no order.
    pub(super) fn switch_with_addresses(n: u32) -> (Switch, Names) {
        let (mut switch, names) = switch_with_one_learned_address();
        let mut frame = vec![0u8; HEADROOM + 60];
        for i in 0..n {
            // An odd factor permutes the 24-bit numbers: the table sees them unsorted.
            let [_, a, b, c] = (i.wrapping_mul(0x9e37_79b1) & 0x00ff_ffff).to_be_bytes();
            frame[HEADROOM..HEADROOM + 6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            frame[HEADROOM + 6..HEADROOM + 12].copy_from_slice(&[2, 0x10, 0, a, b, c]);
            // To the address behind tap0 itself: learned, then filtered.
            let port = Ingress::Port(PortId(0));
            let now = Duration::from_secs(11);
            switch.receive(now, port, &mut frame, HEADROOM..HEADROOM + 60);
        }
        (switch, names)
    }

    #[test]
    fn an_fdb_listing_in_parts_is_the_whole_table_in_order() {
        // 2502 entries: parts of 1000, 1000 and 502, then nothing more.
        let (switch, names) = switch_with_addresses(2500);
        let now = Duration::from_secs(12);
        let mut listing = FdbListing::default();
        let mut parts = Vec::new();
        loop {
            let mut part = Vec::new();
            let more = listing.write_next(&switch, &names, now, 1000, &mut part);
            parts.push((String::from_utf8(part).unwrap(), more));
            if !more {
                break;
            }
        }
        let counts: Vec<_> = parts
            .iter()
            .map(|(p, more)| (p.lines().count(), *more))
            .collect();
        assert_eq!(counts, [(1000, true), (1000, true), (502, false)]);
        let whole: String = parts.into_iter().map(|(p, _)| p).collect();
        assert_eq!(whole, fdb_lines(&switch, &names, now));
        let keys: Vec<(u64, String)> = whole
            .lines()
            .map(|line| {
                let entry: Value = serde_json::from_str(line).unwrap();
                (
                    entry["vni"].as_u64().unwrap(),
                    entry["mac"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted, each once");
        // A part that ends exactly at the table's end: the next finds nothing more.
        let mut listing = FdbListing::default();
        assert!(listing.write_next(&switch, &names, now, 2502, &mut Vec::new()));
        let mut rest = Vec::new();
        assert!(!listing.write_next(&switch, &names, now, 2502, &mut rest));
        assert!(rest.is_empty());
    }

    #[test]
    fn an_fdb_line_names_its_entrys_own_origin() {
        let (mut switch, names) = switch_with_one_learned_address();
        let (remote, vni, ..) = switch.remotes().next().unwrap();
        let mac = crate::wire::MacAddr([2, 0, 0, 0, 0, 0x0a]);
        let evpn = crate::switch::Origin::Evpn;
        assert_eq!(
            switch.add_entry(vni, mac, Location::Remote(remote), evpn),
            Ok(true)
        );
        let lines = fdb_lines(&switch, &names, Duration::from_secs(10));
        assert!(
            lines.contains(
                "{\"vni\":42,\"mac\":\"02:00:00:00:00:0a\",\"remote\":\"10.99.0.1\",\"static\":true,\"origin\":\"evpn\",\"age_secs\":0}\n"
            ),
            "{lines}"
        );
        let origins: Vec<_> = lines
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap()["origin"].clone())
            .collect();
        assert_eq!(origins, ["learned", "static", "evpn"]);
    }

    #[test]
    fn fdb_lines_follow_the_contract() {
        let (switch, names) = switch_with_one_learned_address();
        assert_eq!(
            fdb_lines(&switch, &names, Duration::from_millis(13_500)),
            "{\"vni\":42,\"mac\":\"02:00:00:00:00:01\",\"port\":\"tap0\",\"static\":false,\"origin\":\"learned\",\"age_secs\":3}\n\
             {\"vni\":42,\"mac\":\"02:00:00:00:00:09\",\"remote\":\"10.99.0.1\",\"static\":true,\"origin\":\"static\",\"age_secs\":0}\n"
        );
        // Aged out (300 s by default): gone at once.
        assert_eq!(
            fdb_lines(&switch, &names, Duration::from_secs(310))
                .lines()
                .count(),
            1
        );
    }

    #[test]
    fn stats_hold_every_counter_per_port_segment_and_remote() {
        let (switch, names) = switch_with_one_learned_address();
        let stats = stats(&switch, &names);
        let names = [
            "frames_in",
            "bytes_in",
            "frames_out",
            "bytes_out",
            "mac_moves",
            "unknown_source",
            "mac_limit",
            "mtu",
            "malformed",
            "vlan",
            "isolated",
            "split_horizon",
            "no_buffer",
            "write_failed",
        ];
        let port = &stats["ports"]["tap0"];
        let segment = &stats["segments"]["42"];
        let remote = &segment["remotes"][0];
        for name in names {
            for object in [port, segment, remote, &stats["underlay"]] {
                assert!(object[name].is_u64(), "{name} in {object}");
            }
        }
        assert_eq!(
            (port["frames_in"].as_u64(), port["bytes_in"].as_u64()),
            (Some(1), Some(60))
        );
        assert_eq!(remote["ip"], "10.99.0.1");
        assert_eq!(remote["encap"], "vxlan");
        assert_eq!(remote["frames_out"].as_u64(), Some(1));
        assert_eq!(segment["mac_entries"].as_u64(), Some(2));
    }

    #[test]
    fn ipv6_remotes_print_as_rfc_5952_text() {
        let config = CONFIG
            .replacen(
                "local_ip = \"10.99.0.2\"",
                "local_ip = \"10.99.0.2\"\nlocal_ip6 = \"fd00:99::2\"",
                1,
            )
            .replace("10.99.0.1", "FD00:0099:0000:0000:0000:0000:0000:0001");
        let switch = VtepConfig::parse(&config).unwrap().build(0).unwrap();
        let names = Names {
            ports: vec!["tap0".into()],
            remotes: switch.remotes().map(|(_, _, ip, _)| ip).collect(),
            evpn: None,
        };
        assert_eq!(
            fdb_lines(&switch, &names, Duration::ZERO),
            "{\"vni\":42,\"mac\":\"02:00:00:00:00:09\",\"remote\":\"fd00:99::1\",\"static\":true,\"origin\":\"static\",\"age_secs\":0}\n"
        );
        let stats = stats(&switch, &names);
        assert_eq!(stats["segments"]["42"]["remotes"][0]["ip"], "fd00:99::1");
    }
}
