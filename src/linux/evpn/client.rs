//! The gRPC session with gobgpd, on its own thread with a current-thread tokio runtime:
//! the run loop never waits on it.
//!
//! The thread keeps what vtep advertises (the run loop's [`ToBgp`] orders). Once
//! connected, it watches best paths from the current ones on (`WatchEvent`, filter BEST
//! with `init`), then adds everything it keeps to gobgpd's global RIB. The first table
//! event of a watch is gobgpd's whole RIB: it goes to the run loop as
//! [`FromBgp::Resync`], so routes from an earlier session stay until the new one says
//! otherwise; later events go one path at a time. Routes of vtep's own in that dump that
//! it no longer advertises (a vtep killed before it withdrew them) are withdrawn. A failure at the start (gobgpd
//! absent, not started, refusing the watch or a path) or a broken watch (gobgpd
//! stopped or restarted) ends the session: the thread logs it once per change of
//! state, waits (0.5 s, doubling to 30 s but for the 15 s after a session was lost, when
//! gobgpd may be restarting), connects again and re-advertises everything.
//! A path refused during a session is logged and kept for the next one. A gobgpd that
//! stops answering (frozen, or its host cut off: the TCP connection stays up) ends the
//! session too: a call that times out does, and an idle session asks gobgpd for its
//! settings every 10 s to find out (HTTP/2 pings would do it with less, but gRPC servers
//! by default answer a client that pings an idle connection more than every 5 minutes
//! with GOAWAY "too_many_pings").

// The crate is no_std; this driver is not. No glob of std's prelude: with it,
// tokio::select!'s `panic!` would name two macros.
use std::string::{String, ToString};
use std::vec::Vec;
use std::{eprintln, format, vec};

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError};
use tonic::client::Grpc;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

use super::api;
use super::routes::{self, Key, Parsed, Rd, Route};

/// What the run loop asks of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToBgp {
    /// Advertise this route (replacing the one of the same key).
    Advertise(Route),
    /// Withdraw the route of this key.
    Withdraw(Key),
}

/// What the session tells the run loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromBgp {
    /// Every route gobgpd holds for vtep's route targets, at the start of a session.
    Resync(Vec<Route>),
    /// A new or changed route.
    Add(Route),
    /// A route withdrawn.
    Withdraw(Key),
}

/// The first wait before connecting again.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest wait before connecting again.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long after a session was lost the waits stay at [`BACKOFF_MIN`]: a gobgpd that
/// restarts is back within seconds, and vtep must have advertised its routes again
/// before the new gobgpd's BGP sessions come up (a few seconds later): its End-of-RIB
/// then ends the graceful restart at its peers, which withdraw every route of vtep's not
/// sent again by then. Doubling from the loss, the attempts came 0.5, 1.5, 3.5 and
/// 7.5 s after it: in the EVPN lab's scenario e (gobgpd started again 3 s after it was
/// killed, its session up 5 s later), one run under load found v1's MAC entry missing
/// at v2 and at the kernel once the session was up, as if the attempt at 3.5 s had come
/// just before gobgpd answered.
const RESTART_WINDOW: Duration = Duration::from_secs(15);
/// How long a connection attempt or a call may take before the session is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a session asks gobgpd whether it still answers: a frozen gobgpd is found
/// within this and `CALL_TIMEOUT`.
const PROBE_INTERVAL: Duration = Duration::from_secs(10);

/// The session's settings and its two ends toward the run loop.
pub struct Session {
    /// gobgpd's gRPC address.
    pub gobgp: SocketAddr,
    /// The AS of the route targets.
    pub asn: u16,
    /// The router id in vtep's route distinguishers: what marks a route in gobgpd's RIB
    /// as vtep's own.
    pub router_id: Ipv4Addr,
    /// The run loop's orders.
    pub orders: UnboundedReceiver<ToBgp>,
    /// Where reports go.
    pub reports: mpsc::Sender<FromBgp>,
    /// Written a byte after each report: the run loop polls the other end.
    pub wake: UnixStream,
    /// Dropped when the session ends: the run loop waits for that when it stops.
    pub done: mpsc::Sender<()>,
}

