//! Ethernet frames of TCP segments made from arbitrary bytes, for the fuzz target and the
//! robustness test: each segment takes a control byte (direction, client, flags), a
//! sequence-number step and a length from the input, then that many payload bytes. Sequence
//! numbers jump back and forth, so segments overlap, repeat and leave holes.

/// The frames made from `data`.
pub fn segments(data: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut at = 0usize;
    let mut seq = [[1_000u32, 50_000u32]; 2];
    std::iter::from_fn(move || {
        let head = data.get(at..at + 3)?;
        let (ctl, step, len) = (head[0], head[1], usize::from(head[2]));
        at += 3;
        let payload = &data[at..data.len().min(at + len)];
        at += payload.len();
        let client = usize::from(ctl & 1);
        let up = ctl & 2 == 0;
        let dir = usize::from(!up);
        // Mostly in order; sometimes back (retransmission) or ahead (a hole).
        let s = seq[client][dir];
        let s = match step {
            0..=199 => s,
            200..=227 => s.wrapping_sub(u32::from(step - 199) * 7),
            _ => s.wrapping_add(u32::from(step - 227) * 13),
        };
        seq[client][dir] = s.wrapping_add(payload.len() as u32);
        let flags = (ctl >> 2) & 0x3f;
        Some(frame(client, up, s, flags, payload))
    })
}

fn frame(client: usize, up: bool, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let c = [192, 0, 2, 10 + client as u8];
    let server = [198, 51, 100, 80];
    let (src, dst, sport, dport) = if up {
        (c, server, 40_000 + client as u16, 80u16)
    } else {
        (server, c, 80u16, 40_000 + client as u16)
    };
    let mut f = vec![0u8; 12];
    f.extend([0x08, 0x00]);
    let total = (40 + payload.len()) as u16;
    f.extend([0x45, 0]);
    f.extend(total.to_be_bytes());
    f.extend([0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend(src);
    f.extend(dst);
    f.extend(sport.to_be_bytes());
    f.extend(dport.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend([0, 0, 0, 0, 0x50, flags | 0x10, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend(payload);
    f
}
