//! The control socket: `fdb` and `stats` as JSON over a Unix stream socket, one command
//! per connection, as ovs-appctl and `bridge fdb` offer.

// Reached by untrusted bytes: no unchecked indexing, no arithmetic that could overflow,
// except where an `allow` says why it cannot.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

// The crate is no_std; this driver is not.
use std::prelude::rust_2024::*;
use std::{eprintln, format};

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::switch::{Counters, Location, Switch};
use crate::tunnel::TunnelKind;

/// What the control socket needs besides the switch: the ports' device names.
#[derive(Debug, Clone)]
pub struct Names {
    /// Port device names, indexed by `PortId`.
    pub ports: Vec<String>,
    /// Remote addresses, indexed by `RemoteId` (printed IPv4 dotted, IPv6 as RFC 5952
    /// text).
    pub remotes: Vec<IpAddr>,
}

impl Names {
    fn location(&self, location: Location) -> (&'static str, Value) {
        match location {
            Location::Port(port) => ("port", json!(port.of(&self.ports))),
            Location::Remote(remote) => ("remote", json!(remote.of(&self.remotes).to_string())),
        }
    }
}

/// The MAC table as JSON lines: `{"vni":42,"mac":"..","port":"tap0","static":false,"age_secs":3}`.
pub fn fdb_lines(switch: &Switch, names: &Names, now: Duration) -> String {
    let mut entries: Vec<_> = switch.fdb(now).collect();
    entries.sort_by_key(|e| (e.vni, e.mac.0));
    let mut out = String::new();
    for entry in entries {
        let mut object = Map::new();
        object.insert("vni".into(), json!(entry.vni.get()));
        object.insert("mac".into(), json!(entry.mac.to_string()));
        let (key, value) = names.location(entry.location);
        object.insert(key.into(), value);
        object.insert("static".into(), json!(entry.is_static));
        object.insert("age_secs".into(), json!(entry.age.as_secs()));
        out.push_str(&Value::Object(object).to_string());
        out.push('\n');
    }
    out
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

/// The listening side, in the driver's poll loop.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Listens on `path`, replacing a stale socket file there.
    ///
    /// # Errors
    /// The directory does not exist or is not writable.
    pub fn bind(path: &Path) -> io::Result<ControlSocket> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
        })
    }

    /// The listener, to poll.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// Answers every waiting client: reads its one-line command, writes the answer,
    /// closes. A client that sends no command within 100 ms is dropped, so a stuck
    /// client holds up forwarding no longer than that.
    pub fn serve(&self, switch: &Switch, names: &Names, now: Duration) {
        while let Ok((stream, _)) = self.listener.accept() {
            if let Err(error) = answer(stream, switch, names, now) {
                eprintln!("vtep: control client: {error}");
            }
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn answer(stream: UnixStream, switch: &Switch, names: &Names, now: Duration) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    let mut line = String::new();
    BufReader::new(&stream).take(256).read_line(&mut line)?;
    let reply = match line.trim() {
        "fdb" => fdb_lines(switch, names, now),
        "stats" => format!("{}\n", stats(switch, names)),
        other => format!(
            "{}\n",
            json!({ "error": format!("unknown command {other:?}; try fdb or stats") })
        ),
    };
    (&stream).write_all(reply.as_bytes())
}

/// The client side, for `vtep ctl PATH COMMAND`: sends the command, returns the answer.
///
/// # Errors
/// No socket at `path`, or the switch did not answer within 5 seconds.
pub fn request(path: &Path, command: &str) -> io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    Ok(reply)
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

    fn switch_with_one_learned_address() -> (Switch, Names) {
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
        switch.emit(&forward, remote, &mut frame, inner).unwrap();
        let names = Names {
            ports: vec!["tap0".into()],
            remotes: vec!["10.99.0.1".parse().unwrap()],
        };
        (switch, names)
    }

    #[test]
    fn fdb_lines_follow_the_contract() {
        let (switch, names) = switch_with_one_learned_address();
        assert_eq!(
            fdb_lines(&switch, &names, Duration::from_millis(13_500)),
            "{\"vni\":42,\"mac\":\"02:00:00:00:00:01\",\"port\":\"tap0\",\"static\":false,\"age_secs\":3}\n\
             {\"vni\":42,\"mac\":\"02:00:00:00:00:09\",\"remote\":\"10.99.0.1\",\"static\":true,\"age_secs\":0}\n"
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
        };
        assert_eq!(
            fdb_lines(&switch, &names, Duration::ZERO),
            "{\"vni\":42,\"mac\":\"02:00:00:00:00:09\",\"remote\":\"fd00:99::1\",\"static\":true,\"age_secs\":0}\n"
        );
        let stats = stats(&switch, &names);
        assert_eq!(stats["segments"]["42"]["remotes"][0]["ip"], "fd00:99::1");
    }

    /// Sends `command` through the socket at `path` while serving it; returns the reply.
    fn ask(socket: &ControlSocket, switch: &Switch, names: &Names, command: &str) -> String {
        let path = socket.path.clone();
        let command = command.to_owned();
        let client = std::thread::spawn(move || request(&path, &command).unwrap());
        while !client.is_finished() {
            socket.serve(switch, names, Duration::from_millis(13_500));
            std::thread::sleep(Duration::from_millis(1));
        }
        client.join().unwrap()
    }

    #[test]
    fn the_socket_answers_fdb_stats_and_unknown_commands_then_goes_away() {
        // Pins bind (over a stale file), serve, answer, request, and the removal on drop.
        let (switch, names) = switch_with_one_learned_address();
        let path = std::env::temp_dir().join(format!("vtep-control-{}.sock", std::process::id()));
        std::fs::write(&path, b"stale").unwrap();
        let socket = ControlSocket::bind(&path).unwrap();
        assert_eq!(
            ask(&socket, &switch, &names, "fdb"),
            fdb_lines(&switch, &names, Duration::from_millis(13_500))
        );
        assert_eq!(
            ask(&socket, &switch, &names, "stats"),
            format!("{}\n", stats(&switch, &names))
        );
        let refusal: Value = serde_json::from_str(&ask(&socket, &switch, &names, "flush")).unwrap();
        assert_eq!(
            refusal["error"],
            "unknown command \"flush\"; try fdb or stats"
        );
        assert_eq!(
            socket.listener().local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        drop(socket);
        assert!(!path.exists(), "the socket file is removed on drop");
    }
}
