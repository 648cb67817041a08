//! String literals prepared for the comparisons evaluation does per offer.
//!
//! Most literals in constraints are short (format names, regions, colours),
//! and the hot tests are equality with one (`region == 'eu'`, `'h264' in
//! formats`) and `~` against a short property (`'eu-' ~ host`). Keeping the
//! literal's bytes packed in an integer turns those into integer compares
//! instead of calls to `memcmp` or the standard library's substring
//! searcher, whose set-up costs more than the search on such short strings.

/// A string literal of a compiled constraint, packed too when short.
#[derive(Debug, Clone)]
pub(crate) struct StrConst {
    text: Box<str>,
    /// The bytes, little-endian, when there are at most 8.
    packed: Option<u64>,
}

impl StrConst {
    pub fn new(text: &str) -> StrConst {
        let packed = (text.len() <= 8).then(|| pack(text.as_bytes()));
        StrConst { text: text.into(), packed }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this string occurs in `haystack` (the `~` operator).
    #[inline]
    pub fn occurs_in(&self, haystack: &str) -> bool {
        // Scanning a short haystack (host names, labels) directly beats
        // setting up the standard library's searcher; it is linear in the
        // haystack since the needle is at most 8 bytes.
        const DIRECT_SCAN_LIMIT: usize = 64;
        let (bytes, needle) = (haystack.as_bytes(), self.text.as_bytes());
        match (self.packed, needle.first()) {
            (Some(packed), Some(&first)) if bytes.len() <= DIRECT_SCAN_LIMIT => bytes
                .windows(needle.len())
                .any(|window| window.first() == Some(&first) && pack(window) == packed),
            _ => haystack.contains(self.as_str()),
        }
    }

    #[inline]
    pub fn equals(&self, candidate: &str) -> bool {
        let candidate = candidate.as_bytes();
        if candidate.len() != self.text.len() {
            return false;
        }
        match self.packed {
            // Same length, so at most 8 bytes too.
            Some(packed) => pack(candidate) == packed,
            None => candidate == self.text.as_bytes(),
        }
    }
}

/// Up to 8 bytes as a little-endian integer, loaded as two overlapping
/// halves rather than byte by byte. Callers pass at most 8 bytes.
#[inline]
fn pack(bytes: &[u8]) -> u64 {
    let len = bytes.len();
    if let (Some(low), Some(high)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        u64::from(u32::from_le_bytes(*low)) | u64::from(u32::from_le_bytes(*high)) << ((len - 4) * 8)
    } else if let (Some(low), Some(high)) = (bytes.first_chunk::<2>(), bytes.last_chunk::<2>()) {
        u64::from(u16::from_le_bytes(*low)) | u64::from(u16::from_le_bytes(*high)) << ((len - 2) * 8)
    } else {
        bytes.first().map_or(0, |&byte| u64::from(byte))
    }
}
