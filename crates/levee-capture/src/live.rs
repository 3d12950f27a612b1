//! Frames from a network interface as they arrive (Linux): an `AF_PACKET` socket with a
//! `TPACKET_V3` ring shared with the kernel.
//!
//! The kernel writes packets into blocks of a memory-mapped ring and hands a block over when it
//! is full or its timeout passes; levee reads the frames in place (no copy, no system call per
//! packet) and gives the block back. When levee falls behind, the kernel finds no free block
//! and drops: [`LiveCapture::stats`] reads its drop counter, which a monitor must report, for
//! a detector that silently lost packets under a flood understates the flood.
//!
//! Why not libpcap through the `pcap` crate: it links the system's libpcap at build time (a
//! `-dev` package that the two-command quick start would then need on every machine), and
//! libpcap's Linux capture is this same ring; what levee needs of it (open, read in place,
//! drop counters, a timeout) is the code below. `bench/monitor.sh` compares the drops of both
//! at the highest rate `tcpreplay` reaches.

#![allow(unsafe_code)] // the ring is shared memory the kernel writes; see each SAFETY note

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Settings of a live capture.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Size of the ring: what the kernel can hold while levee is busy. 64 MiB holds about
    /// 0.3 s of a 1 Gbit/s link's smallest packets.
    pub ring_bytes: usize,
    /// How long the kernel waits before handing over a block that is not full: the longest a
    /// packet waits at a low rate.
    pub block_timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> LiveConfig {
        LiveConfig {
            ring_bytes: 64 << 20,
            block_timeout: Duration::from_millis(10),
        }
    }
}

/// A live capture could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("interface {interface}: {what}: {source}")]
pub struct LiveError {
    /// The interface, as named.
    pub interface: String,
    /// The step that failed (`open a packet socket`, `map the ring`...).
    pub what: &'static str,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

/// What the kernel counted for the socket since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiveStats {
    /// Packets the kernel handed to the ring, dropped ones included.
    pub packets: u64,
    /// Packets the kernel dropped because the ring was full.
    pub drops: u64,
    /// Times the ring was found full (the kernel froze its queue).
    pub freezes: u64,
}

/// One frame read in place from the ring.
#[derive(Debug)]
pub struct LiveFrame<'a> {
    /// When the kernel received it, nanoseconds since 1970.
    pub ts_nanos: i64,
    /// The interface's link type (pcap numbering).
    pub linktype: u32,
    /// The bytes kept.
    pub data: &'a [u8],
    /// Its length on the wire.
    pub orig_len: u32,
}

/// The block being read: where its next packet is and how many are left.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    block: usize,
    offset: usize,
    left: u32,
}

/// A live capture from one interface (see the module's overview).
#[derive(Debug)]
pub struct LiveCapture {
    interface: String,
    linktype: u32,
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    block_size: usize,
    blocks: usize,
    /// The next block to read.
    next_block: usize,
    reading: Option<Cursor>,
    stats: LiveStats,
}

// SAFETY: the ring is owned by this value alone (mapped in `open`, unmapped in `drop`); moving
// it to another thread moves that ownership.
unsafe impl Send for LiveCapture {}

const BLOCK_SIZE: usize = 1 << 20;
const FRAME_SIZE: usize = 1 << 11;

