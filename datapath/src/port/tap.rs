//! Tap port: a Linux tap device (`/dev/net/tun`, `IFF_TAP | IFF_NO_PI`)
//! whose other side is the host's network stack. Frames the datapath sends
//! arrive at the host as if received on the interface, and vice versa.

use std::fs::OpenOptions;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::{ifname_to_c, Port, PortError, PortStats};
use crate::packet::{Packet, PacketBatch};

/// Settings for [`TapPort::open`].
#[derive(Clone, Debug, Default)]
pub struct TapOptions {
    /// `in_port` metadata given to received packets.
    pub in_port: u32,
    /// Bring the interface up (IFF_UP) after opening it.
    pub up: bool,
    /// Keep the device after the port closes (TUNSETPERSIST). A device the
    /// port created without this disappears with it.
    pub persist: bool,
}

/// A tap device. See the module docs.
pub struct TapPort {
    name: String,
    fd: OwnedFd,
    in_port: u32,
    stats: PortStats,
    down: Option<String>,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Errors a tun descriptor gives once its device was deleted.
fn is_gone_errno(e: i32) -> bool {
    matches!(e, libc::EBADFD | libc::ENXIO | libc::ENODEV)
}

/// Sets or clears IFF_UP on interface `c_name`, through a throwaway socket
/// created in the calling thread's network namespace.
fn set_if_up(c_name: &[libc::c_char; libc::IFNAMSIZ], up: bool) -> io::Result<()> {
    // SAFETY: plain syscall with constant arguments.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    let sock = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    ifr.ifr_name = *c_name;
    // SAFETY: SIOCGIFFLAGS reads ifr_name and writes ifr_flags in our ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS succeeded, so the union holds ifru_flags.
    let mut flags = unsafe { ifr.ifr_ifru.ifru_flags };
    if up {
        flags |= libc::IFF_UP as libc::c_short;
    } else {
        flags &= !(libc::IFF_UP as libc::c_short);
    }
    ifr.ifr_ifru.ifru_flags = flags;
    // SAFETY: SIOCSIFFLAGS reads ifr_name and ifr_flags from our ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl TapPort {
    /// Creates tap `name`, or attaches to it if it exists, in the calling
    /// thread's network namespace. An empty name lets the kernel pick one
    /// (`tap%d`); [`Port::name`] gives the result. Needs CAP_NET_ADMIN.
    pub fn open(name: &str, opts: TapOptions) -> Result<TapPort, PortError> {
        let c_name = if name.is_empty() {
            [0; libc::IFNAMSIZ]
        } else {
            ifname_to_c(name).ok_or_else(|| PortError::config(name, "invalid interface name"))?
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| PortError::io(name, e))?;
        let fd = OwnedFd::from(file);

        // SAFETY: ifreq is plain data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
        ifr.ifr_name = c_name;
        ifr.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
        // SAFETY: TUNSETIFF reads ifr_name/ifr_flags and writes the chosen
        // name back into our ifreq.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut ifr) } != 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                // An existing device of another kind, or busy.
                Some(libc::EINVAL) | Some(libc::EBUSY) => {
                    PortError::config(name, format!("cannot attach to tap: {e}"))
                }
                _ => PortError::io(name, e),
            });
        }
        let actual: String = ifr
            .ifr_name
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8 as char)
            .collect();

        if opts.persist {
            // SAFETY: TUNSETPERSIST takes an integer argument by value.
            if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETPERSIST, 1 as libc::c_ulong) } != 0
            {
                return Err(PortError::io(&actual, io::Error::last_os_error()));
            }
        }
        if opts.up {
            let c_actual = ifname_to_c(&actual)
                .ok_or_else(|| PortError::config(&actual, "kernel gave an odd name"))?;
            set_if_up(&c_actual, true).map_err(|e| PortError::io(&actual, e))?;
        }
        Ok(TapPort {
            name: actual,
            fd,
            in_port: opts.in_port,
            stats: PortStats::default(),
            down: None,
        })
    }

    /// Sets the interface administratively up or down.
    pub fn set_up(&self, up: bool) -> Result<(), PortError> {
        let c_name = ifname_to_c(&self.name)
            .ok_or_else(|| PortError::config(&self.name, "invalid interface name"))?;
        set_if_up(&c_name, up).map_err(|e| PortError::io(&self.name, e))
    }

    /// True once the port has reported `PortError::Down`.
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    fn go_down(&mut self, e: i32) -> PortError {
        let reason = format!("tap device is gone: {}", io::Error::from_raw_os_error(e));
        self.down = Some(reason.clone());
        PortError::down(&self.name, reason)
    }

    fn down_err(&self) -> PortError {
        PortError::down(&self.name, self.down.clone().unwrap_or_default())
    }
}