/// Runs the session until the run loop goes (its end of `orders` closed).
pub fn run(mut session: Session) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("vtep: evpn: cannot start the gRPC runtime: {error}; EVPN is off");
            return;
        }
    };
    runtime.block_on(async move {
        let mut advertised = BTreeMap::new();
        let mut backoff = BACKOFF_MIN;
        let mut last_error = None;
        let mut connected_once = false;
        let mut lost_at: Option<Instant> = None;
        loop {
            match connect_and_serve(&mut session, &mut advertised, &mut connected_once).await {
                Ended::RunLoopGone => return,
                Ended::Failed(error) => {
                    if last_error.as_ref() != Some(&error) {
                        eprintln!(
                            "vtep: evpn: gobgpd at {}: {error}; retrying with backoff \
                             (forwarding goes on with the routes known)",
                            session.gobgp
                        );
                        last_error = Some(error);
                    }
                }
                Ended::Lost(error) => {
                    eprintln!(
                        "vtep: evpn: session with gobgpd at {} lost: {error}; reconnecting",
                        session.gobgp
                    );
                    last_error = None;
                    lost_at = Some(Instant::now());
                }
            }
            let pause = pause(backoff, lost_at, Instant::now());
            // Orders keep coming while disconnected: the advertised set stays current.
            if wait(pause, &mut session.orders, &mut advertised)
                .await
                .is_err()
            {
                return;
            }
            backoff = pause.saturating_mul(2).min(BACKOFF_MAX);
        }
    });
}

/// The wait before the next attempt at `now`, the backoff reached being `backoff`: the
/// shortest for [`RESTART_WINDOW`] after a session was lost (at `lost_at`), when gobgpd
/// may be restarting; else `backoff`.
fn pause(backoff: Duration, lost_at: Option<Instant>, now: Instant) -> Duration {
    if lost_at.is_some_and(|at| now.saturating_duration_since(at) < RESTART_WINDOW) {
        BACKOFF_MIN
    } else {
        backoff
    }
}

/// Waits `backoff`, taking the orders that come meanwhile; `Err` as soon as the run
/// loop is gone.
async fn wait(
    backoff: Duration,
    orders: &mut UnboundedReceiver<ToBgp>,
    advertised: &mut BTreeMap<Key, Route>,
) -> Result<(), ()> {
    let sleep = tokio::time::sleep(backoff);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            () = &mut sleep => return Ok(()),
            order = orders.recv() => match order {
                Some(order) => apply(advertised, &order),
                None => return Err(()),
            },
        }
    }
}

/// Why a session ended.
enum Ended {
    /// The run loop is gone: vtep is stopping.
    RunLoopGone,
    /// It never came up (gobgpd unreachable, or a call refused at start).
    Failed(String),
    /// It was up, then broke.
    Lost(String),
}

/// Takes every order waiting, applying it to `advertised`; `Err` when the run loop is gone.
fn drain_orders(
    orders: &mut UnboundedReceiver<ToBgp>,
    advertised: &mut BTreeMap<Key, Route>,
) -> Result<(), ()> {
    loop {
        match orders.try_recv() {
            Ok(order) => apply(advertised, &order),
            Err(TryRecvError::Empty) => return Ok(()),
            Err(TryRecvError::Disconnected) => return Err(()),
        }
    }
}

fn apply(advertised: &mut BTreeMap<Key, Route>, order: &ToBgp) {
    match order {
        ToBgp::Advertise(route) => {
            advertised.insert(route.key(), route.clone());
        }
        ToBgp::Withdraw(key) => {
            advertised.remove(key);
        }
    }
}

const ADD_PATH: &str = "/apipb.GobgpApi/AddPath";
const DELETE_PATH: &str = "/apipb.GobgpApi/DeletePath";
const WATCH_EVENT: &str = "/apipb.GobgpApi/WatchEvent";
const GET_BGP: &str = "/apipb.GobgpApi/GetBgp";

