#!/usr/bin/env python3
"""Writes the small capture corpus checked into the repository (a few KB), so the tests that
prove levee's fast paths equal the careful ones (pcap-parser, the general decode walk) always
run, with or without ../shared. Run it from this directory; it rewrites the files it owns.

Every format variant levee reads, over the same frames: pcap in both byte orders, micro- and
nanosecond timestamps, the little-endian "modified" variant, pcapng in both byte orders with
enhanced, simple and obsolete packet blocks, and a pcap whose last record is cut short.
The frames mix what takes the straight decode path (Ethernet, IPv4 without options, TCP or
UDP) with what takes the general walk (VLAN, IPv4 options, fragments, IPv6, ICMP, ARP).
"""
import struct

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF

MAC = bytes.fromhex("020000000001") + bytes.fromhex("020000000002")

def ipv4(proto, payload, src="10.0.0.1", dst="10.0.0.2", ttl=64, ident=1, frag=0, options=b""):
    ihl = 5 + len(options) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), ident,
                    frag, ttl, proto, 0, bytes(map(int, src.split("."))),
                    bytes(map(int, dst.split("."))))
    h += options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload

def tcp(sport, dport, flags, options=b"", data=b""):
    off = (20 + len(options)) // 4
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, off << 4, flags, 65535, 0, 0) + options + data

def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data

def eth(ethertype, payload):
    return MAC + struct.pack("!H", ethertype) + payload

SYN_OPTS = bytes.fromhex("020405b40402080a0000000100000000010303070000")[:20]
DNS_Q = bytes.fromhex("123401000001000000000000") + b"\x07example\x03com\x00\x00\x01\x00\x01"
IPV6 = (struct.pack("!IHBB", 0x60000000, 20, 6, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
        + tcp(40000, 443, 0x02))

FRAMES = [
    eth(0x0800, ipv4(6, tcp(40000, 80, 0x02, SYN_OPTS))),
    eth(0x0800, ipv4(6, tcp(80, 40000, 0x12, SYN_OPTS), src="10.0.0.2", dst="10.0.0.1")),
    eth(0x0800, ipv4(6, tcp(40000, 80, 0x18, data=b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"))),
    eth(0x0800, ipv4(17, udp(53000, 53, DNS_Q))),
    eth(0x0800, ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"ping")),
    eth(0x0800, ipv4(6, tcp(40001, 22, 0x02), options=b"\x94\x04\x00\x00")),
    eth(0x0800, ipv4(17, udp(123, 123, bytes(48))[:24], frag=0x2000)),
    eth(0x0800, ipv4(17, bytes(24), frag=3)),
    eth(0x8100, struct.pack("!H", 10) + b"\x08\x00" + ipv4(17, udp(5000, 5001, b"v"))),
    eth(0x86DD, IPV6),
    eth(0x0806, bytes.fromhex("0001080006040001") + MAC[6:] + bytes(4) + bytes(6) + bytes(4)),
    eth(0x0800, ipv4(6, tcp(40002, 80, 0x02))[:30]),
]
START = 1_768_478_400  # 2026-01-15T12:00:00Z

def pcap(endian, nanos, modified=False):
    magic = 0xA1B23C4D if nanos else (0xA1B2CD34 if modified else 0xA1B2C3D4)
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(FRAMES):
        frac = i * 1234 * (1000 if nanos else 1)
        out += struct.pack(endian + "IIII", START + i, frac, len(f), len(f))
        if modified:
            out += struct.pack(endian + "IHBB", i, 0, 0, 0)
        out += f
    return out

def block(endian, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)

def pcapng(endian):
    out = block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(endian, 1, struct.pack(endian + "HHI", 1, 0, 0))
    for i, f in enumerate(FRAMES):
        t = (START + i) * 1_000_000 + i * 1234
        if i % 4 == 1:
            out += block(endian, 3, struct.pack(endian + "I", len(f)) + f)
        elif i % 4 == 2:
            out += block(endian, 2, struct.pack(endian + "HHIIII", 0, 0, t >> 32, t & 0xFFFFFFFF,
                                                len(f), len(f)) + f)
        else:
            out += block(endian, 6, struct.pack(endian + "IIIII", 0, t >> 32, t & 0xFFFFFFFF,
                                                len(f), len(f)) + f)
    return out

FILES = {
    "le-micro.pcap": pcap("<", False),
    "be-micro.pcap": pcap(">", False),
    "le-nano.pcap": pcap("<", True),
    "be-nano.pcap": pcap(">", True),
    "le-modified.pcap": pcap("<", False, modified=True),
    "le.pcapng": pcapng("<"),
    "be.pcapng": pcapng(">"),
    "truncated-last-record.pcap": pcap("<", False)[:-7],
}

if __name__ == "__main__":
    for name, data in FILES.items():
        with open(name, "wb") as f:
            f.write(data)
