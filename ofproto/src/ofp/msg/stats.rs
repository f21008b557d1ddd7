//! Multipart (OpenFlow 1.0 "stats") bodies that need no match or action
//! codec: switch description, table, port and queue statistics, port
//! descriptions, group and meter features.

use crate::ofp::codec::{Reader, Writer};
use crate::ofp::error::{BadRequest, OfpError};
use crate::ofp::Version;

use super::port::{Port, PortNo, PortStats};
use super::prop::{get_str, parse_props, put_props, put_str, Property};

/// Multipart request flag OFPMPF_REQ_MORE / reply flag OFPMPF_REPLY_MORE.
pub const MORE: u16 = 1;

/// A multipart request: a body, and whether more parts follow (OpenFlow
/// 1.3+ requests only; 1.0 requests are single-part).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultipartRequest {
    pub more: bool,
    pub body: MpRequest,
}

/// A multipart reply: a body, and whether more parts follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    pub more: bool,
    pub body: MpReply,
}

/// The multipart requests decoded so far. Flow, aggregate, group, meter
/// and table-features requests arrive with the match and action codecs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MpRequest {
    /// OFPMP_DESC.
    Desc,
    /// OFPMP_PORT_DESC. Only OpenFlow 1.5 can ask for one port; earlier
    /// versions always mean [`PortNo::ANY`].
    PortDesc { port_no: PortNo },
    /// OFPMP_PORT_STATS for one port or [`PortNo::ANY`].
    PortStats { port_no: PortNo },
    /// OFPMP_TABLE.
    TableStats,
    /// OFPMP_QUEUE_STATS. OpenFlow 1.0 spells "all ports" OFPP_ALL; it is
    /// [`PortNo::ANY`] here, as in Open vSwitch.
    QueueStats { port_no: PortNo, queue_id: u32 },
    /// OFPMP_GROUP_FEATURES (NXST_GROUP_FEATURES in OpenFlow 1.0).
    GroupFeatures,
    /// OFPMP_METER_FEATURES (OpenFlow 1.3+).
    MeterFeatures,
}

/// The multipart replies decoded so far.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MpReply {
    Desc(SwitchDesc),
    PortDesc(Vec<Port>),
    PortStats(Vec<PortStats>),
    TableStats(Vec<TableStats>),
    QueueStats(Vec<QueueStats>),
    GroupFeatures(GroupFeatures),
    MeterFeatures(MeterFeatures),
}

/// OFPMP_DESC reply: fixed-width strings (255 bytes, the serial number 31).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwitchDesc {
    pub mfr_desc: String,
    pub hw_desc: String,
    pub sw_desc: String,
    pub serial_num: String,
    pub dp_desc: String,
}

const DESC_STR_LEN: usize = 256;
const SERIAL_NUM_LEN: usize = 32;

