//! The control socket against clients that behave and clients that do not, served by
//! hand a turn at a time as the driver's loop serves it.

use super::*;
use crate::linux::control::request;
use crate::linux::control::tests::{switch_with_addresses, switch_with_one_learned_address};

use std::io::Write;
use std::time::Instant;

const NOW: Duration = Duration::from_secs(20);

fn socket_path(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("vtep-control-{test}-{}.sock", std::process::id()))
}

/// One turn of the loop for the socket: poll for at most `wait_ms`, then serve. Returns
/// how long serving took.
fn turn(socket: &mut ControlSocket, switch: &Switch, names: &Names, wait_ms: i32) -> Duration {
    let mut pollfds = Vec::new();
    socket.poll_fds(&mut pollfds);
    // SAFETY: `pollfds` is a live array of `len` pollfd structures.
    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, wait_ms) };
    let start = Instant::now();
    socket.serve(&pollfds, switch, names, NOW);
    start.elapsed()
}

/// Sends `command` through the socket while serving it; returns the reply.
fn ask(socket: &mut ControlSocket, switch: &Switch, names: &Names, command: &str) -> String {
    let path = socket.path.clone();
    let command = command.to_owned();
    let client = std::thread::spawn(move || request(&path, &command).unwrap());
    while !client.is_finished() {
        turn(socket, switch, names, 1);
    }
    client.join().unwrap()
}

/// Whether the server closed `client`'s connection: it reads the end of the stream (or a
/// reset, when it had sent something the server never read).
fn closed(client: &mut UnixStream) -> bool {
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut rest = Vec::new();
    match client.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(error) => error.kind() == io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn the_socket_answers_fdb_stats_and_unknown_commands_then_goes_away() {
    // Pins bind, serve, answer, request, and the removal on drop.
    let (switch, names) = switch_with_one_learned_address();
    let path = socket_path("answers");
    let mut socket = ControlSocket::bind(&path).unwrap();
    assert_eq!(
        ask(&mut socket, &switch, &names, "fdb"),
        super::super::fdb_lines(&switch, &names, NOW)
    );
    let mut answer: Value =
        serde_json::from_str(&ask(&mut socket, &switch, &names, "stats")).unwrap();
    let control = answer.as_object_mut().unwrap().remove("control").unwrap();
    assert_eq!(control, json!({"clients_dropped": 0, "clients_refused": 0}));
    assert_eq!(answer, stats(&switch, &names));
    let refusal: Value = serde_json::from_str(&ask(&mut socket, &switch, &names, "flush")).unwrap();
    assert_eq!(
        refusal["error"],
        "unknown command \"flush\"; try fdb, stats or evpn"
    );
    assert!(
        socket.clients.is_empty(),
        "each client closed once answered"
    );
    drop(socket);
    assert!(!path.exists(), "the socket file is removed on drop");
}

#[test]
fn idle_clients_hold_up_nothing_and_go_after_the_patience() {
    // Served with blocking reads (100 ms each), these 20 held the loop for 2 s a turn.
    let (switch, names) = switch_with_one_learned_address();
    let path = socket_path("idle");
    let mut socket = ControlSocket::bind(&path).unwrap();
    let mut idle: Vec<_> = (0..20)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    let start = Instant::now();
    let mut serving = Duration::ZERO;
    for _ in 0..10 {
        serving += turn(&mut socket, &switch, &names, 0);
    }
    assert_eq!(socket.clients.len(), 20);
    // A client that asks meanwhile is answered.
    assert_eq!(ask(&mut socket, &switch, &names, "fdb").lines().count(), 2);
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "serving took {serving:?}, all in all {:?}",
        start.elapsed()
    );
    // Patience is counted from the last move: not yet gone a moment before it ends.
    socket.tick(NOW + PATIENCE - Duration::from_millis(1));
    assert_eq!(socket.clients.len(), 20);
    socket.tick(NOW + PATIENCE);
    assert!(socket.clients.is_empty());
    assert!(idle.iter_mut().all(closed), "each one closed");
    let answer = ask(&mut socket, &switch, &names, "stats");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["control"]["clients_dropped"], 20);
}

#[test]
fn a_client_that_never_reads_holds_one_part_at_most_and_goes_after_the_patience() {
    // 20k addresses: about 2 MB of fdb, more than the kernel's socket buffer holds.
    let (switch, names) = switch_with_addresses(20_000);
    let path = socket_path("greedy");
    let mut socket = ControlSocket::bind(&path).unwrap();
    let mut greedy = UnixStream::connect(&path).unwrap();
    greedy.write_all(b"fdb\n").unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        slowest = slowest.max(turn(&mut socket, &switch, &names, 0));
    }
    // One pass over the table per part, a few milliseconds each; blocking writes held
    // the loop a second each.
    assert!(
        slowest < Duration::from_millis(200),
        "a turn took {slowest:?}"
    );
    let [client] = &socket.clients[..] else {
        panic!("{} clients", socket.clients.len())
    };
    let reply = client.reply.as_ref().unwrap();
    assert!(reply.fdb.is_some(), "the listing waits for the client");
    let held = reply.bytes.len() - reply.sent;
    assert!(held <= FDB_PART * 100, "{held} bytes held");
    socket.tick(NOW + PATIENCE);
    assert!(socket.clients.is_empty());
    assert!(closed(&mut greedy));
    assert_eq!(socket.dropped.stalled, 1);
}

#[test]
fn a_long_fdb_comes_whole_in_parts_to_a_client_that_reads() {
    let (switch, names) = switch_with_addresses(3 * FDB_PART as u32);
    let path = socket_path("parts");
    let mut socket = ControlSocket::bind(&path).unwrap();
    assert_eq!(
        ask(&mut socket, &switch, &names, "fdb"),
        super::super::fdb_lines(&switch, &names, NOW)
    );
}

#[test]
fn clients_past_the_limit_are_closed_at_once_and_counted() {
    let (switch, names) = switch_with_one_learned_address();
    let path = socket_path("limit");
    let mut socket = ControlSocket::bind(&path).unwrap();
    let mut clients: Vec<_> = (0..MAX_CLIENTS + 3)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    turn(&mut socket, &switch, &names, 0);
    assert_eq!(
        socket.clients.len(),
        ACCEPTS_PER_TURN,
        "a turn accepts so many"
    );
    for _ in 1..MAX_CLIENTS.div_ceil(ACCEPTS_PER_TURN) {
        turn(&mut socket, &switch, &names, 0);
    }
    assert_eq!(socket.clients.len(), MAX_CLIENTS);
    assert_eq!(socket.dropped.refused, 0);
    turn(&mut socket, &switch, &names, 0);
    assert_eq!(socket.clients.len(), MAX_CLIENTS);
    assert_eq!(socket.dropped.refused, 3);
    assert!(clients[MAX_CLIENTS..].iter_mut().all(closed));
}

#[test]
fn the_first_line_is_the_command() {
    let (switch, names) = switch_with_one_learned_address();
    let path = socket_path("line");
    let mut socket = ControlSocket::bind(&path).unwrap();
    let client_path = path.clone();
    let client = std::thread::spawn(move || {
        let mut client = UnixStream::connect(&client_path).unwrap();
        client.write_all(b"stats \r\nflush\n").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        reply
    });
    while !client.is_finished() {
        turn(&mut socket, &switch, &names, 1);
    }
    let reply: Value = serde_json::from_str(&client.join().unwrap()).unwrap();
    assert!(reply["ports"]["tap0"].is_object(), "{reply}");
}
