//! Reads facts from file content while a layer streams: the ELF loader a binary requests, and
//! the Node.js version embedded in a `node` binary or `libnode.so`.

use std::io::{self, Read};

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2MSB};
use goblin::elf::program_header::{PT_INTERP, ProgramHeader};

/// Bytes kept from the start of a binary; the program headers and the `PT_INTERP` string sit
/// in the first page of every ELF file produced by common linkers.
pub const ELF_HEAD_BYTES: usize = 4096;

/// Marker that precedes the version in Node.js binaries (`process.release` and the user agent,
/// e.g. `node.js/v20.20.2`).
const NODE_VERSION_MARKER: &[u8] = b"node.js/v";
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// Returns the `PT_INTERP` path of an ELF file from its first bytes, or `None` when the bytes
/// are not ELF or the binary is static.
pub fn elf_interpreter(head: &[u8]) -> Option<String> {
    if head.len() < 64 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let header = goblin::elf::Elf::parse_header(head).ok()?;
    let container = if head[EI_CLASS] == ELFCLASS64 {
        Container::Big
    } else {
        Container::Little
    };
    let endian = if head[EI_DATA] == ELFDATA2MSB {
        Endian::Big
    } else {
        Endian::Little
    };
    let ctx = Ctx::new(container, endian);
    let count = usize::from(header.e_phnum).min(256);
    let headers = ProgramHeader::parse(head, header.e_phoff as usize, count, ctx).ok()?;
    let interp = headers.iter().find(|ph| ph.p_type == PT_INTERP)?;
    let start = usize::try_from(interp.p_offset).ok()?;
    let len = usize::try_from(interp.p_filesz).ok()?;
    let bytes = head.get(start..start.checked_add(len)?)?;
    let text = bytes.split(|b| *b == 0).next()?;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// Streams a file, returning its first [`ELF_HEAD_BYTES`] bytes and the first Node.js version
/// found after the marker. Memory stays at one chunk whatever the file size.
pub fn scan_node_binary(reader: &mut dyn Read) -> io::Result<(Vec<u8>, Option<String>)> {
    let finder = memchr::memmem::Finder::new(NODE_VERSION_MARKER);
    let mut head = Vec::with_capacity(ELF_HEAD_BYTES);
    let mut buffer = vec![0u8; SCAN_CHUNK_BYTES];
    // Bytes carried over from the previous chunk so that a marker split across chunks is found.
    let carry = NODE_VERSION_MARKER.len() + 32;
    let mut kept = 0;
    let mut version = None;
    loop {
        let n = read_some(reader, &mut buffer[kept..])?;
        if n == 0 {
            break;
        }
        let filled = kept + n;
        if head.len() < ELF_HEAD_BYTES {
            let want = (ELF_HEAD_BYTES - head.len()).min(n);
            head.extend_from_slice(&buffer[kept..kept + want]);
        }
        if version.is_none()
            && let Some(position) = finder.find(&buffer[..filled])
        {
            version = parse_version(&buffer[position + NODE_VERSION_MARKER.len()..filled]);
        }
        let start = filled.saturating_sub(carry);
        buffer.copy_within(start..filled, 0);
        kept = filled - start;
    }
    Ok((head, version))
}

fn read_some(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match reader.read(buffer) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Parses `MAJOR.MINOR.PATCH` at the start of `bytes`.
fn parse_version(bytes: &[u8]) -> Option<String> {
    let end = bytes
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(bytes.len());
    let text = std::str::from_utf8(&bytes[..end]).ok()?;
    let parts: Vec<&str> = text.split('.').collect();
    (parts.len() == 3 && parts.iter().all(|p| !p.is_empty())).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_version_found_across_chunks() {
        let mut data = vec![b'x'; SCAN_CHUNK_BYTES - 4];
        data.extend_from_slice(b"node.js/v20.20.2\0rest");
        let (head, version) = scan_node_binary(&mut &data[..]).unwrap();
        assert_eq!(version.as_deref(), Some("20.20.2"));
        assert_eq!(head.len(), ELF_HEAD_BYTES);
    }

    #[test]
    fn node_version_absent() {
        let (_, version) = scan_node_binary(&mut &b"node.js/vX"[..]).unwrap();
        assert_eq!(version, None);
    }

    #[test]
    fn elf_interpreter_rejects_non_elf() {
        assert_eq!(elf_interpreter(b"#!/bin/sh\necho hi\n"), None);
        assert_eq!(elf_interpreter(&[0x7f, b'E', b'L', b'F']), None);
    }

    #[test]
    fn elf_interpreter_of_host_binary() {
        // The test binary itself is a dynamically linked ELF on Linux.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let interp = elf_interpreter(&exe[..ELF_HEAD_BYTES]).expect("PT_INTERP present");
        assert!(interp.contains("ld-"), "{interp}");
    }
}
