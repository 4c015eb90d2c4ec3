//! The cgroup v2 device filter: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) made from the OCI
//! device rules and attached to the container's cgroup, since v2 has no `devices.allow`.
//!
//! The rules are first reduced the way the v1 devices controller reduces the lines written to
//! `devices.allow`/`devices.deny` (`Policy::from_rules`): a type-`a` rule resets everything to
//! allow-all or deny-all; each other rule either adds an exception to the default or removes
//! access from an exception of the same device (exact type, major and minor, wildcards
//! included). The program then checks the exceptions (all of one kind) and falls back to the
//! default, so both hierarchies of a hybrid host enforce the same set. Exception matching is
//! the kernel's: an allow exception must grant every access bit asked for; a deny exception
//! applies when it shares any bit with the request.
//!
//! The program is loaded and attached with the raw bpf(2) system call (`sys::bpf`): four
//! commands, no crate needed. Removing the cgroup directory releases the program.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::sys::bpf;

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == 8);

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K (32-bit)
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JMP_JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const JMP_JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// struct bpf_cgroup_dev_ctx's encodings.
const DEV_BLOCK: i32 = 1; // BPF_DEVCG_DEV_BLOCK
const DEV_CHAR: i32 = 2; // BPF_DEVCG_DEV_CHAR
pub const ACC_MKNOD: u8 = 1; // BPF_DEVCG_ACC_MKNOD
pub const ACC_READ: u8 = 2; // BPF_DEVCG_ACC_READ
pub const ACC_WRITE: u8 = 4; // BPF_DEVCG_ACC_WRITE
const ACC_ALL: u8 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// An exception to the default: a device (a `None` major or minor is any) and access bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub block: bool,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

/// The reduced rules: a default and exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

fn bad(why: String) -> Error {
    Error::Spec(format!("linux.resources.devices: {why}"))
}

/// "rwm" → bits; missing or empty is every access (as the v1 path writes it).
fn access_bits(access: Option<&str>) -> Result<u8> {
    let a = access.unwrap_or("");
    if a.is_empty() {
        return Ok(ACC_ALL);
    }
    let mut bits = 0;
    for c in a.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(bad(format!("unknown access {c:?} in {a:?}"))),
        };
    }
    Ok(bits)
}

/// A major or minor: negative or missing is any; more than fits the program's 32-bit signed
/// immediates is refused (device numbers have 12 and 20 bits).
fn number(n: Option<i64>, what: &str) -> Result<Option<u32>> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) if n <= i64::from(i32::MAX) => Ok(Some(n as u32)),
        Some(n) => Err(bad(format!("{what} {n} is out of range"))),
    }
}

impl Policy {
    /// Applies `rules` in order, starting from allow-all (a new cgroup's state).
    pub fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Policy> {
        let mut p = Policy {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for r in rules {
            let access = access_bits(r.access().as_deref())?;
            let block = match r.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::A => {
                    p.default_allow = r.allow();
                    p.exceptions.clear();
                    continue;
                }
                LinuxDeviceType::B => true,
                LinuxDeviceType::C | LinuxDeviceType::U => false,
                LinuxDeviceType::P => {
                    return Err(bad("type p (a FIFO) is not a device rule type".into()))
                }
            };
            let ex = Exception {
                block,
                major: number(r.major(), "major")?,
                minor: number(r.minor(), "minor")?,
                access,
            };
            let same =
                |x: &Exception| x.block == ex.block && x.major == ex.major && x.minor == ex.minor;
            if r.allow() != p.default_allow {
                match p.exceptions.iter_mut().find(|x| same(x)) {
                    Some(x) => x.access |= access,
                    None => p.exceptions.push(ex),
                }
            } else {
                for x in p.exceptions.iter_mut().filter(|x| same(x)) {
                    x.access &= !access;
                }
                p.exceptions.retain(|x| x.access != 0);
            }
        }
        Ok(p)
    }

