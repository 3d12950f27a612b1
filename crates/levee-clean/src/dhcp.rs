//! DHCP (BOOTP) messages, whose addresses and MACs are their content: the client's, the one
//! offered, the server's and the relay's; the client's hardware address; and the options that
//! hold addresses (requested address, server identifier, routers, DNS servers), the client
//! identifier of a MAC, and the host name and FQDN (labels replaced as names are).

use crate::names::{changing, Changed};
use crate::rewriter::Rewriter;

/// Rewrites the DHCP message at `data[at..end]`.
pub fn dhcp(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    // op, htype, hlen, hops, xid 4, secs 2, flags 2, then four addresses, chaddr 16, sname 64,
    // file 128, the magic cookie, the options.
    // The fixed fields are rewritten even when the magic cookie is not where it belongs (a
    // damaged message still shows them, to tshark and to anyone); options only behind it.
    if end < at + 236 || !matches!(data[at], 1 | 2) {
        return;
    }
    for o in [12, 16, 20, 24] {
        address(data, at + o, 4, r, changed);
    }
    if data[at + 1] == 1 && data[at + 2] == 6 {
        mac(data, at + 28, r, changed);
    }
    if end < at + 240 || data[at + 236..at + 240] != [99, 130, 83, 99] {
        return;
    }
    let mut o = at + 240;
    while o < end {
        let code = data[o];
        if code == 255 {
            break;
        }
        if code == 0 {
            o += 1;
            continue;
        }
        if o + 2 > end {
            break;
        }
        let len = usize::from(data[o + 1]);
        let value = o + 2;
        if value + len > end {
            break;
        }
        match code {
            // Requested address, server identifier; routers, DNS servers (lists).
            50 | 54 | 3 | 6 if len % 4 == 0 => {
                for a in (value..value + len).step_by(4) {
                    address(data, a, 4, r, changed);
                }
            }
            // Client identifier: type 1 (Ethernet) and a MAC.
            61 if len == 7 && data[value] == 1 => mac(data, value + 1, r, changed),
            // Host name; client FQDN (3 bytes of flags and codes, then the name as text).
            12 => crate::names::host_text(data, value, value + len, r, changed),
            81 if len > 3 => crate::names::host_text(data, value + 3, value + len, r, changed),
            _ => {}
        }
        o = value + len;
    }
}

fn address(
    data: &mut [u8],
    at: usize,
    len: usize,
    r: &mut dyn Rewriter,
    changed: &mut Vec<Changed>,
) {
    changing(data, at..at + len, changed, |a| r.address(a));
}

fn mac(data: &mut [u8], at: usize, r: &mut dyn Rewriter, changed: &mut Vec<Changed>) {
    changing(data, at..at + 6, changed, |m| {
        let mac: &mut [u8; 6] = m.try_into().expect("6 bytes");
        r.mac(mac);
    });
}
