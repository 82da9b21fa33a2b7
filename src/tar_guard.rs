//! A reader that sits in front of the tar reader (for layers, after the decompressor; for
//! archives, on the file) and enforces limits on hostile input before the tar reader allocates
//! anything: metadata headers (GNU long names,
//! PAX records) larger than [`MAX_METADATA_BYTES`], more entries than allowed, and more
//! uncompressed bytes than the layer and image budgets.
//!
//! It follows the 512-byte block structure of the stream: each header block announces how many
//! data blocks follow, so the next header can be found without parsing the entry itself.
//! PAX `size` records override the next header's size, and old GNU sparse headers may be
//! followed by extension header blocks; both are tracked.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

const BLOCK: usize = 512;

/// Largest GNU long-name or long-link entry, or PAX header, accepted. The tar crate reads
/// these whole into memory; real ones are a few hundred bytes.
pub const MAX_METADATA_BYTES: u64 = 1024 * 1024;

/// Uncompressed-size and entry-count budgets.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Maximum uncompressed bytes of one layer.
    pub max_layer_bytes: u64,
    /// Maximum uncompressed bytes of all layers together.
    pub max_image_bytes: u64,
    /// Maximum tar entries in one layer.
    pub max_layer_entries: u64,
}

impl Limits {
    /// Limits for the outer archive: only metadata headers and the entry count are bounded,
    /// because its size is that of a file already on disk.
    pub fn for_archive() -> Limits {
        Limits {
            max_layer_bytes: u64::MAX,
            max_image_bytes: u64::MAX,
            max_layer_entries: 1_000_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 16 * 1024 * 1024 * 1024,
            max_image_bytes: 64 * 1024 * 1024 * 1024,
            max_layer_entries: 2_000_000,
        }
    }
}

/// Kind of the next bytes in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting a header block.
    Header,
    /// Collecting a GNU sparse extension block.
    SparseExtension,
    /// Passing `remaining` data bytes (padded to the block size).
    Data { remaining: u64 },
    /// Collecting the data of a PAX header, to read its `size` record.
    PaxData { remaining: u64, padding: u64 },
}

pub struct TarGuard<'a, R> {
    inner: R,
    limits: Limits,
    image_total: &'a AtomicU64,
    state: State,
    block: Vec<u8>,
    pax: Vec<u8>,
    /// Size from a PAX `size` record, which applies to the next entry that is not itself a
    /// metadata header (as the tar crate applies it).
    pax_size: Option<u64>,
    /// Data size, padded to whole blocks, of an old GNU sparse entry while its extension blocks
    /// pass.
    sparse_size: u64,
    /// Set after the all-zero end-of-archive block: the tar reader stops there, so later
    /// bytes (padding, or garbage) are only counted.
    ended: bool,
    bytes: u64,
    entries: u64,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Parses a tar numeric field: octal ASCII, or base-256 when the high bit of the first byte
/// is set (GNU extension for sizes of 8 GiB and more).
fn parse_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(field[0] & 0x7f);
        for byte in &field[1..] {
            value = value.checked_mul(256)?.checked_add(u64::from(*byte))?;
        }
        return Some(value);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// Rounds `size` up to whole blocks, or returns `None` when that exceeds `u64::MAX`.
fn padded(size: u64) -> Option<u64> {
    size.checked_next_multiple_of(BLOCK as u64)
}

/// Reads the `size` record from PAX extended header data (`<len> size=<n>\n` records).
fn pax_size_record(data: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|record| {
        let (_, key_value) = record.split_once(' ')?;
        let value = key_value.strip_prefix("size=")?;
        value.trim().parse().ok()
    })
}

impl<'a, R: Read> TarGuard<'a, R> {
    pub fn new(inner: R, limits: Limits, image_total: &'a AtomicU64) -> Self {
        TarGuard {
            inner,
            limits,
            image_total,
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            pax: Vec::new(),
            pax_size: None,
            sparse_size: 0,
            ended: false,
            bytes: 0,
            entries: 0,
        }
    }