impl LiveCapture {
    /// Opens `interface` for reading every packet it receives or sends.
    pub fn open(interface: &str, config: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let fail = |what, source| LiveError {
            interface: interface.to_string(),
            what,
            source,
        };
        let arphrd = arphrd_type(interface).map_err(|e| fail("cannot be opened", e))?;
        let linktype = link_type(arphrd).map_err(|e| fail("read its link type", e))?;
        let index = interface_index(interface).map_err(|e| fail("find it", e))?;
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: a plain system call; the descriptor returned is owned at once.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
        if raw < 0 {
            return Err(fail("open a packet socket", io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a descriptor just opened and owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let version = libc::tpacket_versions::TPACKET_V3 as libc::c_int;
        set_option(&fd, libc::PACKET_VERSION, &version)
            .map_err(|e| fail("ask for TPACKET_V3", e))?;
        if arphrd == ARPHRD_LOOPBACK {
            // Loopback shows each packet twice, as sent and as received: once is the truth.
            set_option(&fd, libc::PACKET_IGNORE_OUTGOING, &1 as &libc::c_int)
                .map_err(|e| fail("skip its outgoing copies", e))?;
        }
        let blocks = (config.ring_bytes / BLOCK_SIZE).max(2);
        let request = libc::tpacket_req3 {
            tp_block_size: BLOCK_SIZE as u32,
            tp_block_nr: blocks as u32,
            tp_frame_size: FRAME_SIZE as u32,
            tp_frame_nr: (BLOCK_SIZE / FRAME_SIZE * blocks) as u32,
            tp_retire_blk_tov: config.block_timeout.as_millis().clamp(1, 1000) as u32,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        set_option(&fd, libc::PACKET_RX_RING, &request)
            .map_err(|e| fail("set up the receive ring", e))?;
        let ring_len = BLOCK_SIZE * blocks;
        // SAFETY: maps the ring the kernel just made for this socket, whole; checked below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(fail("map the ring", io::Error::last_os_error()));
        }
        let capture = LiveCapture {
            interface: interface.to_string(),
            linktype,
            fd,
            ring: ring.cast(),
            ring_len,
            block_size: BLOCK_SIZE,
            blocks,
            next_block: 0,
            reading: None,
            stats: LiveStats::default(),
        };
        // Bound last, so no packet arrives before the ring is there to take it.
        // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = index;
        // SAFETY: `addr` is a sockaddr_ll of the size given.
        let bound = unsafe {
            libc::bind(
                capture.fd.as_raw_fd(),
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if bound < 0 {
            return Err(fail("bind to it", io::Error::last_os_error()));
        }
        Ok(capture)
    }

    /// The interface read.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Its link type (pcap numbering): Ethernet for Ethernet, veth and loopback; raw IP for
    /// tunnels.
    pub fn linktype(&self) -> u32 {
        self.linktype
    }

    /// The next frame, waiting at most `wait` for one; `None` when none came.
    pub fn next_frame(&mut self, wait: Duration) -> Result<Option<LiveFrame<'_>>, LiveError> {
        loop {
            if let Some(cursor) = self.reading {
                if cursor.left > 0 {
                    return Ok(Some(self.frame_at(cursor)));
                }
                self.release(cursor.block);
                self.reading = None;
            }
            let block = self.next_block;
            if self.block_status(block).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0 {
                // SAFETY: the block is the reader's (TP_STATUS_USER) until released, and its
                // header lies at its start.
                let (count, first) = unsafe {
                    let desc = &*(self.block_ptr(block) as *const libc::tpacket_block_desc);
                    (desc.hdr.bh1.num_pkts, desc.hdr.bh1.offset_to_first_pkt)
                };
                self.next_block = (block + 1) % self.blocks;
                self.reading = Some(Cursor {
                    block,
                    offset: first as usize,
                    left: count,
                });
                continue;
            }
            if !self.wait(wait)? {
                return Ok(None);
            }
        }
    }

    /// What the kernel counted since the capture was opened.
    pub fn stats(&mut self) -> Result<LiveStats, LiveError> {
        let mut s = libc::tpacket_stats_v3 {
            tp_packets: 0,
            tp_drops: 0,
            tp_freeze_q_cnt: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `s` is the structure PACKET_STATISTICS fills for TPACKET_V3, of size `len`.
        let got = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut s).cast(),
                &mut len,
            )
        };
        if got < 0 {
            return Err(LiveError {
                interface: self.interface.clone(),
                what: "read its counters",
                source: io::Error::last_os_error(),
            });
        }
        // The kernel resets its counters at every read: they are added up here. Its packet
        // count includes the drops.
        self.stats.packets += u64::from(s.tp_packets);
        self.stats.drops += u64::from(s.tp_drops);
        self.stats.freezes += u64::from(s.tp_freeze_q_cnt);
        Ok(self.stats)
    }

    /// The frame `cursor` points at; moves the cursor past it.
    fn frame_at(&mut self, cursor: Cursor) -> LiveFrame<'_> {
        // SAFETY: the block is the reader's until released; the kernel wrote `left` packets
        // from `offset` on, each header followed at `tp_next_offset` by the next, within the
        // block. Offsets and lengths are checked against the block before use.
        let (header, next) = unsafe {
            let at = self.block_ptr(cursor.block).add(cursor.offset);
            let h = std::ptr::read_unaligned(at as *const libc::tpacket3_hdr);
            (h, h.tp_next_offset as usize)
        };
        let start = cursor.offset + usize::from(header.tp_mac);
        let len = (header.tp_snaplen as usize).min(self.block_size.saturating_sub(start));
        let left = cursor.left - 1;
        let next_offset = cursor.offset + next;
        self.reading = Some(Cursor {
            block: cursor.block,
            // A last packet has no next; a header pointing out of the block ends it.
            offset: next_offset,
            left: if next == 0 || next_offset >= self.block_size {
                0
            } else {
                left
            },
        });
        // SAFETY: `start + len` lies within the block (clamped above).
        let data =
            unsafe { std::slice::from_raw_parts(self.block_ptr(cursor.block).add(start), len) };
        LiveFrame {
            ts_nanos: i64::from(header.tp_sec) * 1_000_000_000 + i64::from(header.tp_nsec),
            linktype: self.linktype,
            data,
            orig_len: header.tp_len,
        }
    }

    fn block_ptr(&self, block: usize) -> *mut u8 {
        // SAFETY: `block < self.blocks`, so the offset lies within the mapping.
        unsafe { self.ring.add(block * self.block_size) }
    }

    /// The block's status word, which the kernel and levee hand the block over with.
    fn block_status(&self, block: usize) -> &AtomicU32 {
        // SAFETY: the status word is the first field of the block's v1 header, aligned to 8,
        // at offset 8 of the block (after `version` and `offset_to_priv`); both sides only
        // ever access it as a whole 32-bit word.
        unsafe { AtomicU32::from_ptr(self.block_ptr(block).add(8).cast::<u32>()) }
    }

    /// Gives a block back to the kernel.
    fn release(&self, block: usize) {
        self.block_status(block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
    }

    /// Waits for the kernel to hand over a block; `false` when `wait` passed first.
    fn wait(&self, wait: Duration) -> Result<bool, LiveError> {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one pollfd, valid for the call.
        let n = unsafe { libc::poll(&mut poll, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(false);
            }
            return Err(LiveError {
                interface: self.interface.clone(),
                what: "wait for packets",
                source: e,
            });
        }
        if n > 0 && poll.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            // The interface went down or away: the socket reports it, and will every time.
            // Said, not retried, or the reader would spin on it.
            return Err(LiveError {
                interface: self.interface.clone(),
                what: "read packets",
                source: self.socket_error(),
            });
        }
        Ok(n > 0)
    }

    /// The error pending on the socket.
    fn socket_error(&self) -> io::Error {
        let mut code: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: SO_ERROR fills an int of the size given.
        let got = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut code).cast(),
                &mut len,
            )
        };
        if got == 0 && code != 0 {
            io::Error::from_raw_os_error(code)
        } else {
            io::Error::new(io::ErrorKind::NotConnected, "the interface is gone")
        }
    }
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `open`, of that length, unmapped once.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
        }
    }
}

fn set_option<T>(fd: &OwnedFd, option: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a `T` of the size given, as the option expects.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn interface_index(interface: &str) -> io::Result<i32> {
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/ifindex"))?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "unreadable ifindex"))
}

const ARPHRD_LOOPBACK: u32 = 772;

/// An interface's hardware type (ARPHRD numbering).
fn arphrd_type(interface: &str) -> io::Result<u32> {
    if interface.is_empty() || interface.contains('/') || interface.starts_with('.') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    let text =
        std::fs::read_to_string(format!("/sys/class/net/{interface}/type")).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(io::ErrorKind::NotFound, "no such interface here")
            } else {
                e
            }
        })?;
    text.trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "unreadable type"))
}

/// The pcap link type of an ARPHRD type.
fn link_type(arphrd: u32) -> io::Result<u32> {
    match arphrd {
        // Ethernet, and loopback, which carries a blank Ethernet header.
        1 | ARPHRD_LOOPBACK => Ok(1),
        // No link header (tun, WireGuard): raw IP.
        65534 => Ok(101),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("link type {other} (ARPHRD) is not read; Ethernet, loopback and raw IP are"),
        )),
    }
}
