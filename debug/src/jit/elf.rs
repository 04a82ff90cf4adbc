//! A minimal ELF64 writer for JIT debug images: an address-only `.text`,
//! the DWARF sections, and function symbols. Nothing is loaded from it;
//! debuggers only read it.

const SHT_PROGBITS: u32 = 1;
const SHT_SYMTAB: u32 = 2;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const SHF_ALLOC: u64 = 2;
const SHF_EXECINSTR: u64 = 4;

#[cfg(target_arch = "x86_64")]
const MACHINE: u16 = 62; // EM_X86_64
#[cfg(target_arch = "aarch64")]
const MACHINE: u16 = 183; // EM_AARCH64

struct Section {
    name: u32,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

fn strtab_add(tab: &mut Vec<u8>, s: &str) -> u32 {
    let at = tab.len() as u32;
    tab.extend_from_slice(s.as_bytes());
    tab.push(0);
    at
}

/// Writes the image. `symbols` are (name, address, size) of functions.
pub fn write(
    text_addr: u64,
    text_size: u64,
    debug: &[(String, Vec<u8>)],
    symbols: &[(String, u64, u64)],
) -> Vec<u8> {
    let mut shstr = vec![0u8];
    let mut out = vec![0u8; 64];
    let mut sections = vec![Section {
        name: 0,
        kind: 0,
        flags: 0,
        addr: 0,
        offset: 0,
        size: 0,
        link: 0,
        info: 0,
        align: 0,
        entsize: 0,
    }];
    sections.push(Section {
        name: strtab_add(&mut shstr, ".text"),
        kind: SHT_NOBITS,
        flags: SHF_ALLOC | SHF_EXECINSTR,
        addr: text_addr,
        offset: 64,
        size: text_size,
        link: 0,
        info: 0,
        align: 16,
        entsize: 0,
    });
    for (name, data) in debug {
        let offset = out.len() as u64;
        out.extend_from_slice(data);
        sections.push(Section {
            name: strtab_add(&mut shstr, name),
            kind: SHT_PROGBITS,
            flags: 0,
            addr: 0,
            offset,
            size: data.len() as u64,
            link: 0,
            info: 0,
            align: 1,
            entsize: 0,
        });
    }
    // Symbols: the null symbol, then one global function per entry.
    let mut strtab = vec![0u8];
    let mut symtab = vec![0u8; 24];
    for (name, addr, size) in symbols {
        let n = strtab_add(&mut strtab, name);
        symtab.extend_from_slice(&n.to_le_bytes());
        symtab.push(0x12); // STB_GLOBAL, STT_FUNC
        symtab.push(0);
        symtab.extend_from_slice(&1u16.to_le_bytes()); // .text
        symtab.extend_from_slice(&addr.to_le_bytes());
        symtab.extend_from_slice(&size.to_le_bytes());
    }
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let symtab_index = sections.len() as u32;
    let symtab_off = out.len() as u64;
    out.extend_from_slice(&symtab);
    sections.push(Section {
        name: strtab_add(&mut shstr, ".symtab"),
        kind: SHT_SYMTAB,
        flags: 0,
        addr: 0,
        offset: symtab_off,
        size: symtab.len() as u64,
        link: symtab_index + 1,
        info: 1,
        align: 8,
        entsize: 24,
    });
    let strtab_off = out.len() as u64;
    out.extend_from_slice(&strtab);
    sections.push(Section {
        name: strtab_add(&mut shstr, ".strtab"),
        kind: SHT_STRTAB,
        flags: 0,
        addr: 0,
        offset: strtab_off,
        size: strtab.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    let shstrtab_name = strtab_add(&mut shstr, ".shstrtab");
    let shstr_off = out.len() as u64;
    out.extend_from_slice(&shstr);
    sections.push(Section {
        name: shstrtab_name,
        kind: SHT_STRTAB,
        flags: 0,
        addr: 0,
        offset: shstr_off,
        size: shstr.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    for s in &sections {
        out.extend_from_slice(&s.name.to_le_bytes());
        out.extend_from_slice(&s.kind.to_le_bytes());
        out.extend_from_slice(&s.flags.to_le_bytes());
        out.extend_from_slice(&s.addr.to_le_bytes());
        out.extend_from_slice(&s.offset.to_le_bytes());
        out.extend_from_slice(&s.size.to_le_bytes());
        out.extend_from_slice(&s.link.to_le_bytes());
        out.extend_from_slice(&s.info.to_le_bytes());
        out.extend_from_slice(&s.align.to_le_bytes());
        out.extend_from_slice(&s.entsize.to_le_bytes());
    }
    // The ELF header.
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h.extend_from_slice(&MACHINE.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&0u64.to_le_bytes()); // phoff
    h.extend_from_slice(&shoff.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    h.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    h.extend_from_slice(&56u16.to_le_bytes()); // phentsize
    h.extend_from_slice(&0u16.to_le_bytes()); // phnum
    h.extend_from_slice(&64u16.to_le_bytes()); // shentsize
    h.extend_from_slice(&(sections.len() as u16).to_le_bytes());
    h.extend_from_slice(&(sections.len() as u16 - 1).to_le_bytes()); // shstrndx
    out[..64].copy_from_slice(&h);
    out
}
