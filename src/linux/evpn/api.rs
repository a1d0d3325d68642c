//! The part of gobgpd's gRPC API (package `apipb`, service `GobgpApi`, gobgp 3.x) that
//! vtep uses, as prost messages written from the API's published .proto files (Debian's
//! `golang-github-osrg-gobgp-dev`, `api/gobgp.proto` and `api/attribute.proto`): the
//! message names and field numbers are theirs, only the fields vtep reads or writes are
//! here (protobuf skips the others on decoding), and nothing is generated at build time.
//!
//! Path attributes and NLRIs travel as `google.protobuf.Any`: a type URL
//! `type.googleapis.com/apipb.NAME` and the message's bytes ([`any`], [`Any::decode_as`]).

use std::prelude::rust_2024::*;

use prost::Message;

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    /// `type.googleapis.com/apipb.NAME`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The message, encoded.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// The prefix gobgpd's type URLs share.
const TYPE_PREFIX: &str = "type.googleapis.com/apipb.";

/// `message` wrapped in an [`Any`] under its apipb `name`.
pub fn any<M: Message>(name: &str, message: &M) -> Any {
    Any {
        type_url: format!("{TYPE_PREFIX}{name}"),
        value: message.encode_to_vec(),
    }
}

impl Any {
    /// The apipb message name, if the type URL is gobgpd's.
    pub fn name(&self) -> Option<&str> {
        self.type_url.strip_prefix(TYPE_PREFIX)
    }

    /// The message inside, when it is an apipb `name`; `None` for another type, `Some(Err)`
    /// for bytes that do not decode.
    pub fn decode_as<M: Message + Default>(
        &self,
        name: &str,
    ) -> Option<Result<M, prost::DecodeError>> {
        (self.name() == Some(name)).then(|| M::decode(self.value.as_slice()))
    }
}

/// `Family.Afi.AFI_L2VPN`.
pub const AFI_L2VPN: i32 = 25;
/// `Family.Safi.SAFI_EVPN`.
pub const SAFI_EVPN: i32 = 70;
/// `TableType.GLOBAL`.
pub const TABLE_GLOBAL: i32 = 0;
/// `WatchEventRequest.Table.Filter.Type.BEST`.
pub const FILTER_BEST: i32 = 0;

/// `Family`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Family {
    /// `Afi` (enum).
    #[prost(int32, tag = "1")]
    pub afi: i32,
    /// `Safi` (enum).
    #[prost(int32, tag = "2")]
    pub safi: i32,
}

impl Family {
    /// L2VPN EVPN.
    pub const EVPN: Family = Family {
        afi: AFI_L2VPN,
        safi: SAFI_EVPN,
    };
}

/// `Path`.
#[derive(Clone, PartialEq, Message)]
pub struct Path {
    /// The NLRI: here an EVPN route message.
    #[prost(message, optional, tag = "1")]
    pub nlri: Option<Any>,
    /// The path attributes, each an `*Attribute` message.
    #[prost(message, repeated, tag = "2")]
    pub pattrs: Vec<Any>,
    /// A withdrawal.
    #[prost(bool, tag = "5")]
    pub is_withdraw: bool,
    /// Its address family (gobgpd dereferences it: always set).
    #[prost(message, optional, tag = "9")]
    pub family: Option<Family>,
    /// The peer it came from (empty for a path added through the API).
    #[prost(string, tag = "15")]
    pub neighbor_ip: String,
}

/// `AddPathRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct AddPathRequest {
    /// `TableType`.
    #[prost(int32, tag = "1")]
    pub table_type: i32,
    /// The path.
    #[prost(message, optional, tag = "3")]
    pub path: Option<Path>,
}

/// `AddPathResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct AddPathResponse {
    /// The path's handle (unused: vtep deletes by the path itself).
    #[prost(bytes = "vec", tag = "1")]
    pub uuid: Vec<u8>,
}

/// `DeletePathRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct DeletePathRequest {
    /// `TableType`.
    #[prost(int32, tag = "1")]
    pub table_type: i32,
    /// The path's family.
    #[prost(message, optional, tag = "3")]
    pub family: Option<Family>,
    /// The path to withdraw, as it was added.
    #[prost(message, optional, tag = "4")]
    pub path: Option<Path>,
}

/// `google.protobuf.Empty`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Empty {}

/// `WatchEventRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct WatchEventRequest {
    /// `table`: which table events.
    #[prost(message, optional, tag = "2")]
    pub table: Option<WatchTable>,
}

/// `WatchEventRequest.Table`.
#[derive(Clone, PartialEq, Message)]
pub struct WatchTable {
    /// `filters`.
    #[prost(message, repeated, tag = "1")]
    pub filters: Vec<WatchFilter>,
}

/// `WatchEventRequest.Table.Filter`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct WatchFilter {
    /// `Type` (enum): [`FILTER_BEST`].
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    /// Start with every current path.
    #[prost(bool, tag = "2")]
    pub init: bool,
}

/// `WatchEventResponse`: of its `event` oneof, only `table` (3) is read; a `peer` event
/// decodes as nothing.
#[derive(Clone, PartialEq, Message)]
pub struct WatchEventResponse {
    /// `table`.
    #[prost(message, optional, tag = "3")]
    pub table: Option<TableEvent>,
}