async fn connect_and_serve(
    session: &mut Session,
    advertised: &mut BTreeMap<Key, Route>,
    connected_once: &mut bool,
) -> Ended {
    let endpoint = match Endpoint::from_shared(format!("http://{}", session.gobgp)) {
        // No channel-wide timeout: the watch lives as long as the session; each
        // AddPath and DeletePath has its own.
        Ok(endpoint) => endpoint.connect_timeout(CALL_TIMEOUT),
        Err(error) => return Ended::Failed(format!("bad address: {error}")),
    };
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(error) => return Ended::Failed(format!("cannot connect ({})", cause(&error))),
    };
    let mut grpc = Grpc::new(channel);
    // Watch first, so that nothing added between the advertisements and the watch is
    // missed; the init dump then shows vtep's own routes too, which the run loop
    // recognises by their route distinguisher.
    // A gobgpd that has no global configuration yet holds the call until it has one:
    // the session is then retried, and the wait logged.
    let mut stream = match tokio::time::timeout(CALL_TIMEOUT, watch(&mut grpc)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => {
            return Ended::Failed(format!("WatchEvent refused: {}", status(&error)));
        }
        Err(_) => {
            return Ended::Failed(format!(
                "WatchEvent unanswered after {CALL_TIMEOUT:?} (is gobgpd's BGP server \
                 started, with a global AS and router id?)"
            ));
        }
    };
    if drain_orders(&mut session.orders, advertised).is_err() {
        return Ended::RunLoopGone;
    }
    for route in advertised.values() {
        if let Err(error) = add(&mut grpc, route, session.asn).await {
            return Ended::Failed(format!("AddPath refused: {}", status(&error)));
        }
    }
    eprintln!(
        "vtep: evpn: {} gobgpd at {}: {} route(s) advertised, watching best paths",
        if *connected_once {
            "reconnected to"
        } else {
            "connected to"
        },
        session.gobgp,
        advertised.len()
    );
    *connected_once = true;
    let mut first = true;
    let mut refused = 0usize;
    // The first tick is at once: one call more per session.
    let mut probe = tokio::time::interval(PROBE_INTERVAL);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = probe.tick() => {
                // Refused, too, it ends the session: a gobgpd without its global
                // settings (restarted bare) cannot hold vtep's routes.
                if let Err(error) = get_bgp(&mut grpc).await {
                    let why = if unanswered(&error) {
                        "gobgpd not answering"
                    } else {
                        "gobgpd refused GetBgp"
                    };
                    return Ended::Lost(with_refused(
                        format!("{why} ({})", status(&error)),
                        refused,
                    ));
                }
            }
            order = session.orders.recv() => {
                let Some(order) = order else {
                    withdraw_all(&mut grpc, advertised, session.asn).await;
                    return Ended::RunLoopGone;
                };
                let sent = match order {
                    ToBgp::Advertise(route) => {
                        let sent = add(&mut grpc, &route, session.asn).await;
                        advertised.insert(route.key(), route);
                        sent
                    }
                    // gobgpd withdraws by the path as it was added.
                    ToBgp::Withdraw(key) => match advertised.remove(&key) {
                        Some(route) => delete(&mut grpc, &route, session.asn).await,
                        None => Ok(()),
                    },
                };
                // One refused path does not end the session (a connection that broke
                // ends it through the watch); it is kept, and advertised again by the
                // next session. Logged once per session, then counted. A call that got no
                // answer is no refusal: whether gobgpd took it is unknown, and the next
                // session settles it (everything advertised again, leftovers withdrawn).
                if let Err(error) = sent {
                    if unanswered(&error) {
                        return Ended::Lost(with_refused(
                            format!("gobgpd not answering ({})", status(&error)),
                            refused,
                        ));
                    }
                    refused = refused.saturating_add(1);
                    if refused == 1 {
                        eprintln!("vtep: evpn: gobgpd refused a path: {}", status(&error));
                    }
                }
            }
            event = stream.message() => {
                let paths = match event {
                    Ok(Some(event)) => match event.table {
                        Some(table) => table.paths,
                        None => continue,
                    },
                    Ok(None) => return Ended::Lost(with_refused("gobgpd ended the watch".into(), refused)),
                    Err(error) => return Ended::Lost(with_refused(status(&error), refused)),
                };
                let parsed = parse(&paths, session.asn);
                if first {
                    withdraw_leftovers(&mut grpc, session, &parsed, advertised).await;
                }
                if !report(session, parsed, first) {
                    return Ended::RunLoopGone;
                }
                first = false;
            }
        }
    }
}

