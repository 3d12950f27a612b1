//! What rewrites addresses, MACs and name labels: anonymising, restoring, or nothing.

/// Turns addresses and MACs into others (anonymised, or back to the originals).
pub trait Rewriter {
    /// The address of `a` (4 or 16 bytes) rewritten in place.
    fn address(&mut self, a: &mut [u8]);
    /// `mac` rewritten in place.
    fn mac(&mut self, mac: &mut [u8; 6]);
    /// A label of a name (DNS, HTTP, TLS), rewritten in place to one of the same length.
    fn label(&mut self, _label: &mut [u8]) {}
    /// An address written as text (a Host, X-Forwarded-For), which its pseudonym might not
    /// fit: its hex digits masked (`x`).
    fn masked(&mut self, text: &mut [u8]) {
        mask(text);
    }
    /// Whether the link's padding after an IP packet is zeroed.
    fn scrubs_padding(&self) -> bool {
        true
    }
    /// Distinct addresses rewritten so far.
    fn addresses(&self) -> u64 {
        0
    }
    /// Distinct MACs rewritten so far.
    fn macs(&self) -> u64 {
        0
    }
}

/// Rewrites nothing: a walk to find where payloads start.
pub struct Unchanged;

impl Rewriter for Unchanged {
    fn address(&mut self, _: &mut [u8]) {}
    fn mac(&mut self, _: &mut [u8; 6]) {}
    fn scrubs_padding(&self) -> bool {
        false
    }
}

/// Every hex digit of `text` turned into `x`.
pub fn mask(text: &mut [u8]) {
    for b in text {
        if b.is_ascii_hexdigit() {
            *b = b'x';
        }
    }
}
