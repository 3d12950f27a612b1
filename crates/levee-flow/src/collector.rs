//! The socket a collector of flow exports listens on, and the capture it writes of them.
//!
//! Routers send exports over UDP, in bursts (a cache flush at the end of an active timeout
//! sends thousands of datagrams at once). A datagram that finds the socket's receive buffer
//! full is dropped by the kernel, silently to the sender: the collector asks for a large
//! buffer, says what it got, and reads the kernel's drop counter for its socket, so a loss is
//! reported, never hidden. `levee collect` and the monitor share this socket code.
//!
//! What arrives is kept as a capture: each datagram as a raw IP packet from the exporter's
//! address and port to the collector's, so the capture is one levee (and tshark, and nfdump's
//! tools) reads like any capture of exports.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// The receive buffer asked for by default: about a second of 200,000 records a second at
/// 30 records a datagram, with room for a burst.
pub const RECEIVE_BUFFER: usize = 32 << 20;

/// How long a collector told to stop goes on reading the datagrams already queued for its
/// socket ([`ExportSocket::receive_queued`]): a full 32 MiB buffer takes well under a second,
/// and an exporter that keeps sending must not keep the collector from stopping.
pub const STOP_DRAIN: Duration = Duration::from_secs(2);

/// A UDP socket receiving flow exports.
pub struct ExportSocket {
    socket: UdpSocket,
    local: SocketAddr,
    /// The socket's inode, which names it in `/proc/net/udp` (Linux).
    inode: Option<u64>,
    buffer: usize,
    datagram: Vec<u8>,
    /// How a read waits now (set when that changes, not once per datagram).
    waits: Waits,
}

/// How a read on the socket waits for a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    /// As the socket was opened: not set yet.
    Unset,
    /// At most this long.
    AtMost(Duration),
    /// Not at all: what is queued or nothing.
    Never,
}

impl ExportSocket {
    /// Listens on `addr`, asking for a receive buffer of `receive_buffer` bytes (the kernel
    /// may give less: see [`ExportSocket::receive_buffer`]).
    pub fn bind(addr: SocketAddr, receive_buffer: usize) -> io::Result<ExportSocket> {
        let domain = socket2::Domain::for_address(addr);
        let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, None)?;
        // Capped by the system's limit (net.core.rmem_max); as root, forced past it.
        socket.set_recv_buffer_size(receive_buffer)?;
        force_receive_buffer(&socket, receive_buffer);
        socket.bind(&addr.into())?;
        let buffer = socket.recv_buffer_size()?;
        let socket: UdpSocket = socket.into();
        let local = socket.local_addr()?;
        let inode = socket_inode(&socket);
        Ok(ExportSocket {
            socket,
            local,
            inode,
            buffer,
            datagram: vec![0; 65536],
            waits: Waits::Unset,
        })
    }

    /// The address it listens on (with the port the system chose, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The receive buffer the kernel gave, in bytes.
    pub fn receive_buffer(&self) -> usize {
        self.buffer
    }

    /// The next datagram and who sent it, waiting at most `timeout`; `None` when none came.
    pub fn receive(&mut self, timeout: Duration) -> io::Result<Option<(SocketAddr, &[u8])>> {
        self.wait(Waits::AtMost(timeout.max(Duration::from_millis(1))))?;
        self.read()
    }

    /// A datagram the kernel already holds for the socket, without waiting; `None` when its
    /// queue is empty. What a collector reads when told to stop: each datagram that reached
    /// the socket is counted, never left unread and uncounted (neither received nor a drop).
    pub fn receive_queued(&mut self) -> io::Result<Option<(SocketAddr, &[u8])>> {
        self.wait(Waits::Never)?;
        self.read()
    }

    /// Sets how a read waits, when that changed.
    fn wait(&mut self, waits: Waits) -> io::Result<()> {
        if self.waits != waits {
            match waits {
                Waits::AtMost(timeout) => {
                    self.socket.set_nonblocking(false)?;
                    self.socket.set_read_timeout(Some(timeout))?;
                }
                Waits::Never | Waits::Unset => self.socket.set_nonblocking(true)?,
            }
            self.waits = waits;
        }
        Ok(())
    }

    fn read(&mut self) -> io::Result<Option<(SocketAddr, &[u8])>> {
        match self.socket.recv_from(&mut self.datagram) {
            Ok((n, from)) => Ok(Some((unmapped(from), &self.datagram[..n]))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Datagrams the kernel dropped for this socket since it was opened (its buffer was
    /// full), from `/proc/net/udp` and `/proc/net/udp6`; `None` where that cannot be read.
    pub fn kernel_drops(&self) -> Option<u64> {
        let inode = self.inode?;
        ["/proc/net/udp", "/proc/net/udp6"]
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .find_map(|table| drops_of(&table, inode))
    }
}

/// On Linux as root, SO_RCVBUFFORCE: the size asked for, past `net.core.rmem_max`.
#[allow(unsafe_code)] // setsockopt: an option socket2 does not wrap; see the SAFETY note
fn force_receive_buffer(socket: &socket2::Socket, size: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        // SAFETY: a valid socket descriptor, an int option of the right size; failure (not
        // root) leaves the size set before.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, size);
}

/// The inode of a socket, from the link `/proc/self/fd/N` -> `socket:[INODE]`.
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        let s = link.to_str()?;
        s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
    }
    #[cfg(not(unix))]
    {
        let _ = socket;
        None
    }
}

/// The `drops` column of the line of `/proc/net/udp` whose inode is `inode`.
fn drops_of(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
        (cols.get(9)?.parse::<u64>().ok()? == inode).then(|| cols.get(12)?.parse().ok())?
    })
}

