//! A directory tree of the container (or one file) written as a tar stream: what `ctr-cp` copies
//! out, and what it copies in before it is unpacked.

use super::*;

/// Writes the tree at `fd` (an `O_PATH` descriptor, status `st`) as a tar, its entries named
/// under `top` (none: the directory's entries at the top of the tar, itself left out).
pub(super) fn write_tree(
    fd: OwnedFd,
    st: &Stat,
    top: Option<&Path>,
    out: impl Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let mut links = HashMap::new();
    emit(&mut b, fd, st, top, &mut links).map_err(|e| Error::stream("write the tar", e))?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| Error::stream("write the tar", e))
}

pub(super) fn header(st: &Stat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid.into());
    h.set_gid(st.st_gid.into());
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(size);
    h
}

/// Opens the object behind the `O_PATH` descriptor `fd` for reading, through this process's
/// own `/proc/self/fd`: no path inside the container is looked up again.
pub(super) fn reopen(fd: &OwnedFd, flags: OFlags) -> io::Result<OwnedFd> {
    let p = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rfs::open(p.as_str(), flags | OFlags::CLOEXEC, Mode::empty()).map_err(io::Error::from)
}

pub(super) fn emit<W: Write>(
    b: &mut tar::Builder<W>,
    fd: OwnedFd,
    st: &Stat,
    name: Option<&Path>,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let ft = FileType::from_raw_mode(st.st_mode);
    match ft {
        FileType::Directory => {
            if let Some(n) = name {
                let mut h = header(st, tar::EntryType::Directory, 0);
                let mut p = n.as_os_str().to_os_string();
                p.push("/");
                b.append_data(&mut h, PathBuf::from(p), io::empty())?;
            }
            let dir = rfs::openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut names = Vec::new();
            for ent in rfs::Dir::read_from(&dir)? {
                let ent = ent?;
                let n = ent.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsStr::from_bytes(n).to_os_string());
                }
            }
            names.sort_by(|a, c| a.as_bytes().cmp(c.as_bytes()));
            for n in names {
                let child = match rfs::openat(
                    &dir,
                    n.as_os_str(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(c) => c,
                    // Removed meanwhile.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(e.into()),
                };
                let cst = rfs::fstat(&child)?;
                let cname = match name {
                    Some(p) => p.join(&n),
                    None => PathBuf::from(&n),
                };
                emit(b, child, &cst, Some(&cname), links)?;
            }
        }
        FileType::RegularFile => {
            let name = name.unwrap_or(Path::new("."));
            if st.st_nlink > 1 {
                let key = (st.st_dev, st.st_ino);
                if let Some(first) = links.get(&key) {
                    let mut h = header(st, tar::EntryType::Link, 0);
                    return b.append_link(&mut h, name, first);
                }
                links.insert(key, name.to_path_buf());
            }
            let f = File::from(reopen(&fd, OFlags::RDONLY | OFlags::NONBLOCK)?);
            let size = st.st_size as u64;
            let mut h = header(st, tar::EntryType::Regular, size);
            // Exactly `size` bytes whatever the file does meanwhile.
            let data = f.take(size).chain(io::repeat(0)).take(size);
            b.append_data(&mut h, name, data)?;
        }
        FileType::Symlink => {
            let name = name.unwrap_or(Path::new("."));
            let target = rfs::readlinkat(&fd, "", Vec::new())?;
            let mut h = header(st, tar::EntryType::Symlink, 0);
            b.append_link(&mut h, name, OsStr::from_bytes(target.as_bytes()))?;
        }
        FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
            let name = name.unwrap_or(Path::new("."));
            let kind = match ft {
                FileType::Fifo => tar::EntryType::Fifo,
                FileType::CharacterDevice => tar::EntryType::Char,
                _ => tar::EntryType::Block,
            };
            let mut h = header(st, kind, 0);
            h.set_device_major(rfs::major(st.st_rdev))?;
            h.set_device_minor(rfs::minor(st.st_rdev))?;
            b.append_data(&mut h, name, io::empty())?;
        }
        // Sockets and the unknown are not copied, as Docker.
        _ => {}
    }
    Ok(())
}
