//! The session's bookkeeping without a daemon: what it reports of table events, how
//! orders change what it advertises, and its error lines.

use super::*;
use crate::linux::evpn::routes::{Kind, Rd};
use crate::wire::Vni;
use std::io::Read;
use std::net::IpAddr;

fn route(last: u8, seq: u32) -> Route {
    Route {
        rd: Rd::Ip([10, 99, 0, 9].into(), 1),
        vni: Vni::new(100).unwrap(),
        nexthop: IpAddr::from([10, 99, 0, 9]),
        encaps: vec![],
        kind: Kind::Mac {
            mac: crate::wire::MacAddr([2, 0, 0, 0, 0, last]),
            seq,
        },
    }
}

fn session() -> (Session, mpsc::Receiver<FromBgp>, UnixStream) {
    let (wake_reader, wake) = UnixStream::pair().unwrap();
    let (reports, reports_rx) = mpsc::channel();
    let (_, orders) = tokio::sync::mpsc::unbounded_channel();
    let (done, _) = mpsc::channel();
    let session = Session {
        gobgp: "127.0.0.1:50051".parse().unwrap(),
        asn: 65000,
        router_id: [10, 99, 0, 2].into(),
        orders,
        reports,
        wake,
        done,
    };
    (session, reports_rx, wake_reader)
}

#[test]
fn the_first_table_event_is_a_resync_and_later_ones_go_path_by_path() {
    let (session, reports, mut wake) = session();
    let other_target = routes::path(&route(3, 0), 65001);
    let paths = [routes::path(&route(1, 0), 65000), other_target.clone()];
    assert!(report(&session, parse(&paths, session.asn), true));
    assert_eq!(reports.try_recv(), Ok(FromBgp::Resync(vec![route(1, 0)])));
    let mut byte = [0u8; 1];
    assert_eq!(wake.read(&mut byte).unwrap(), 1, "the run loop is woken");

    let mut withdrawn = routes::path(&route(1, 0), 65000);
    withdrawn.is_withdraw = true;
    let paths = [routes::path(&route(2, 4), 65000), withdrawn, other_target];
    assert!(report(&session, parse(&paths, session.asn), false));
    assert_eq!(reports.try_recv(), Ok(FromBgp::Add(route(2, 4))));
    assert_eq!(reports.try_recv(), Ok(FromBgp::Withdraw(route(1, 0).key())));
    assert!(reports.try_recv().is_err(), "another route target: nothing");

    drop(reports);
    assert!(
        !report(&session, parse(&paths, session.asn), false),
        "the run loop is gone"
    );
}

#[test]
fn leftovers_are_own_routes_no_longer_advertised() {
    let own = |last| Route {
        rd: Rd::Ip([10, 99, 0, 2].into(), 1),
        nexthop: IpAddr::from([10, 99, 0, 2]),
        ..route(last, 0)
    };
    let advertised = BTreeMap::from([(own(1).key(), own(1))]);
    let rib = [
        Parsed::Add(own(1)),
        Parsed::Add(own(2)),
        Parsed::Add(route(3, 0)),
        Parsed::Withdraw(own(4).key()),
        Parsed::Ignored,
    ];
    let left: Vec<_> = leftovers(&rib, [10, 99, 0, 2].into(), &advertised).collect();
    assert_eq!(left, [&own(2)]);
}

#[test]
fn orders_keep_the_advertised_set_current() {
    let mut advertised = BTreeMap::new();
    apply(&mut advertised, &ToBgp::Advertise(route(1, 0)));
    apply(&mut advertised, &ToBgp::Advertise(route(1, 2)));
    apply(&mut advertised, &ToBgp::Advertise(route(2, 0)));
    assert_eq!(advertised.len(), 2);
    assert_eq!(advertised[&route(1, 0).key()], route(1, 2), "replaced");
    apply(&mut advertised, &ToBgp::Withdraw(route(2, 0).key()));
    assert_eq!(advertised.keys().collect::<Vec<_>>(), [&route(1, 0).key()]);

    let (sender, mut orders) = tokio::sync::mpsc::unbounded_channel();
    sender.send(ToBgp::Withdraw(route(1, 0).key())).unwrap();
    assert_eq!(drain_orders(&mut orders, &mut advertised), Ok(()));
    assert!(advertised.is_empty());
    drop(sender);
    assert_eq!(drain_orders(&mut orders, &mut advertised), Err(()));
}

#[derive(Debug)]
struct Layer(&'static str, Option<Box<Layer>>);

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Layer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_deref().map(|l| l as _)
    }
}

#[test]
fn an_error_reads_as_its_causes_once_each() {
    let refused = Layer("Connection refused", None);
    let inner = Layer("tcp connect error", Some(Box::new(refused)));
    let outer = Layer("tcp connect error", Some(Box::new(inner)));
    let error = Layer("transport error", Some(Box::new(outer)));
    assert_eq!(
        cause(&error),
        "transport error: tcp connect error: Connection refused"
    );
    assert_eq!(with_refused("gone".into(), 0), "gone");
    assert_eq!(
        with_refused("gone".into(), 3),
        "gone (3 path(s) refused during the session)"
    );
}

#[test]
fn attempts_follow_a_lost_session_closely_then_back_off() {
    let lost = Instant::now();
    let second = Duration::from_secs(1);
    // Never connected, or lost long ago: the backoff reached.
    assert_eq!(pause(8 * second, None, lost), 8 * second);
    assert_eq!(
        pause(8 * second, Some(lost), lost + 20 * second),
        8 * second
    );
    // Within the window after a loss: the shortest wait, whatever the backoff reached.
    for after in [0, 1, 4, 14] {
        assert_eq!(
            pause(8 * second, Some(lost), lost + after * second),
            BACKOFF_MIN
        );
    }
    assert_eq!(
        pause(BACKOFF_MAX, Some(lost), lost + RESTART_WINDOW),
        BACKOFF_MAX
    );
}
