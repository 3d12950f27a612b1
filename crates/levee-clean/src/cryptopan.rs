//! Crypto-PAn (Xu, Fan, Ammar, Moon, 2002): prefix-preserving address anonymisation under a
//! 32-byte key. Two addresses that share their first n bits map to two that share their first
//! n bits, so subnets stay subnets and routing still reads, while no address can be told
//! without the key.
//!
//! Bit i of the output is bit i of the input XOR the first bit of AES(k, the input's first i
//! bits followed by a secret pad's remaining bits), where k is the key's first 16 bytes and the
//! pad is AES(k, the key's last 16 bytes). IPv4 addresses are the first 32 bits of the block,
//! so the reference implementation's published trace is reproduced (see the tests).
//!
//! The inverse needs the key too: bit i of the input is found from the input's first i bits,
//! already found.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;

/// The anonymiser of one key.
pub struct CryptoPan {
    cipher: Aes128,
    pad: u128,
}

impl CryptoPan {
    /// The anonymiser of `key`.
    pub fn new(key: &[u8; 32]) -> CryptoPan {
        let cipher = Aes128::new_from_slice(&key[..16]).expect("16 bytes");
        let mut block = aes::Block::clone_from_slice(&key[16..]);
        cipher.encrypt_block(&mut block);
        let pad = u128::from_be_bytes(block.into());
        CryptoPan { cipher, pad }
    }

    /// The first bit of AES of `prefix`'s first `bits` bits followed by the pad's others.
    fn bit(&self, prefix: u128, bits: u32) -> u128 {
        let keep = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        let input = (prefix & keep) | (self.pad & !keep);
        let mut block = aes::Block::from(input.to_be_bytes());
        self.cipher.encrypt_block(&mut block);
        u128::from(block[0] >> 7)
    }

    /// The first `width` bits of `value` (placed at the top of the 128), anonymised. Every
    /// block depends on the original's prefix alone, so all are encrypted in one call, which
    /// AES-NI pipelines.
    fn forward(&self, value: u128, width: u32) -> u128 {
        let mut blocks = [aes::Block::default(); 128];
        for (i, b) in blocks[..width as usize].iter_mut().enumerate() {
            let keep = if i == 0 { 0 } else { u128::MAX << (128 - i) };
            *b = aes::Block::from(((value & keep) | (self.pad & !keep)).to_be_bytes());
        }
        self.cipher.encrypt_blocks(&mut blocks[..width as usize]);
        let mut flips = 0u128;
        for (i, b) in blocks[..width as usize].iter().enumerate() {
            flips |= u128::from(b[0] >> 7) << (127 - i);
        }
        value ^ flips
    }

    /// The inverse of [`CryptoPan::forward`].
    fn backward(&self, anonymised: u128, width: u32) -> u128 {
        let mut value = 0u128;
        for i in 0..width {
            let flip = self.bit(value, i) << (127 - i);
            value |= (anonymised ^ flip) & (1u128 << (127 - i));
        }
        value
    }

    /// `a`, anonymised.
    pub fn v4(&self, a: [u8; 4]) -> [u8; 4] {
        let top = u128::from(u32::from_be_bytes(a)) << 96;
        ((self.forward(top, 32) >> 96) as u32).to_be_bytes()
    }

    /// `a`, anonymised.
    pub fn v6(&self, a: [u8; 16]) -> [u8; 16] {
        self.forward(u128::from_be_bytes(a), 128).to_be_bytes()
    }

    /// The address [`CryptoPan::v4`] turned into `a`.
    pub fn v4_original(&self, a: [u8; 4]) -> [u8; 4] {
        let top = u128::from(u32::from_be_bytes(a)) << 96;
        ((self.backward(top, 32) >> 96) as u32).to_be_bytes()
    }

    /// The address [`CryptoPan::v6`] turned into `a`.
    pub fn v6_original(&self, a: [u8; 16]) -> [u8; 16] {
        self.backward(u128::from_be_bytes(a), 128).to_be_bytes()
    }

    /// A block of AES of `input` (for other pseudonyms under the same key).
    pub fn block(&self, input: [u8; 16]) -> [u8; 16] {
        let mut block = aes::Block::from(input);
        self.cipher.encrypt_block(&mut block);
        block.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// The sample key of the Crypto-PAn reference distribution.
    const REFERENCE_KEY: [u8; 32] = [
        21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16, 216, 152, 143, 131,
        121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2,
    ];

    #[test]
    fn the_reference_trace_is_reproduced() {
        // From the reference's sample_trace_raw.dat and sample_trace_sanitized.dat.
        let pan = CryptoPan::new(&REFERENCE_KEY);
        for (raw, sanitized) in [
            ("128.11.68.132", "135.242.180.132"),
            ("129.118.74.4", "134.136.186.123"),
            ("130.132.252.244", "133.68.164.234"),
            ("141.223.7.43", "141.167.8.160"),
            ("141.233.145.108", "141.129.237.235"),
            ("152.163.225.39", "151.140.114.167"),
            ("156.29.3.236", "147.225.12.42"),
            ("165.247.96.84", "162.9.99.234"),
            ("166.107.77.190", "160.132.178.185"),
            ("192.102.249.13", "252.138.62.131"),
            ("192.215.32.125", "252.43.47.189"),
            ("192.233.80.103", "252.25.108.8"),
            ("192.41.57.43", "252.222.221.184"),
            ("193.150.244.223", "253.169.52.216"),
            ("195.205.63.100", "255.186.223.5"),
            ("198.200.171.101", "249.199.68.213"),
        ] {
            let raw: Ipv4Addr = raw.parse().unwrap();
            let out = Ipv4Addr::from(pan.v4(raw.octets()));
            assert_eq!(out.to_string(), sanitized, "{raw}");
            assert_eq!(Ipv4Addr::from(pan.v4_original(out.octets())), raw);
        }
    }

    #[test]
    fn prefixes_are_kept_and_the_inverse_holds_for_ipv6() {
        let pan = CryptoPan::new(&[7; 32]);
        let a: std::net::Ipv6Addr = "2001:db8:1:2::10".parse().unwrap();
        let b: std::net::Ipv6Addr = "2001:db8:1:3::10".parse().unwrap();
        let (x, y) = (pan.v6(a.octets()), pan.v6(b.octets()));
        let shared =
            (u128::from_be_bytes(a.octets()) ^ u128::from_be_bytes(b.octets())).leading_zeros();
        let kept = (u128::from_be_bytes(x) ^ u128::from_be_bytes(y)).leading_zeros();
        assert_eq!(shared, kept);
        assert_ne!(x, a.octets());
        assert_eq!(pan.v6_original(x), a.octets());
    }
}
