//! Where an ELF file ends: the first byte after everything its headers describe.
//! An AppImage's squashfs image starts there.

use std::io::{Read, Seek, SeekFrom};

use crate::Error;

/// The ELF header is at most this long (64 bytes for ELF64, 52 for ELF32).
const EHDR_LEN: usize = 64;
/// More program or section headers than this is not a runtime: refuse rather than read
/// megabytes of a corrupt file.
const MAX_HEADERS: u64 = 4096;
/// Sections of this type take no room in the file (.bss).
const SHT_NOBITS: u32 = 8;

/// The fields of the ELF header that say where the headers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    is64: bool,
    little: bool,
    phoff: u64,
    shoff: u64,
    phentsize: u64,
    phnum: u64,
    shentsize: u64,
    shnum: u64,
}

/// Reads integers of either byte order out of a header slice, failing (never
/// panicking) when a field would run past its end.
struct Fields<'a> {
    bytes: &'a [u8],
    little: bool,
}

impl Fields<'_> {
    fn get<const N: usize>(&self, at: usize) -> Result<[u8; N], Error> {
        at.checked_add(N)
            .and_then(|end| self.bytes.get(at..end))
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| Error::new("the ELF header is truncated"))
    }
    fn u16(&self, at: usize) -> Result<u64, Error> {
        let b = self.get::<2>(at)?;
        Ok(u64::from(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    }
    fn u32(&self, at: usize) -> Result<u64, Error> {
        let b = self.get::<4>(at)?;
        Ok(u64::from(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    }
    fn u64(&self, at: usize) -> Result<u64, Error> {
        let b = self.get::<8>(at)?;
        Ok(if self.little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    }
    /// An address-sized field: 8 bytes in ELF64, 4 in ELF32.
    fn addr(&self, is64: bool, at: usize) -> Result<u64, Error> {
        if is64 {
            self.u64(at)
        } else {
            self.u32(at)
        }
    }
}

fn parse_header(bytes: &[u8]) -> Result<Header, Error> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err(Error::new("not an ELF file (no \\x7fELF at its start)"));
    }
    let is64 = match bytes.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Err(Error::new("unknown ELF class")),
    };
    let little = match bytes.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err(Error::new("unknown ELF byte order")),
    };
    let f = Fields { bytes, little };
    // Offsets of e_phoff.. in the two layouts (System V ABI, "ELF Header").
    let (phoff, shoff, sizes) = if is64 { (32, 40, 54) } else { (28, 32, 42) };
    Ok(Header {
        is64,
        little,
        phoff: f.addr(is64, phoff)?,
        shoff: f.addr(is64, shoff)?,
        phentsize: f.u16(sizes)?,
        phnum: f.u16(sizes + 2)?,
        shentsize: f.u16(sizes + 4)?,
        shnum: f.u16(sizes + 6)?,
    })
}

/// `offset + count * size`, or an error if that overflows.
fn table_end(offset: u64, count: u64, size: u64) -> Result<u64, Error> {
    count
        .checked_mul(size)
        .and_then(|len| len.checked_add(offset))
        .ok_or_else(|| Error::new("the ELF header's table sizes overflow"))
}

/// Reads `count` entries of `size` bytes at `offset`, checked against limits first.
fn read_table<R: Read + Seek>(file: &mut R, offset: u64, count: u64, size: u64) -> Result<Vec<u8>, Error> {
    if count > MAX_HEADERS || size > 256 {
        return Err(Error::new(
            "the ELF header lists implausibly many or large headers",
        ));
    }
    let len = usize::try_from(count * size).map_err(|_| Error::new("ELF table too large"))?;
    let mut table = vec![0; len];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut table))
        .map_err(|e| Error::new(format!("the ELF file's headers are cut short: {e}")))?;
    Ok(table)
}

