//! Meters: token buckets that the `Meter` action runs each packet through,
//! dropping what exceeds a band (OpenFlow drop bands, as Open vSwitch's
//! userspace datapath does). A meter is shared by the megaflows that use it
//! and reconfigured in place, so a meter_mod needs no revalidation. Readers
//! take no lock: the band set is behind an `ArcSwap`, the buckets are
//! atomics.
//!
//! Units: a kbps meter's buckets hold bits (a band of R kbit/s gains R bits
//! per ms, a packet costs 8 bits per byte); a pktps meter's hold
//! milli-packets (R packets/s gains R per ms, a packet costs 1000). A band's
//! bucket holds its burst (kbit or packets), or one second of its rate when
//! no burst is given.

use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// One drop band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandSpec {
    /// kbit/s or packets/s.
    pub rate: u32,
    /// kbit or packets; 0: one second of `rate`.
    pub burst: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterSpec {
    /// Rates in kbit/s (else packets/s).
    pub kbps: bool,
    pub bands: Vec<BandSpec>,
}

struct Band {
    rate: u64,
    max: u64,
    tokens: AtomicU64,
    /// Packets and bytes this band dropped.
    packets: AtomicU64,
    bytes: AtomicU64,
}

struct Bands {
    kbps: bool,
    last_ms: AtomicU64,
    bands: Vec<Band>,
}

impl Bands {
    fn new(spec: &MeterSpec, now_ms: u64) -> Bands {
        Bands {
            kbps: spec.kbps,
            last_ms: AtomicU64::new(now_ms),
            bands: spec
                .bands
                .iter()
                .map(|b| {
                    let burst = if b.burst == 0 { b.rate } else { b.burst };
                    let max = u64::from(burst) * 1000;
                    Band {
                        rate: u64::from(b.rate),
                        max,
                        tokens: AtomicU64::new(max),
                        packets: AtomicU64::new(0),
                        bytes: AtomicU64::new(0),
                    }
                })
                .collect(),
        }
    }
}

/// One meter.
pub struct Meter {
    id: u32,
    bands: ArcSwap<Bands>,
}

impl std::fmt::Debug for Meter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Meter({})", self.id)
    }
}