/// Why a session was lost, and how many paths gobgpd refused during it.
fn with_refused(why: String, refused: usize) -> String {
    match refused {
        0 => why,
        n => format!("{why} ({n} path(s) refused during the session)"),
    }
}

/// How long withdrawing everything may take when vtep stops.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// Withdraws every route advertised, as vtep stops: peers stop sending to a VTEP that
/// is gone (gobgpd keeps a path added through its API until it is deleted).
async fn withdraw_all(grpc: &mut Grpc<Channel>, advertised: &BTreeMap<Key, Route>, asn: u16) {
    let all = async {
        let mut withdrawn = 0usize;
        for route in advertised.values() {
            if delete(grpc, route, asn).await.is_err() {
                break;
            }
            withdrawn = withdrawn.saturating_add(1);
        }
        withdrawn
    };
    match tokio::time::timeout(STOP_TIMEOUT, all).await {
        Ok(withdrawn) => eprintln!(
            "vtep: evpn: stopping: {withdrawn} of {} route(s) withdrawn",
            advertised.len()
        ),
        Err(_) => eprintln!("vtep: evpn: stopping: gobgpd too slow, routes left in it"),
    }
}

/// The paths of a table event as routes; a path that is not one of vtep's kinds is
/// logged and left out.
fn parse(paths: &[api::Path], asn: u16) -> Vec<Parsed> {
    let mut parsed = Vec::new();
    for path in paths {
        match routes::parse(path, asn) {
            Ok(route) => parsed.push(route),
            Err(error) => eprintln!("vtep: evpn: a path from gobgpd ignored: {error}"),
        }
    }
    parsed
}

/// Withdraws the routes of vtep's own (its router id in their route distinguisher) that
/// gobgpd's RIB holds at the start of a session but vtep does not advertise: left by a
/// vtep that was killed before it could withdraw them, or withdrawn while gobgpd was
/// unreachable. Without this, peers would go on sending to hosts no longer here. gobgpd
/// deletes only paths added through its API, so a peer's route is never touched.
async fn withdraw_leftovers(
    grpc: &mut Grpc<Channel>,
    session: &Session,
    rib: &[Parsed],
    advertised: &BTreeMap<Key, Route>,
) {
    let (mut withdrawn, mut refused) = (0usize, None);
    for route in leftovers(rib, session.router_id, advertised) {
        match delete(grpc, route, session.asn).await {
            Ok(()) => withdrawn = withdrawn.saturating_add(1),
            Err(error) => refused = Some(error),
        }
    }
    if withdrawn > 0 {
        eprintln!(
            "vtep: evpn: {withdrawn} route(s) left in gobgpd by an earlier session withdrawn"
        );
    }
    if let Some(error) = refused {
        eprintln!(
            "vtep: evpn: gobgpd refused to withdraw a leftover route: {}",
            status(&error)
        );
    }
}

/// The routes of `rib` with `router_id` in their route distinguisher that are not in
/// `advertised`.
fn leftovers<'a>(
    rib: &'a [Parsed],
    router_id: Ipv4Addr,
    advertised: &'a BTreeMap<Key, Route>,
) -> impl Iterator<Item = &'a Route> {
    rib.iter().filter_map(move |p| match p {
        Parsed::Add(route)
            if matches!(route.rd, Rd::Ip(id, _) if id == router_id)
                && !advertised.contains_key(&route.key()) =>
        {
            Some(route)
        }
        _ => None,
    })
}