/// The end of the ELF file at the start of `file`: the largest of the end of the ELF
/// header, of the program header table, of the section header table
/// (e_shoff + e_shentsize × e_shnum), of every segment and of every section that takes
/// room in the file. Whatever follows that offset was appended.
pub fn elf_end<R: Read + Seek>(file: &mut R) -> Result<u64, Error> {
    let mut ehdr = [0u8; EHDR_LEN];
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_exact(&mut ehdr))
        .map_err(|e| Error::new(format!("cannot read the ELF header: {e}")))?;
    let h = parse_header(&ehdr)?;
    let mut end: u64 = if h.is64 { 64 } else { 52 };

    if h.phnum > 0 {
        end = end.max(table_end(h.phoff, h.phnum, h.phentsize)?);
        let table = read_table(file, h.phoff, h.phnum, h.phentsize)?;
        let f = Fields {
            bytes: &table,
            little: h.little,
        };
        // p_offset and p_filesz within a program header.
        let (off_at, size_at) = if h.is64 { (8, 32) } else { (4, 16) };
        for i in 0..h.phnum {
            let base = usize::try_from(i * h.phentsize).map_err(|_| Error::new("ELF table too large"))?;
            let off = f.addr(h.is64, base + off_at)?;
            let size = f.addr(h.is64, base + size_at)?;
            end = end.max(table_end(off, 1, size)?);
        }
    }
    if h.shnum > 0 {
        end = end.max(table_end(h.shoff, h.shnum, h.shentsize)?);
        let table = read_table(file, h.shoff, h.shnum, h.shentsize)?;
        let f = Fields {
            bytes: &table,
            little: h.little,
        };
        // sh_type, sh_offset and sh_size within a section header.
        let (type_at, off_at, size_at) = if h.is64 { (4, 24, 32) } else { (4, 16, 20) };
        for i in 0..h.shnum {
            let base = usize::try_from(i * h.shentsize).map_err(|_| Error::new("ELF table too large"))?;
            if f.u32(base + type_at)? == u64::from(SHT_NOBITS) {
                continue;
            }
            let off = f.addr(h.is64, base + off_at)?;
            let size = f.addr(h.is64, base + size_at)?;
            end = end.max(table_end(off, 1, size)?);
        }
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A little-endian ELF64 header with the given tables and nothing else.
    fn ehdr64(phoff: u64, phnum: u16, shoff: u64, shnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[6] = 1;
        h[32..40].copy_from_slice(&phoff.to_le_bytes());
        h[40..48].copy_from_slice(&shoff.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&phnum.to_le_bytes());
        h[58..60].copy_from_slice(&64u16.to_le_bytes());
        h[60..62].copy_from_slice(&shnum.to_le_bytes());
        h
    }

    fn phdr64(offset: u64, filesz: u64) -> Vec<u8> {
        let mut p = vec![0u8; 56];
        p[8..16].copy_from_slice(&offset.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p
    }

    fn shdr64(kind: u32, offset: u64, size: u64) -> Vec<u8> {
        let mut s = vec![0u8; 64];
        s[4..8].copy_from_slice(&kind.to_le_bytes());
        s[24..32].copy_from_slice(&offset.to_le_bytes());
        s[32..40].copy_from_slice(&size.to_le_bytes());
        s
    }

    #[test]
    fn the_section_header_table_at_the_end_ends_the_file() {
        // Header, one segment (64..200), then two section headers at 200: 200 + 2 × 64.
        let mut elf = ehdr64(0, 0, 200, 2);
        elf.resize(200, 0);
        elf.extend(shdr64(1, 64, 136));
        elf.extend(shdr64(SHT_NOBITS, 64, 1 << 40)); // .bss: no room in the file
        elf.extend(b"hsqs appended image");
        assert_eq!(elf_end(&mut Cursor::new(elf)).unwrap(), 200 + 2 * 64);
    }

    #[test]
    fn a_segment_past_the_tables_ends_the_file() {
        // Program headers right after the ELF header; a segment reaching 4096; no sections.
        let mut elf = ehdr64(64, 2, 0, 0);
        elf.extend(phdr64(0, 1000));
        elf.extend(phdr64(1000, 3096));
        elf.resize(5000, 0);
        assert_eq!(elf_end(&mut Cursor::new(elf)).unwrap(), 4096);
    }

    #[test]
    fn this_test_binary_ends_where_its_file_ends() {
        // A linked executable keeps its section header table last.
        let exe = std::env::current_exe().unwrap();
        let len = std::fs::metadata(&exe).unwrap().len();
        let mut file = std::fs::File::open(&exe).unwrap();
        assert_eq!(elf_end(&mut file).unwrap(), len);
    }

    #[test]
    fn corrupt_headers_are_errors_not_panics() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            b"\x7fELF".to_vec(),
            b"#!/bin/sh\n".repeat(10),
            {
                let mut h = ehdr64(0, 0, u64::MAX - 10, 2);
                h[4] = 2;
                h
            },
            ehdr64(u64::MAX, 3, 0, 0),
            ehdr64(64, u16::MAX, 0, 0),
            ehdr64(0, 0, 64, 5), // section headers past the end of the file
            {
                let mut h = ehdr64(0, 0, 0, 0);
                h[4] = 9;
                h
            },
        ];
        for case in cases {
            assert!(elf_end(&mut Cursor::new(case.clone())).is_err(), "{case:?}");
        }
    }

    #[test]
    fn elf32_big_endian_is_read_too() {
        let mut h = vec![0u8; 52];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        h[5] = 2;
        h[32..36].copy_from_slice(&100u32.to_be_bytes()); // e_shoff
        h[46..48].copy_from_slice(&40u16.to_be_bytes()); // e_shentsize
        h[48..50].copy_from_slice(&1u16.to_be_bytes()); // e_shnum
        h.resize(100, 0);
        h.extend([0u8; 40]); // one SHT_NULL section
        h.extend([0u8; 10]);
        assert_eq!(elf_end(&mut Cursor::new(h)).unwrap(), 140);
    }
}
