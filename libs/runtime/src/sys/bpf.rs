//! bpf(2) for the cgroup v2 device filter: the four commands `devfilter` needs, each with the
//! kernel's `union bpf_attr` member for it built here from safe arguments.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::devfilter::Insn;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct LoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
    _pad: u32,
}

/// The attribute structs above: the only types `bpf` may be given.
trait Attr {}
impl Attr for LoadAttr {}
impl Attr for AttachAttr {}
impl Attr for QueryAttr {}
impl Attr for GetFdAttr {}

/// bpf(cmd, attr): the result (an fd or 0) or the errno.
fn bpf<T: Attr>(cmd: libc::c_int, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `T` is one of this module's #[repr(C)] structs of integers without implicit
    // padding, laid out as the kernel's union bpf_attr member for `cmd` (each caller pairs them);
    // the kernel reads (and for QUERY writes) at most size_of::<T>() bytes of it, and every
    // pointer in it was made by this module from a slice borrowed for the whole call, with the
    // length the kernel is told.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// The descriptor a successful BPF_PROG_LOAD or BPF_PROG_GET_FD_BY_ID returned.
fn new_fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: for these commands the kernel returns a new descriptor, which nothing else owns.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

/// BPF_PROG_LOAD of a BPF_PROG_TYPE_CGROUP_DEVICE program named `name` (NUL-padded); with
/// `log`, the verifier's log is written there (NUL-terminated).
pub(crate) fn prog_load_device(
    prog: &[Insn],
    license: &std::ffi::CStr,
    name: [u8; 16],
    log: Option<&mut [u8]>,
) -> Result<OwnedFd, Errno> {
    let mut attr = LoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(prog.len()).map_err(|_| Errno::E2BIG)?,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    if let Some(log) = log {
        attr.log_level = 1;
        attr.log_size = u32::try_from(log.len()).map_err(|_| Errno::E2BIG)?;
        attr.log_buf = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr).map(new_fd)
}

/// BPF_PROG_QUERY: the ids of the device programs attached to the cgroup `dir` (at most 64).
pub(crate) fn prog_query_device(dir: BorrowedFd<'_>) -> Result<Vec<u32>, Errno> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// BPF_PROG_ATTACH of a device program to the cgroup `dir`, with BPF_F_ALLOW_MULTI.
pub(crate) fn prog_attach_device(dir: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// BPF_PROG_DETACH of a device program from the cgroup `dir`.
pub(crate) fn prog_detach_device(dir: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut attr = AttachAttr {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// BPF_PROG_GET_FD_BY_ID.
pub(crate) fn prog_get_fd_by_id(id: u32) -> Result<OwnedFd, Errno> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    bpf(BPF_PROG_GET_FD_BY_ID, &mut attr).map(new_fd)
}