/// `WatchEventResponse.TableEvent`.
#[derive(Clone, PartialEq, Message)]
pub struct TableEvent {
    /// `paths`.
    #[prost(message, repeated, tag = "2")]
    pub paths: Vec<Path>,
}

/// `RouteDistinguisherIPAddress` (type 1).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct RdIpAddress {
    /// The IPv4 address.
    #[prost(string, tag = "1")]
    pub admin: String,
    /// The number.
    #[prost(uint32, tag = "2")]
    pub assigned: u32,
}

/// `RouteDistinguisherTwoOctetASN` (type 0) and `RouteDistinguisherFourOctetASN` (type
/// 2): one layout.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct RdAsn {
    /// The ASN.
    #[prost(uint32, tag = "1")]
    pub admin: u32,
    /// The number.
    #[prost(uint32, tag = "2")]
    pub assigned: u32,
}

/// `EthernetSegmentIdentifier`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Esi {
    /// ESI type.
    #[prost(uint32, tag = "1")]
    pub r#type: u32,
    /// Nine bytes; zero for a single-homed host.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `EVPNMACIPAdvertisementRoute` (type 2).
#[derive(Clone, PartialEq, Message)]
pub struct MacIpRoute {
    /// Route distinguisher.
    #[prost(message, optional, tag = "1")]
    pub rd: Option<Any>,
    /// Ethernet segment.
    #[prost(message, optional, tag = "2")]
    pub esi: Option<Esi>,
    /// Ethernet tag.
    #[prost(uint32, tag = "3")]
    pub ethernet_tag: u32,
    /// "aa:bb:cc:dd:ee:ff".
    #[prost(string, tag = "4")]
    pub mac_address: String,
    /// The host's IP address, or empty / "0.0.0.0" for none.
    #[prost(string, tag = "5")]
    pub ip_address: String,
    /// Labels: the VNI first.
    #[prost(uint32, repeated, tag = "6")]
    pub labels: Vec<u32>,
}

/// `EVPNInclusiveMulticastEthernetTagRoute` (type 3).
#[derive(Clone, PartialEq, Message)]
pub struct MulticastRoute {
    /// Route distinguisher.
    #[prost(message, optional, tag = "1")]
    pub rd: Option<Any>,
    /// Ethernet tag.
    #[prost(uint32, tag = "2")]
    pub ethernet_tag: u32,
    /// The originating router's address.
    #[prost(string, tag = "3")]
    pub ip_address: String,
}

/// `OriginAttribute`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct OriginAttribute {
    /// 0 IGP, 1 EGP, 2 incomplete.
    #[prost(uint32, tag = "1")]
    pub origin: u32,
}

/// `MpReachNLRIAttribute`.
#[derive(Clone, PartialEq, Message)]
pub struct MpReachAttribute {
    /// The family.
    #[prost(message, optional, tag = "1")]
    pub family: Option<Family>,
    /// The next hop first.
    #[prost(string, repeated, tag = "2")]
    pub next_hops: Vec<String>,
    /// The NLRIs (gobgpd refuses the attribute without one).
    #[prost(message, repeated, tag = "3")]
    pub nlris: Vec<Any>,
}

/// `ExtendedCommunitiesAttribute`.
#[derive(Clone, PartialEq, Message)]
pub struct ExtendedCommunities {
    /// Each an `*Extended` message.
    #[prost(message, repeated, tag = "1")]
    pub communities: Vec<Any>,
}

/// `TwoOctetAsSpecificExtended`: a route target when sub-type 2.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct TwoOctetAsSpecific {
    /// Transitive (route targets are).
    #[prost(bool, tag = "1")]
    pub is_transitive: bool,
    /// 2 for a route target.
    #[prost(uint32, tag = "2")]
    pub sub_type: u32,
    /// The ASN (16 bits).
    #[prost(uint32, tag = "3")]
    pub asn: u32,
    /// The local part: the VNI.
    #[prost(uint32, tag = "4")]
    pub local_admin: u32,
}

/// `EncapExtended` (RFC 9012 tunnel types).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct EncapExtended {
    /// 8 VXLAN, 9 NVGRE, 19 Geneve.
    #[prost(uint32, tag = "1")]
    pub tunnel_type: u32,
}

/// `MacMobilityExtended` (RFC 7432 section 7.7).
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct MacMobility {
    /// Sticky (static) MAC.
    #[prost(bool, tag = "1")]
    pub is_sticky: bool,
    /// The sequence number.
    #[prost(uint32, tag = "2")]
    pub sequence_num: u32,
}

/// `PmsiTunnelAttribute` (RFC 6514, as RFC 7432 uses it for type 3).
#[derive(Clone, PartialEq, Eq, Message)]
pub struct PmsiTunnel {
    /// Bit 0: leaf information required.
    #[prost(uint32, tag = "1")]
    pub flags: u32,
    /// 6: ingress replication.
    #[prost(uint32, tag = "2")]
    pub r#type: u32,
    /// The VNI.
    #[prost(uint32, tag = "3")]
    pub label: u32,
    /// The tunnel endpoint's address, 4 or 16 bytes.
    #[prost(bytes = "vec", tag = "4")]
    pub id: Vec<u8>,
}
