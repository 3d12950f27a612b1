//! Fixed-size zeroed memory backed by huge pages, for the large tables of an analysis.

/// Zeroed memory of a fixed size: anonymous pages asking the kernel for 2 MiB huge pages. A
/// random lookup over megabytes then does not also miss the TLB (a 4 KiB page per lookup costs
/// a page walk), and filling megabytes costs one page fault per 2 MiB instead of per 4 KiB. A
/// plain vector when the mapping fails.
pub(crate) enum Pages {
    Mapped(memmap2::MmapMut),
    Heap(Vec<u8>),
}

impl Pages {
    pub(crate) fn new(bytes: usize) -> Pages {
        match memmap2::MmapMut::map_anon(bytes) {
            Ok(m) => {
                #[cfg(target_os = "linux")]
                let _ = m.advise(memmap2::Advice::HugePage);
                Pages::Mapped(m)
            }
            Err(_) => Pages::Heap(vec![0; bytes]),
        }
    }

    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Pages::Mapped(m) => m,
            Pages::Heap(v) => v,
        }
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Pages::Mapped(m) => m,
            Pages::Heap(v) => v,
        }
    }

    #[inline]
    pub(crate) fn get(&self, w: usize) -> u64 {
        let b = &self.bytes()[w * 8..w * 8 + 8];
        u64::from_ne_bytes(b.try_into().expect("8 bytes"))
    }

    #[inline]
    pub(crate) fn set(&mut self, w: usize, v: u64) {
        self.bytes_mut()[w * 8..w * 8 + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// Size in 64-bit words.
    pub(crate) fn len(&self) -> usize {
        self.bytes().len() / 8
    }

    /// The 64 bytes of block `b`.
    #[inline]
    pub(crate) fn block(&self, b: usize) -> &[u8; 64] {
        self.bytes()[b * 64..b * 64 + 64]
            .try_into()
            .expect("a block is 64 bytes")
    }

    #[inline]
    pub(crate) fn block_mut(&mut self, b: usize) -> &mut [u8; 64] {
        (&mut self.bytes_mut()[b * 64..b * 64 + 64])
            .try_into()
            .expect("a block is 64 bytes")
    }
}

/// Word `w` (0..8) of a block.
#[inline]
pub(crate) fn block_word(block: &[u8; 64], w: usize) -> u64 {
    let at = (w & 7) * 8;
    u64::from_ne_bytes(block[at..at + 8].try_into().expect("8 bytes"))
}

#[inline]
pub(crate) fn set_block_word(block: &mut [u8; 64], w: usize, v: u64) {
    let at = (w & 7) * 8;
    block[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}