/// Meters are the same meter only if they are the same object: the action
/// lists that hold them compare by identity.
impl PartialEq for Meter {
    fn eq(&self, other: &Meter) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for Meter {}

impl Meter {
    /// `id` is for display only (`meter(ID)` in datapath flow dumps).
    pub fn new(id: u32, spec: &MeterSpec, now_ms: u64) -> Meter {
        Meter {
            id,
            bands: ArcSwap::from_pointee(Bands::new(spec, now_ms)),
        }
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// Replaces the bands (full buckets, counters from zero).
    pub fn configure(&self, spec: &MeterSpec, now_ms: u64) {
        self.bands
            .store(std::sync::Arc::new(Bands::new(spec, now_ms)));
    }

    /// Whether `packets` packets of `bytes` bytes in all pass at `now_ms`
    /// (datapath clock): several for a GSO super-frame, which passes or is
    /// dropped whole. What exceeds any band is dropped and counted on the
    /// band with the highest rate among those it exceeded.
    pub fn admit(&self, packets: u64, bytes: u64, now_ms: u64) -> bool {
        let b = self.bands.load();
        let last = b.last_ms.load(Ordering::Relaxed);
        if now_ms > last
            && b.last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let dt = now_ms - last;
            for band in &b.bands {
                let add = band.rate.saturating_mul(dt);
                let _ = band
                    .tokens
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                        Some(t.saturating_add(add).min(band.max))
                    });
            }
        }
        let cost = if b.kbps {
            bytes.saturating_mul(8)
        } else {
            packets.saturating_mul(1000)
        };
        let mut exceeded: Option<&Band> = None;
        for band in &b.bands {
            // A super-frame costing more than the whole bucket would never
            // pass: it passes on a full bucket and empties it.
            let cost = cost.min(band.max);
            let took = band
                .tokens
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                    t.checked_sub(cost)
                })
                .is_ok();
            if !took && exceeded.is_none_or(|e| band.rate > e.rate) {
                exceeded = Some(band);
            }
        }
        match exceeded {
            None => true,
            Some(band) => {
                band.packets.fetch_add(packets, Ordering::Relaxed);
                band.bytes.fetch_add(bytes, Ordering::Relaxed);
                false
            }
        }
    }

    /// Packets and bytes each band dropped, in band order.
    pub fn band_stats(&self) -> Vec<(u64, u64)> {
        self.bands
            .load()
            .bands
            .iter()
            .map(|b| {
                (
                    b.packets.load(Ordering::Relaxed),
                    b.bytes.load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pktps_band_passes_its_burst_then_its_rate() {
        let m = Meter::new(
            1,
            &MeterSpec {
                kbps: false,
                bands: vec![BandSpec {
                    rate: 100,
                    burst: 10,
                }],
            },
            0,
        );
        // The burst, all at once.
        let passed = (0..50).filter(|_| m.admit(1, 100, 0)).count();
        assert_eq!(passed, 10);
        assert_eq!(m.band_stats(), [(40, 4000)]);
        // Then 100/s: 10 per 100 ms.
        let mut passed = 0;
        for ms in 1..=1000 {
            passed += (0..5).filter(|_| m.admit(1, 100, ms)).count();
        }
        assert_eq!(passed, 100);
    }

    #[test]
    fn kbps_band_limits_bytes_and_the_highest_exceeded_band_counts() {
        // 8 kbit/s = 1000 bytes/s, burst 8 kbit = 1000 bytes.
        let m = Meter::new(
            2,
            &MeterSpec {
                kbps: true,
                bands: vec![
                    BandSpec { rate: 8, burst: 8 },
                    BandSpec {
                        rate: 800,
                        burst: 800,
                    },
                ],
            },
            0,
        );
        assert!(m.admit(1, 500, 0));
        assert!(m.admit(1, 500, 0));
        assert!(!m.admit(1, 500, 0));
        assert_eq!(m.band_stats(), [(1, 500), (0, 0)]);
        // 500 ms later: 500 bytes more.
        assert!(m.admit(1, 500, 500));
        assert!(!m.admit(1, 1, 500));
        // Reconfiguring starts with full buckets.
        m.configure(
            &MeterSpec {
                kbps: true,
                bands: vec![BandSpec { rate: 80, burst: 0 }],
            },
            600,
        );
        assert_eq!(m.band_stats(), [(0, 0)]);
        assert_eq!((0..20).filter(|_| m.admit(1, 1000, 600)).count(), 10);
    }

    #[test]
    fn meters_compare_by_identity() {
        let spec = MeterSpec::default();
        let a = Meter::new(1, &spec, 0);
        let b = Meter::new(1, &spec, 0);
        assert_eq!(a, a);
        assert_ne!(a, b);
        // No bands: everything passes.
        assert!(a.admit(1, 1500, 0));
    }

    #[test]
    fn a_super_frame_costs_what_its_segments_do() {
        // 10 packets a second, burst 10: a 4-segment super-frame takes 4.
        let m = Meter::new(
            1,
            &MeterSpec {
                kbps: false,
                bands: vec![BandSpec {
                    rate: 10,
                    burst: 10,
                }],
            },
            0,
        );
        assert!(m.admit(4, 6000, 0));
        assert!(m.admit(4, 6000, 0));
        assert!(!m.admit(4, 6000, 0), "8 of 10 taken: 4 more do not fit");
        assert!(m.admit(2, 3000, 0));
        assert_eq!(m.band_stats(), vec![(4, 6000)]);
        // One of 45 segments, more than the bucket holds: it passes once
        // the bucket is full again, and empties it.
        assert!(!m.admit(45, 65_000, 500));
        assert!(m.admit(45, 65_000, 1000));
        assert!(!m.admit(1, 100, 1000));
    }
}