/// Sends the routes of a table event to the run loop; false when it is gone.
fn report(session: &Session, parsed: Vec<Parsed>, init: bool) -> bool {
    let reports: Vec<FromBgp> = if init {
        let routes = parsed
            .into_iter()
            .filter_map(|p| match p {
                Parsed::Add(route) => Some(route),
                Parsed::Withdraw(_) | Parsed::Ignored => None,
            })
            .collect();
        vec![FromBgp::Resync(routes)]
    } else {
        parsed
            .into_iter()
            .filter_map(|p| match p {
                Parsed::Add(route) => Some(FromBgp::Add(route)),
                Parsed::Withdraw(key) => Some(FromBgp::Withdraw(key)),
                Parsed::Ignored => None,
            })
            .collect()
    };
    for report in reports {
        if session.reports.send(report).is_err() {
            return false;
        }
    }
    // A full pipe already wakes the run loop; any other failure leaves it to its tick.
    let _ = (&session.wake).write(&[1]);
    true
}

async fn watch(
    grpc: &mut Grpc<Channel>,
) -> Result<tonic::codec::Streaming<api::WatchEventResponse>, tonic::Status> {
    ready(grpc).await?;
    let request = api::WatchEventRequest {
        table: Some(api::WatchTable {
            filters: vec![api::WatchFilter {
                r#type: api::FILTER_BEST,
                init: true,
            }],
        }),
    };
    let codec = ProstCodec::<api::WatchEventRequest, api::WatchEventResponse>::default();
    let response = grpc
        .server_streaming(
            tonic::Request::new(request),
            PathAndQuery::from_static(WATCH_EVENT),
            codec,
        )
        .await?;
    Ok(response.into_inner())
}

async fn add(grpc: &mut Grpc<Channel>, route: &Route, asn: u16) -> Result<(), tonic::Status> {
    ready(grpc).await?;
    let request = api::AddPathRequest {
        table_type: api::TABLE_GLOBAL,
        path: Some(routes::path(route, asn)),
    };
    let codec = ProstCodec::<api::AddPathRequest, api::AddPathResponse>::default();
    grpc.unary(call(request), PathAndQuery::from_static(ADD_PATH), codec)
        .await
        .map(drop)
}

async fn delete(grpc: &mut Grpc<Channel>, route: &Route, asn: u16) -> Result<(), tonic::Status> {
    ready(grpc).await?;
    let mut path = routes::path(route, asn);
    path.is_withdraw = true;
    let request = api::DeletePathRequest {
        table_type: api::TABLE_GLOBAL,
        family: Some(api::Family::EVPN),
        path: Some(path),
    };
    let codec = ProstCodec::<api::DeletePathRequest, api::Empty>::default();
    grpc.unary(call(request), PathAndQuery::from_static(DELETE_PATH), codec)
        .await
        .map(drop)
}

/// Asks gobgpd for its global settings, to learn that it answers (the reply is not
/// read).
async fn get_bgp(grpc: &mut Grpc<Channel>) -> Result<(), tonic::Status> {
    ready(grpc).await?;
    // `GetBgpRequest` has no fields; the reply's (gobgpd's AS, router id, ...) are
    // skipped by decoding it as a message of none.
    let codec = ProstCodec::<api::Empty, api::Empty>::default();
    grpc.unary(
        call(api::Empty {}),
        PathAndQuery::from_static(GET_BGP),
        codec,
    )
    .await
    .map(drop)
}

/// True when a call failed for want of an answer (its deadline passed, the connection
/// broke) rather than by gobgpd's refusal.
fn unanswered(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Cancelled | tonic::Code::DeadlineExceeded | tonic::Code::Unavailable
    )
}

/// A unary call's request, with its deadline.
fn call<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

async fn ready(grpc: &mut Grpc<Channel>) -> Result<(), tonic::Status> {
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(format!("not ready: {}", cause(&e))))
}

/// A gRPC status as one line.
fn status(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

/// An error with its causes, as one line (tonic's transport error alone says only
/// "transport error").
fn cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    let mut last = text.clone();
    while let Some(inner) = source {
        let line = inner.to_string();
        // hyper repeats a cause in its wrapper's words ("tcp connect error" twice).
        if line != last {
            text.push_str(": ");
            text.push_str(&line);
        }
        last = line;
        source = inner.source();
    }
    text
}

#[cfg(test)]
mod tests;