impl Port for TapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        if self.down.is_some() {
            return Err(self.down_err());
        }
        let mut n = 0;
        let mut eintr = 0;
        while let Some(p) = batch.next_free() {
            let area = p.rx_area();
            // SAFETY: `area` is a writable buffer of area.len() bytes that
            // lives across the call; the descriptor is non-blocking.
            let r =
                unsafe { libc::read(self.fd.as_raw_fd(), area.as_mut_ptr().cast(), area.len()) };
            if r > 0 {
                let len = r as usize;
                p.set_len(len);
                p.meta.in_port = self.in_port;
                batch.commit();
                n += 1;
                self.stats.rx_packets += 1;
                self.stats.rx_bytes += len as u64;
                continue;
            }
            if r == 0 {
                break;
            }
            match errno() {
                libc::EAGAIN => break,
                libc::EINTR if eintr < 3 => eintr += 1,
                libc::EINTR => break,
                e if is_gone_errno(e) => {
                    if n > 0 {
                        // Hand over what arrived; the next call reports it.
                        break;
                    }
                    return Err(self.go_down(e));
                }
                // The frame did not fit the buffer (the kernel drops it).
                libc::EFAULT | libc::EINVAL | libc::EMSGSIZE => {
                    self.stats.rx_dropped += 1;
                }
                e => {
                    self.stats.rx_errors += 1;
                    if n > 0 {
                        break;
                    }
                    return Err(PortError::io(&self.name, io::Error::from_raw_os_error(e)));
                }
            }
        }
        Ok(n)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        if self.down.is_some() {
            self.stats.tx_dropped += packets.len() as u64;
            return Err(self.down_err());
        }
        let mut sent = 0;
        for (i, p) in packets.iter().enumerate() {
            let data = p.data();
            let mut tries = 0;
            let r = loop {
                // SAFETY: `data` is a readable buffer of data.len() bytes
                // that lives across the call.
                let r =
                    unsafe { libc::write(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
                if r < 0 && errno() == libc::EINTR && tries < 3 {
                    tries += 1;
                    continue;
                }
                break r;
            };
            if r >= 0 {
                sent += 1;
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += data.len() as u64;
                continue;
            }
            match errno() {
                // The host side is not reading fast enough, or the device
                // is administratively down (EIO): drop, as a NIC would.
                libc::EAGAIN | libc::EIO | libc::ENOBUFS | libc::EINTR => {
                    self.stats.tx_dropped += 1;
                }
                libc::EINVAL | libc::EMSGSIZE => {
                    self.stats.tx_errors += 1;
                    self.stats.tx_dropped += 1;
                }
                e if is_gone_errno(e) => {
                    self.stats.tx_dropped += (packets.len() - i) as u64;
                    return Err(self.go_down(e));
                }
                e => {
                    self.stats.tx_errors += 1;
                    self.stats.tx_dropped += (packets.len() - i) as u64;
                    return Err(PortError::io(&self.name, io::Error::from_raw_os_error(e)));
                }
            }
        }
        Ok(sent)
    }

    fn stats(&self) -> PortStats {
        self.stats
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_are_config_errors() {
        for bad in ["a/b", "sixteen-chars-xx", "sp ace"] {
            assert!(matches!(
                TapPort::open(bad, TapOptions::default()),
                Err(PortError::Config { .. })
            ));
        }
    }
}