impl SwitchDesc {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<SwitchDesc, OfpError> {
        Ok(SwitchDesc {
            mfr_desc: get_str(r, DESC_STR_LEN)?,
            hw_desc: get_str(r, DESC_STR_LEN)?,
            sw_desc: get_str(r, DESC_STR_LEN)?,
            serial_num: get_str(r, SERIAL_NUM_LEN)?,
            dp_desc: get_str(r, DESC_STR_LEN)?,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        put_str(w, &self.mfr_desc, DESC_STR_LEN);
        put_str(w, &self.hw_desc, DESC_STR_LEN);
        put_str(w, &self.sw_desc, DESC_STR_LEN);
        put_str(w, &self.serial_num, SERIAL_NUM_LEN);
        put_str(w, &self.dp_desc, DESC_STR_LEN);
    }
}

/// Statistics of one flow table.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TableStats {
    pub table_id: u8,
    /// OpenFlow 1.0 only (1.3+ moved it to table features).
    pub name: String,
    /// OpenFlow 1.0 only: the `OFPFW10_*` wildcards the table supports.
    pub wildcards: u32,
    /// OpenFlow 1.0 only.
    pub max_entries: u32,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

impl TableStats {
    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<TableStats, OfpError> {
        let mut t = TableStats {
            table_id: r.u8()?,
            ..TableStats::default()
        };
        r.skip(3)?;
        if version == Version::Of10 {
            t.name = get_str(r, 32)?;
            t.wildcards = r.u32()?;
            t.max_entries = r.u32()?;
        }
        t.active_count = r.u32()?;
        t.lookup_count = r.u64()?;
        t.matched_count = r.u64()?;
        Ok(t)
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) {
        w.u8(self.table_id).zeros(3);
        if version == Version::Of10 {
            put_str(w, &self.name, 32);
            w.u32(self.wildcards).u32(self.max_entries);
        }
        w.u32(self.active_count)
            .u64(self.lookup_count)
            .u64(self.matched_count);
    }
}

/// Statistics of one queue. A counter the switch does not keep is
/// `u64::MAX`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct QueueStats {
    pub port_no: PortNo,
    pub queue_id: u32,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    /// OpenFlow 1.3+: `(seconds, nanoseconds)` the queue has existed.
    pub duration: Option<(u32, u32)>,
    /// OpenFlow 1.4+ properties (none are standard), kept as sent.
    pub props: Vec<Property>,
}

impl QueueStats {
    fn decode13(version: Version, r: &mut Reader<'_>) -> Result<QueueStats, OfpError> {
        let mut q = QueueStats {
            port_no: PortNo::get(version, r)?,
            queue_id: r.u32()?,
            ..QueueStats::default()
        };
        q.tx_bytes = r.u64()?;
        q.tx_packets = r.u64()?;
        q.tx_errors = r.u64()?;
        let sec = r.u32()?;
        let nsec = r.u32()?;
        q.duration = (sec != u32::MAX).then_some((sec, nsec));
        Ok(q)
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<QueueStats, OfpError> {
        match version {
            Version::Of10 => {
                let port_no = PortNo::get(version, r)?;
                r.skip(2)?;
                Ok(QueueStats {
                    port_no,
                    queue_id: r.u32()?,
                    tx_bytes: r.u64()?,
                    tx_packets: r.u64()?,
                    tx_errors: r.u64()?,
                    duration: None,
                    props: Vec::new(),
                })
            }
            Version::Of13 => QueueStats::decode13(version, r),
            Version::Of14 | Version::Of15 => {
                let len = usize::from(r.u16()?);
                if len < 48 || len - 2 > r.remaining() {
                    return Err(BadRequest::BadLen.into());
                }
                let mut body = r.sub(len - 2)?;
                body.skip(6)?;
                let mut q = QueueStats::decode13(version, &mut body)?;
                q.props = parse_props(&mut body)?
                    .into_iter()
                    .map(|(ty, data)| Property {
                        ty,
                        data: data.to_vec(),
                    })
                    .collect();
                Ok(q)
            }
        }
    }

    pub(crate) fn encode(&self, version: Version, w: &mut Writer) -> Result<(), OfpError> {
        let m = w.mark();
        if version >= Version::Of14 {
            w.u16(0).zeros(6);
        }
        self.port_no.put(version, w)?;
        if version == Version::Of10 {
            w.zeros(2);
        }
        w.u32(self.queue_id)
            .u64(self.tx_bytes)
            .u64(self.tx_packets)
            .u64(self.tx_errors);
        if version >= Version::Of13 {
            let (sec, nsec) = self.duration.unwrap_or((u32::MAX, u32::MAX));
            w.u32(sec).u32(nsec);
        }
        if version >= Version::Of14 {
            put_props(w, &self.props);
            let len =
                u16::try_from(w.since(m)).map_err(|_| OfpError::BadRequest(BadRequest::BadLen))?;
            w.patch_u16(m, 0, len);
        }
        Ok(())
    }
}

/// OFPMP_GROUP_FEATURES reply. The `actions` bitmaps are in the wire
/// version's `OFPAT_*` numbering (the action codec owns the meaning).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupFeatures {
    /// Bitmap of supported group types (1 << OFPGT_*).
    pub types: u32,
    /// Bitmap of OFPGFC_* capabilities.
    pub capabilities: u32,
    /// Maximum groups of each type: all, select, indirect, fast failover.
    pub max_groups: [u32; 4],
    /// Supported actions for each type.
    pub actions: [u32; 4],
}

impl GroupFeatures {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<GroupFeatures, OfpError> {
        let mut g = GroupFeatures {
            types: r.u32()?,
            capabilities: r.u32()?,
            ..GroupFeatures::default()
        };
        for m in &mut g.max_groups {
            *m = r.u32()?;
        }
        for a in &mut g.actions {
            *a = r.u32()?;
        }
        Ok(g)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.types).u32(self.capabilities);
        for x in self.max_groups.iter().chain(&self.actions) {
            w.u32(*x);
        }
    }
}

/// OFPMP_METER_FEATURES reply (OpenFlow 1.3+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterFeatures {
    pub max_meter: u32,
    /// Bitmap of supported band types (1 << OFPMBT_*).
    pub band_types: u32,
    /// Bitmap of OFPMF_* flags.
    pub capabilities: u32,
    pub max_bands: u8,
    pub max_color: u8,
}

impl MeterFeatures {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<MeterFeatures, OfpError> {
        let m = MeterFeatures {
            max_meter: r.u32()?,
            band_types: r.u32()?,
            capabilities: r.u32()?,
            max_bands: r.u8()?,
            max_color: r.u8()?,
        };
        r.skip(2)?;
        Ok(m)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.max_meter)
            .u32(self.band_types)
            .u32(self.capabilities);
        w.u8(self.max_bands).u8(self.max_color).zeros(2);
    }
}