/// An IPv4 address in IPv6 clothing (`::ffff:a.b.c.d`, as a dual-stack socket gives) as
/// itself.
fn unmapped(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => a,
        },
        v4 => v4,
    }
}

/// The one's complement sum of `b` as 16-bit words, folded.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A datagram from `from` to `to` as a raw IP packet (IPv4 or IPv6 with UDP, checksums
/// set), written to `out`; for a capture of link type RAW. Addresses of different families
/// (a dual-stack socket) take the sender's family, the collector's address unspecified.
pub fn datagram_packet(from: SocketAddr, to: SocketAddr, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let udp_len = (8 + payload.len()).min(65535) as u16;
    let payload = &payload[..usize::from(udp_len) - 8];
    let mut udp = [0u8; 8];
    udp[0..2].copy_from_slice(&from.port().to_be_bytes());
    udp[2..4].copy_from_slice(&to.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    match from.ip() {
        IpAddr::V4(src) => {
            let dst = match to.ip() {
                IpAddr::V4(d) => d,
                IpAddr::V6(d) => d
                    .to_ipv4_mapped()
                    .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
            };
            let total = (20 + usize::from(udp_len)).min(65535) as u16;
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&total.to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let sum = checksum(&[&ip]);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            let pseudo = [
                &src.octets()[..],
                &dst.octets()[..],
                &[0, 17],
                &udp_len.to_be_bytes(),
            ]
            .concat();
            let sum = checksum(&[&pseudo, &udp, payload]);
            udp[6..8].copy_from_slice(&if sum == 0 { 0xffff } else { sum }.to_be_bytes());
            out.extend_from_slice(&ip);
        }
        IpAddr::V6(src) => {
            let dst = match to.ip() {
                IpAddr::V6(d) => d,
                IpAddr::V4(d) => d.to_ipv6_mapped(),
            };
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&udp_len.to_be_bytes());
            ip[6] = 17;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&src.octets());
            ip[24..40].copy_from_slice(&dst.octets());
            let pseudo = [
                &src.octets()[..],
                &dst.octets()[..],
                &u32::from(udp_len).to_be_bytes(),
                &[0, 0, 0, 17],
            ]
            .concat();
            let sum = checksum(&[&pseudo, &udp, payload]);
            udp[6..8].copy_from_slice(&if sum == 0 { 0xffff } else { sum }.to_be_bytes());
            out.extend_from_slice(&ip);
        }
    }
    out.extend_from_slice(&udp);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_datagram_packet_decodes_as_the_datagram_it_carries() {
        let from: SocketAddr = "192.0.2.1:40000".parse().unwrap();
        let to: SocketAddr = "127.0.0.1:2055".parse().unwrap();
        let payload = b"\x00\x0a\x00\x14abcdefghijklmnop";
        let mut out = Vec::new();
        datagram_packet(from, to, payload, &mut out);
        levee_decode::with_decoded(levee_decode::linktype::RAW, &out, out.len() as u32, |p| {
            let ip = p.ip.unwrap();
            assert_eq!((ip.src, ip.dst), (from.ip(), to.ip()));
            assert_eq!(p.ports(), Some((40000, 2055)));
            assert_eq!(p.payload, payload);
            assert!(p.issue.is_none());
        });
        // The IPv4 header sums to zero with its checksum.
        assert_eq!(checksum(&[&out[..20]]), 0);
        let from6: SocketAddr = "[2001:db8::1]:9995".parse().unwrap();
        datagram_packet(from6, to, payload, &mut out);
        levee_decode::with_decoded(levee_decode::linktype::RAW, &out, out.len() as u32, |p| {
            assert_eq!(p.ip.unwrap().src, from6.ip());
            assert_eq!(p.payload, payload);
        });
    }

    #[test]
    fn the_socket_receives_and_reads_its_drop_counter() {
        let mut s = ExportSocket::bind("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        assert!(s.receive_buffer() > 0);
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(b"hello", s.local_addr()).unwrap();
        let (from, d) = s
            .receive(Duration::from_secs(5))
            .unwrap()
            .expect("a datagram");
        assert_eq!((from, d), (sender.local_addr().unwrap(), &b"hello"[..]));
        assert_eq!(s.receive(Duration::from_millis(10)).unwrap(), None);
        assert_eq!(s.kernel_drops(), Some(0));
    }

    #[test]
    fn what_the_kernel_drops_is_counted_and_adds_up_with_what_arrived() {
        // A small buffer nobody reads while a burst comes: the kernel drops the rest.
        let mut s = ExportSocket::bind("127.0.0.1:0".parse().unwrap(), 64 << 10).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent = 2000u64;
        for _ in 0..sent {
            sender.send_to(&[0u8; 1400], s.local_addr()).unwrap();
        }
        let drops = s.kernel_drops().expect("the drop counter");
        assert!(drops > 0, "the kernel dropped nothing");
        let mut received = 0;
        while s.receive(Duration::from_millis(50)).unwrap().is_some() {
            received += 1;
        }
        assert_eq!(received + drops, sent);
    }

    #[test]
    fn what_is_queued_is_read_without_waiting_and_then_nothing() {
        let mut s = ExportSocket::bind("127.0.0.1:0".parse().unwrap(), 4 << 20).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..500u32 {
            sender.send_to(&i.to_be_bytes(), s.local_addr()).unwrap();
        }
        let mut queued = Vec::new();
        while let Some((_, d)) = s.receive_queued().unwrap() {
            queued.push(u32::from_be_bytes(d.try_into().unwrap()));
        }
        assert_eq!(queued, (0..500).collect::<Vec<_>>());
        // Waiting again after not waiting, and the other way round.
        sender.send_to(b"late", s.local_addr()).unwrap();
        let (_, d) = s
            .receive(Duration::from_secs(5))
            .unwrap()
            .expect("a datagram");
        assert_eq!(d, b"late");
        let waited = std::time::Instant::now();
        assert_eq!(s.receive_queued().unwrap(), None);
        assert!(waited.elapsed() < Duration::from_secs(1));
        assert_eq!(s.kernel_drops(), Some(0));
    }

    #[test]
    fn drops_are_read_from_the_line_of_the_socket() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(drops_of(table, 4242), Some(17));
        assert_eq!(drops_of(table, 1), None);
    }
}