    /// Bytes that passed through so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn on_header(&mut self) -> io::Result<()> {
        let header = std::mem::take(&mut self.block);
        if header.iter().all(|b| *b == 0) {
            self.ended = true;
            return Ok(());
        }
        self.entries += 1;
        if self.entries > self.limits.max_layer_entries {
            return Err(invalid(format!(
                "the tar stream has more than {} entries; raise --max-layer-entries if this image is genuine",
                self.limits.max_layer_entries
            )));
        }
        let kind = header[156];
        let size = parse_number(&header[124..136])
            .ok_or_else(|| invalid("a tar header has an unreadable size field".into()))?;
        let metadata = matches!(kind, b'L' | b'K' | b'x' | b'g' | b'X');
        if metadata && size > MAX_METADATA_BYTES {
            return Err(invalid(format!(
                "a tar metadata header (type {}) claims {size} bytes, above the {MAX_METADATA_BYTES}-byte limit",
                kind as char
            )));
        }
        let size = match self.pax_size {
            Some(pax_size) if !metadata => {
                self.pax_size = None;
                pax_size
            }
            _ => size,
        };
        let padded_size = padded(size).ok_or_else(|| {
            invalid(format!(
                "a tar header claims {size} bytes of data, more than a tar stream can hold"
            ))
        })?;
        // Old GNU sparse headers set byte 482 when extension header blocks follow.
        if kind == b'S' && header[482] != 0 {
            self.state = State::SparseExtension;
            self.sparse_size = padded_size;
            return Ok(());
        }
        self.state = if kind == b'x' {
            self.pax.clear();
            State::PaxData {
                remaining: size,
                padding: padded_size - size,
            }
        } else {
            // Every entry type skips its size field's worth of data, links and directories
            // too, because that is what the tar reader does.
            State::Data {
                remaining: padded_size,
            }
        };
        Ok(())
    }

    fn on_sparse_extension(&mut self) {
        let block = std::mem::take(&mut self.block);
        if block[504] == 0 {
            self.state = State::Data {
                remaining: self.sparse_size,
            };
        }
    }

    /// Advances the block tracker over `data`, which has just been read.
    fn track(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() && !self.ended {
            match self.state {
                State::Header | State::SparseExtension => {
                    let take = (BLOCK - self.block.len()).min(data.len());
                    self.block.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    if self.block.len() == BLOCK {
                        if self.state == State::Header {
                            self.on_header()?;
                        } else {
                            self.on_sparse_extension();
                        }
                    }
                }
                State::Data { remaining } => {
                    let take = remaining.min(data.len() as u64);
                    data = &data[take as usize..];
                    self.state = if remaining == take {
                        State::Header
                    } else {
                        State::Data {
                            remaining: remaining - take,
                        }
                    };
                }
                State::PaxData { remaining, padding } => {
                    let take = remaining.min(data.len() as u64);
                    self.pax.extend_from_slice(&data[..take as usize]);
                    data = &data[take as usize..];
                    if remaining == take {
                        self.pax_size = pax_size_record(&self.pax);
                        self.state = State::Data { remaining: padding };
                    } else {
                        self.state = State::PaxData {
                            remaining: remaining - take,
                            padding,
                        };
                    }
                }
            }
        }
        Ok(())
    }

    fn count(&mut self, n: u64) -> io::Result<()> {
        self.bytes += n;
        if self.bytes > self.limits.max_layer_bytes {
            return Err(invalid(format!(
                "the layer decompresses to more than {} bytes; it may be a decompression bomb (raise --max-layer-bytes if it is genuine)",
                self.limits.max_layer_bytes
            )));
        }
        let total = self.image_total.fetch_add(n, Ordering::Relaxed) + n;
        if total > self.limits.max_image_bytes {
            return Err(invalid(format!(
                "the image decompresses to more than {} bytes in total (raise --max-image-bytes if it is genuine)",
                self.limits.max_image_bytes
            )));
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count(n as u64)?;
        self.track(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8, size: u64) -> Vec<u8> {
        let mut block = vec![0u8; BLOCK];
        block[..4].copy_from_slice(b"file");
        block[156] = kind;
        if size < 0o77777777777 {
            let octal = format!("{size:011o}\0");
            block[124..136].copy_from_slice(octal.as_bytes());
        } else {
            // GNU base-256: high bit set, big-endian value in the remaining bytes.
            block[124] = 0x80;
            block[128..136].copy_from_slice(&size.to_be_bytes());
        }
        block[257..263].copy_from_slice(b"ustar\0");
        block
    }

    fn read_all(data: &[u8], limits: Limits) -> io::Result<u64> {
        let total = AtomicU64::new(0);
        let mut guard = TarGuard::new(data, limits, &total);
        io::copy(&mut guard, &mut io::sink())
    }

    #[test]
    fn huge_long_name_header_is_rejected() {
        let data = header(b'L', 8 * 1024 * 1024 * 1024);
        let err = read_all(&data, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("type L"), "{err}");
    }

    #[test]
    fn huge_pax_header_is_rejected() {
        let data = header(b'x', 2 * MAX_METADATA_BYTES);
        assert!(read_all(&data, Limits::default()).is_err());
    }

    #[test]
    fn regular_entries_pass_and_data_is_skipped() {
        let mut data = header(b'0', 600);
        data.extend(vec![b'L'; 1024]); // data that looks nothing like a header
        data.extend(header(b'0', 0));
        data.extend(vec![0u8; 1024]);
        assert_eq!(
            read_all(&data, Limits::default()).unwrap(),
            data.len() as u64
        );
    }

    #[test]
    fn pax_size_applies_to_next_entry() {
        let record = b"16 size=1024000\n";
        let mut data = header(b'x', record.len() as u64);
        let mut pax = record.to_vec();
        pax.resize(BLOCK, 0);
        data.extend(pax);
        // The ustar size field is 0, but the PAX record states that 1,024,000 bytes of
        // data follow.
        data.extend(header(b'0', 0));
        data.extend(vec![b'x'; 1_024_000]);
        data.extend(vec![0u8; 1024]);
        assert!(read_all(&data, Limits::default()).is_ok());
    }

    #[test]
    fn layer_budget_is_enforced() {
        let mut data = header(b'0', 4096);
        data.extend(vec![0u8; 4096]);
        let limits = Limits {
            max_layer_bytes: 2048,
            ..Limits::default()
        };
        let err = read_all(&data, limits).unwrap_err();
        assert!(err.to_string().contains("--max-layer-bytes"), "{err}");
    }

    #[test]
    fn entry_budget_is_enforced() {
        let mut data = Vec::new();
        for _ in 0..3 {
            data.extend(header(b'0', 0));
        }
        let limits = Limits {
            max_layer_entries: 2,
            ..Limits::default()
        };
        assert!(read_all(&data, limits).is_err());
    }

    #[test]
    fn garbage_after_end_marker_is_only_counted() {
        let mut data = header(b'0', 0);
        data.extend(vec![0u8; 1024]);
        data.extend(header(b'L', 8 * 1024 * 1024 * 1024));
        assert_eq!(
            read_all(&data, Limits::default()).unwrap(),
            data.len() as u64
        );
    }

    #[test]
    fn base256_size_is_parsed() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 0x02;
        field[10] = 0x01;
        assert_eq!(parse_number(&field), Some(258));
        assert_eq!(parse_number(b"00000001750\0"), Some(1000));
    }
}