    /// The program: registers R2 = device type, R3 = access, R4 = major, R5 = minor; one block
    /// per exception that returns the exception's verdict when it matches and jumps to the
    /// next block otherwise; the default last.
    pub fn program(&self) -> Vec<Insn> {
        let mut p = vec![
            insn(LDX_MEM_W, 2, 1, 0, 0),
            insn(ALU_AND_K, 2, 0, 0, 0xffff),
            insn(LDX_MEM_W, 3, 1, 0, 0),
            insn(ALU_RSH_K, 3, 0, 0, 16),
            insn(LDX_MEM_W, 4, 1, 4, 0),
            insn(LDX_MEM_W, 5, 1, 8, 0),
        ];
        let verdict = i32::from(!self.default_allow);
        for ex in &self.exceptions {
            // Jumps are filled in once the block's length is known: each jumps past the block.
            let mut block: Vec<Insn> = Vec::new();
            let typ = if ex.block { DEV_BLOCK } else { DEV_CHAR };
            block.push(insn(JMP_JNE_K, 2, 0, 0, typ));
            if ex.access != ACC_ALL {
                block.push(insn(ALU_MOV_X, 1, 3, 0, 0));
                block.push(insn(ALU_AND_K, 1, 0, 0, i32::from(ex.access)));
                if self.default_allow {
                    // Deny exception: applies when any bit asked for is in it.
                    block.push(insn(JMP_JEQ_K, 1, 0, 0, 0));
                } else {
                    // Allow exception: every bit asked for must be in it.
                    block.push(insn(JMP_JNE_X, 1, 3, 0, 0));
                }
            }
            if let Some(m) = ex.major {
                block.push(insn(JMP_JNE_K, 4, 0, 0, m as i32));
            }
            if let Some(m) = ex.minor {
                block.push(insn(JMP_JNE_K, 5, 0, 0, m as i32));
            }
            block.push(insn(ALU_MOV_K, 0, 0, 0, verdict));
            block.push(insn(JMP_EXIT, 0, 0, 0, 0));
            let len = block.len();
            for (i, ins) in block.iter_mut().enumerate() {
                if matches!(ins.code, JMP_JNE_K | JMP_JNE_X | JMP_JEQ_K) {
                    // To the first instruction after this block.
                    ins.off = (len - i - 1) as i16;
                }
            }
            p.extend(block);
        }
        p.push(insn(ALU_MOV_K, 0, 0, 0, i32::from(self.default_allow)));
        p.push(insn(JMP_EXIT, 0, 0, 0, 0));
        p
    }
}

/// The program for `rules`.
pub fn program(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Insn>> {
    Ok(Policy::from_rules(rules)?.program())
}

// ---------------------------------------------------------------------------------------------
// bpf(2) (the calls themselves are in `sys::bpf`)

/// Loads `prog`; on a verifier error, loads again with a log to say why.
fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..11].copy_from_slice(b"berth_devic");
    match bpf::prog_load_device(prog, license, name, None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let detail = match bpf::prog_load_device(prog, license, name, Some(&mut log)) {
                Ok(fd) => return Ok(fd),
                Err(_) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    let text = String::from_utf8_lossy(&log[..end]);
                    let last = text.lines().rev().find(|l| !l.trim().is_empty());
                    last.map(|l| format!(" ({})", l.trim())).unwrap_or_default()
                }
            };
            Err(Error::DeviceFilterLoad {
                insns: prog.len(),
                source: e,
                detail,
            })
        }
    }
}

/// The ids of the device programs attached to the cgroup `dir`.
fn attached(dir_fd: &File) -> std::result::Result<Vec<u32>, nix::errno::Errno> {
    bpf::prog_query_device(dir_fd.as_fd())
}

/// Loads `prog` and attaches it to the cgroup directory `dir` (BPF_F_ALLOW_MULTI, as runc, so
/// that the programs of the ancestors still apply); device programs attached there before (an
/// earlier update) are detached once the new one is in, so that no moment is unfiltered.
pub fn attach(dir: &Path, prog: &[Insn]) -> Result<()> {
    let cgroup_err = |what: &str, source: nix::errno::Errno| Error::CgroupSys {
        path: dir.to_path_buf(),
        what: what.to_string(),
        source,
    };
    let dir_fd = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    let old = attached(&dir_fd).map_err(|e| cgroup_err("query its device filters", e))?;
    let prog_fd = load(prog)?;
    bpf::prog_attach_device(dir_fd.as_fd(), prog_fd.as_fd())
        .map_err(|e| cgroup_err("attach the device filter", e))?;
    for id in old {
        let old_fd = match bpf::prog_get_fd_by_id(id) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ENOENT) => continue,
            Err(e) => return Err(cgroup_err(&format!("open device filter {id}"), e)),
        };
        match bpf::prog_detach_device(dir_fd.as_fd(), old_fd.as_fd()) {
            Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(cgroup_err(&format!("detach device filter {id}"), e)),
        }
    }
    Ok(())
}

