# BGP daemons in network namespaces for the EVPN lab (tests/evpn.sh, benches/evpn_scale.sh),
# after tests/lib/netns.sh (its `work`, `N`, `in_ns`, `pids`, `daemons`). Every session is
# iBGP in AS 65000, address family l2vpn-evpn only.
#
# gobgpd: one per namespace, its gRPC API on 127.0.0.1:50051 there (each namespace has its
# own loopback, so every vtep reaches its own daemon at the same address), no pprof port.
# FRR: zebra and bgpd as the `frr` user (they refuse root), not listening for vty on TCP
# (-P 0), with their sockets in a run directory of their own, so nothing of the machine's
# own FRR (if any) is touched.

BGP_AS=65000

gobgpd_toml() { # gobgpd_toml ROUTER_ID [--rr] NEIGHBOUR...: a gobgpd configuration; with
  # --rr the neighbours are route-reflector clients of this daemon
  local router_id=$1 rr=false neighbour
  shift
  [ "${1:-}" != --rr ] || { rr=true; shift; }
  printf '[global.config]\n  as = %s\n  router-id = "%s"\n' "$BGP_AS" "$router_id"
  printf '  local-address-list = ["%s"]\n' "$router_id"
  for neighbour in "$@"; do
    printf '\n[[neighbors]]\n  [neighbors.config]\n'
    printf '    neighbor-address = "%s"\n    peer-as = %s\n' "$neighbour" "$BGP_AS"
    # The first connection comes 5 s after start instead of 30 s or more.
    printf '  [neighbors.timers.config]\n    connect-retry = 5\n'
    printf '  [neighbors.transport.config]\n    local-address = "%s"\n' "$router_id"
    if [ "$rr" = true ]; then
      printf '  [neighbors.route-reflector.config]\n    route-reflector-client = true\n'
      printf '    route-reflector-cluster-id = "%s"\n' "$router_id"
    fi
    # Graceful restart (RFC 4724): when a neighbour's gobgpd restarts, its routes are
    # kept (stale) until it has sent them again, so forwarding does not stop meanwhile.
    printf '  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 60\n'
    printf '  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n'
    printf '      afi-safi-name = "l2vpn-evpn"\n'
    printf '    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n'
  done
}

start_gobgpd() { # start_gobgpd NS NAME [FLAG...]: gobgpd with $work/NAME.gobgpd.toml, its
  # log appended to $work/NAME.gobgpd.log; returns once its API answers (1 after 10 s).
  # Its PID is then in $gobgpd_pid.
  local ns=$1 name=$2
  shift 2
  ip netns exec "$(N "$ns")" gobgpd -f "$work/$name.gobgpd.toml" -p \
    --api-hosts=127.0.0.1:50051 --pprof-disable "$@" >>"$work/$name.gobgpd.log" 2>&1 &
  gobgpd_pid=$!
  pids+=("$gobgpd_pid")
  wait_for 10 gobgp_in "$ns" global >/dev/null 2>&1
}
gobgp_in() { # gobgp_in NS ARG...: the gobgp client against the namespace's own gobgpd
  in_ns "$1" gobgp -u 127.0.0.1 -p 50051 "${@:2}"
}
gobgp_established() { # gobgp_established NS COUNT: COUNT sessions of that gobgpd are up
  [ "$(gobgp_in "$1" neighbor 2>/dev/null | grep -c Establ)" -ge "$2" ]
}

frr_dir() { echo "$work/frr-$1"; } # frr_dir NS: that namespace's FRR files and sockets
start_frr() { # start_frr NS ROUTER_ID NEIGHBOUR: zebra and bgpd, advertising every VNI of
  # the namespace's vxlan devices (advertise-all-vni); returns once bgpd answers vtysh
  local ns=$1 router_id=$2 neighbour=$3 dir daemon
  dir=$(frr_dir "$ns")
  mkdir -p "$dir"
  echo "hostname $ns" >"$dir/zebra.conf"
  cat >"$dir/bgpd.conf" <<EOF
hostname $ns
router bgp $BGP_AS
 bgp router-id $router_id
 no bgp default ipv4-unicast
 neighbor $neighbour remote-as $BGP_AS
 neighbor $neighbour update-source $router_id
 neighbor $neighbour timers connect 5
 bgp graceful-restart
 address-family l2vpn evpn
  neighbor $neighbour activate
  advertise-all-vni
 exit-address-family
EOF
  chown -R frr:frr "$dir"
  # The daemons run as frr: they must reach their files through the work directory.
  chmod 755 "$work"
  in_ns "$ns" /usr/lib/frr/zebra -d -P 0 -f "$dir/zebra.conf" -i "$dir/zebra.pid" \
    -z "$dir/zserv.api" --vty_socket "$dir" --log "file:$dir/zebra.log" || return 1
  in_ns "$ns" /usr/lib/frr/bgpd -d -P 0 -f "$dir/bgpd.conf" -i "$dir/bgpd.pid" \
    -z "$dir/zserv.api" --vty_socket "$dir" -l "$router_id" --log "file:$dir/bgpd.log" \
    || return 1
  for daemon in zebra bgpd; do
    wait_for 10 test -s "$dir/$daemon.pid" || return 1
    daemons+=("$(cat "$dir/$daemon.pid")")
  done
  wait_for 10 frr_vtysh "$ns" -c "show version" >/dev/null 2>&1
}
frr_vtysh() { # frr_vtysh NS ARG...: vtysh against that namespace's FRR
  in_ns "$1" vtysh --vty_socket "$(frr_dir "$1")" "${@:2}"
}