/// The number of device programs attached to the cgroup `dir`.
pub fn attached_count(dir: &Path) -> Result<usize> {
    let dir_fd = File::open(dir).map_err(|e| Error::io("open", dir, e))?;
    attached(&dir_fd)
        .map(|ids| ids.len())
        .map_err(|source| Error::CgroupSys {
            path: dir.to_path_buf(),
            what: "query its device filters".into(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinuxDeviceType::{A, B, C, P};

    /// A device rule: allow or deny; type (`None`: unset, which is "a"); major and minor
    /// (`None`: any); access (`None`: unset).
    fn dev(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(access.map(String::from));
        r
    }

    /// Runs `prog` on a device access (an interpreter of the instructions the generator
    /// emits), returning R0.
    fn run(prog: &[Insn], block: bool, access: u8, major: u32, minor: u32) -> u64 {
        let typ: u32 = if block { 1 } else { 2 };
        let ctx = [typ | (u32::from(access) << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            let jump = |taken: bool| if taken { i.off as isize } else { 0 };
            let mut off = 0isize;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU_AND_K => r[dst] = u64::from((r[dst] as u32) & (imm as u32)),
                ALU_RSH_K => r[dst] = u64::from((r[dst] as u32) >> imm),
                ALU_MOV_K => r[dst] = u64::from(imm as u32),
                ALU_MOV_X => r[dst] = u64::from(r[src] as u32),
                JMP_JNE_K => off = jump(r[dst] != imm),
                JMP_JEQ_K => off = jump(r[dst] == imm),
                JMP_JNE_X => off = jump(r[dst] != r[src]),
                JMP_EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
            pc = (pc as isize + 1 + off) as usize;
        }
    }

    /// The v1 controller's check (devcgroup_legacy_check_permission) on a policy.
    fn v1_allows(p: &Policy, block: bool, access: u8, major: u32, minor: u32) -> bool {
        let matches = |x: &Exception| {
            x.block == block
                && x.major.is_none_or(|m| m == major)
                && x.minor.is_none_or(|m| m == minor)
        };
        if p.default_allow {
            !p.exceptions
                .iter()
                .any(|x| matches(x) && x.access & access != 0)
        } else {
            p.exceptions
                .iter()
                .any(|x| matches(x) && access & !x.access == 0)
        }
    }

    /// The program agrees with the v1 check on every type and access, for these devices.
    fn agrees(p: &Policy, devices: &[(u32, u32)]) {
        let prog = p.program();
        for block in [false, true] {
            for access in 1..=ACC_ALL {
                for &(major, minor) in devices {
                    let want = v1_allows(p, block, access, major, minor);
                    let got = run(&prog, block, access, major, minor);
                    assert_eq!(
                        got,
                        u64::from(want),
                        "block={block} access={access} {major}:{minor} in {p:?}"
                    );
                }
            }
        }
    }

    const DEVICES: &[(u32, u32)] = &[
        (1, 3),
        (1, 5),
        (1, 7),
        (5, 0),
        (5, 2),
        (8, 0),
        (8, 1),
        (10, 200),
        (10, 229),
        (136, 0),
        (136, 7),
        (254, 0),
    ];

    #[test]
    fn deny_all_and_one_char_device() {
        let r = vec![
            dev(false, None, None, None, Some("rwm")),
            dev(true, Some(C), Some(1), Some(3), Some("rwm")),
        ];
        let prog = program(&r).unwrap();
        let i = insn;
        assert_eq!(
            prog,
            vec![
                i(LDX_MEM_W, 2, 1, 0, 0),
                i(ALU_AND_K, 2, 0, 0, 0xffff),
                i(LDX_MEM_W, 3, 1, 0, 0),
                i(ALU_RSH_K, 3, 0, 0, 16),
                i(LDX_MEM_W, 4, 1, 4, 0),
                i(LDX_MEM_W, 5, 1, 8, 0),
                // c 1:3 rwm: no access check
                i(JMP_JNE_K, 2, 0, 4, DEV_CHAR),
                i(JMP_JNE_K, 4, 0, 3, 1),
                i(JMP_JNE_K, 5, 0, 2, 3),
                i(ALU_MOV_K, 0, 0, 0, 1),
                i(JMP_EXIT, 0, 0, 0, 0),
                // default: deny
                i(ALU_MOV_K, 0, 0, 0, 0),
                i(JMP_EXIT, 0, 0, 0, 0),
            ]
        );
        assert_eq!(run(&prog, false, ACC_READ | ACC_WRITE, 1, 3), 1);
        assert_eq!(run(&prog, false, ACC_READ, 1, 5), 0);
        assert_eq!(run(&prog, true, ACC_READ, 1, 3), 0);
    }

    #[test]
    fn wildcard_majors_partial_access_and_block_devices() {
        let r = vec![
            dev(false, None, None, None, Some("rwm")),
            dev(true, Some(C), None, None, Some("m")),
            dev(true, Some(B), Some(8), None, Some("r")),
            dev(true, Some(C), Some(136), Some(-1), Some("rw")),
        ];
        let p = Policy::from_rules(&r).unwrap();
        let prog = p.program();
        // c *:* m: type, the access check, no number checks.
        assert_eq!(
            &prog[6..12],
            &[
                insn(JMP_JNE_K, 2, 0, 5, DEV_CHAR),
                insn(ALU_MOV_X, 1, 3, 0, 0),
                insn(ALU_AND_K, 1, 0, 0, i32::from(ACC_MKNOD)),
                insn(JMP_JNE_X, 1, 3, 2, 0),
                insn(ALU_MOV_K, 0, 0, 0, 1),
                insn(JMP_EXIT, 0, 0, 0, 0),
            ]
        );
        // b 8:* r: the major, no minor.
        assert_eq!(prog[12], insn(JMP_JNE_K, 2, 0, 6, DEV_BLOCK));
        assert_eq!(prog[16], insn(JMP_JNE_K, 4, 0, 2, 8));
        assert_eq!(prog.len(), 6 + 6 + 7 + 7 + 2);
        assert_eq!(run(&prog, false, ACC_MKNOD, 4, 64), 1);
        assert_eq!(run(&prog, false, ACC_READ, 4, 64), 0);
        assert_eq!(run(&prog, false, ACC_READ | ACC_MKNOD, 4, 64), 0);
        assert_eq!(run(&prog, true, ACC_READ, 8, 3), 1);
        assert_eq!(run(&prog, true, ACC_WRITE, 8, 3), 0);
        assert_eq!(run(&prog, true, ACC_MKNOD, 8, 3), 0);
        assert_eq!(run(&prog, false, ACC_READ | ACC_WRITE, 136, 9), 1);
        agrees(&p, DEVICES);
    }

    #[test]
    fn dockers_default_rules() {
        // Docker's rules as ctr-create writes them, then the ones the runtime always adds.
        let spec = vec![
            dev(false, None, None, None, Some("rwm")),
            dev(true, Some(C), Some(1), Some(5), Some("rwm")),
            dev(true, Some(C), Some(1), Some(3), Some("rwm")),
            dev(true, Some(C), Some(1), Some(9), Some("rwm")),
            dev(true, Some(C), Some(1), Some(8), Some("rwm")),
            dev(true, Some(C), Some(5), Some(0), Some("rwm")),
            dev(true, Some(C), Some(5), Some(1), Some("rwm")),
            dev(false, Some(C), Some(10), Some(229), Some("rwm")),
        ];
        let mut res = oci_spec::runtime::LinuxResources::default();
        res.set_devices(Some(spec));
        let all = crate::with_allowed_devices(&res).devices().clone().unwrap();
        let p = Policy::from_rules(&all).unwrap();
        assert!(!p.default_allow);
        // 1:3 and 1:5 … appear once each though two rules name them.
        assert_eq!(p.exceptions.len(), 12, "{p:?}");
        let prog = p.program();
        assert_eq!(prog.len(), 69);
        agrees(&p, DEVICES);
        // Host disks: mknod only; fuse (denied by Docker): nothing but mknod of any char device.
        assert_eq!(run(&prog, true, ACC_MKNOD, 8, 0), 1);
        assert_eq!(run(&prog, true, ACC_READ, 8, 0), 0);
        assert_eq!(run(&prog, true, ACC_WRITE, 254, 0), 0);
        assert_eq!(run(&prog, false, ACC_READ | ACC_WRITE, 10, 229), 0);
        assert_eq!(run(&prog, false, ACC_READ | ACC_WRITE, 136, 3), 1);
        assert_eq!(run(&prog, false, ACC_READ | ACC_WRITE, 5, 2), 1);
    }

    #[test]
    fn reduction_follows_the_v1_controller() {
        // Privileged: allow everything, and the runtime's additions change nothing.
        let p = Policy::from_rules(&[
            dev(true, None, None, None, Some("rwm")),
            dev(true, Some(C), Some(1), Some(3), Some("rwm")),
        ])
        .unwrap();
        assert_eq!(
            p,
            Policy {
                default_allow: true,
                exceptions: vec![]
            }
        );
        assert_eq!(p.program().len(), 8);
        // Allow-all with deny exceptions: any shared access bit denies.
        let p = Policy::from_rules(&[
            dev(false, Some(B), None, None, Some("w")),
            dev(false, Some(C), Some(10), Some(229), None),
        ])
        .unwrap();
        assert!(p.default_allow);
        let prog = p.program();
        assert_eq!(run(&prog, true, ACC_READ, 8, 0), 1);
        assert_eq!(run(&prog, true, ACC_READ | ACC_WRITE, 8, 0), 0);
        assert_eq!(run(&prog, false, ACC_READ, 10, 229), 0);
        agrees(&p, DEVICES);
        // A deny after an allow takes access away from that same device; an "a" resets.
        let p = Policy::from_rules(&[
            dev(false, None, None, None, Some("rwm")),
            dev(true, Some(C), Some(1), Some(3), Some("rwm")),
            dev(true, Some(C), Some(1), Some(5), Some("rw")),
            dev(false, Some(C), Some(1), Some(3), Some("w")),
            dev(false, Some(C), Some(1), Some(5), Some("rw")),
        ])
        .unwrap();
        assert_eq!(
            p.exceptions,
            vec![Exception {
                block: false,
                major: Some(1),
                minor: Some(3),
                access: ACC_READ | ACC_MKNOD
            }]
        );
        agrees(&p, DEVICES);
        let p = Policy::from_rules(&[
            dev(true, Some(C), Some(1), Some(3), None),
            dev(false, Some(A), None, None, None),
        ])
        .unwrap();
        assert!(!p.default_allow && p.exceptions.is_empty());
        assert_eq!(run(&p.program(), false, ACC_READ, 1, 3), 0);
        // Bad input is refused, naming the rule.
        for bad in [
            vec![dev(true, Some(C), None, None, Some("rx"))],
            vec![dev(true, Some(C), Some(4294967296), None, None)],
            vec![dev(true, Some(P), Some(1), None, None)],
        ] {
            let e = program(&bad).unwrap_err().to_string();
            assert!(e.contains("linux.resources.devices"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn the_kernel_accepts_and_attaches_the_program() {
        let unified = Path::new("/sys/fs/cgroup/unified");
        let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Path::new("/sys/fs/cgroup")
        } else {
            unified
        };
        if !nix::unistd::geteuid().is_root() || !root.join("cgroup.procs").exists() {
            println!("skipped: needs root and a cgroup v2 hierarchy");
            return;
        }
        let dir = root.join(format!("berth-devfilter-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        struct Rm<'a>(&'a Path);
        impl Drop for Rm<'_> {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(self.0);
            }
        }
        let _rm = Rm(&dir);
        let r = vec![
            dev(false, None, None, None, Some("rwm")),
            dev(true, Some(C), None, None, Some("m")),
            dev(true, Some(C), Some(1), Some(3), Some("rw")),
            dev(true, Some(B), Some(8), None, Some("r")),
        ];
        assert_eq!(attached_count(&dir).unwrap(), 0);
        attach(&dir, &program(&r).unwrap()).unwrap();
        assert_eq!(attached_count(&dir).unwrap(), 1);
        // Again (an update): the new program replaces the old one.
        attach(&dir, &program(&r[..2]).unwrap()).unwrap();
        assert_eq!(attached_count(&dir).unwrap(), 1);
        // A program the verifier refuses (reads past the context) says so.
        let e = load(&[insn(LDX_MEM_W, 0, 1, 64, 0), insn(JMP_EXIT, 0, 0, 0, 0)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("device filter"), "{e}");
    }
}
