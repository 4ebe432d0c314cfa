//! Extracting the squashfs image: into a fresh directory (`--appimage-extract`), or once
//! into the cache, atomically, for running.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{symlink, DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Component, Path, PathBuf};

use backhand::{FilesystemReader, InnerNode};

use crate::Error;

/// What an extraction wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// The path of an image entry relative to the image's root, or an error if it could
/// leave the destination (`..`, an absolute part) once joined to it.
fn relative(fullpath: &Path) -> Result<PathBuf, Error> {
    let mut out = PathBuf::new();
    for part in fullpath.components() {
        match part {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::new(format!(
                    "the image holds an unsafe path: {}",
                    fullpath.display()
                )))
            }
        }
    }
    Ok(out)
}

/// Extracts the squashfs image that starts at `offset` in `image` into `dest`, which
/// must not exist yet. Regular files, directories and symbolic links are written with
/// their permission bits (setuid, setgid and sticky dropped); devices, pipes and
/// sockets are skipped. An entry is only ever written inside a directory this call
/// created, so a symbolic link in the image cannot redirect a later entry outside
/// `dest`. A corrupt image is an error, never a panic.
pub fn extract(image: &Path, offset: u64, dest: &Path) -> Result<Counts, Error> {
    let file = File::open(image).map_err(|e| Error::new(format!("cannot open {}: {e}", image.display())))?;
    // backhand is not written to be fed hostile input; if it panics on a corrupt image,
    // that is reported like any other corrupt image.
    match panic::catch_unwind(AssertUnwindSafe(|| {
        extract_from(BufReader::new(file), offset, dest)
    })) {
        Ok(result) => result,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::new(format!(
                "the squashfs image is corrupt (the reader failed: {why})"
            )))
        }
    }
}

fn extract_from(reader: BufReader<File>, offset: u64, dest: &Path) -> Result<Counts, Error> {
    let fs = FilesystemReader::from_reader_with_offset(reader, offset)
        .map_err(|e| Error::new(format!("cannot read the squashfs image at offset {offset}: {e}")))?;

    fs::DirBuilder::new()
        .mode(0o700)
        .create(dest)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dest.display())))?;

    let mut counts = Counts::default();
    // Directories this extraction made (relative paths; "" is `dest`), and the
    // permissions to give them once everything inside is written.
    let mut made: HashSet<PathBuf> = HashSet::from([PathBuf::new()]);
    let mut dir_modes: Vec<(PathBuf, u32)> = Vec::new();

    for node in fs.files() {
        let rel = relative(&node.fullpath)?;
        let mode = u32::from(node.header.permissions) & 0o777;
        if rel.as_os_str().is_empty() {
            dir_modes.push((dest.to_path_buf(), mode | 0o700));
            continue;
        }
        let parent = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        if !made.contains(&parent) {
            return Err(Error::new(format!(
                "the image lists {} before its directory, or inside a non-directory",
                rel.display()
            )));
        }
        let target = dest.join(&rel);
        let fail = |what: &str, e: io::Error| Error::new(format!("cannot {what} {}: {e}", target.display()));
        match &node.inner {
            InnerNode::Dir(_) => {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(&target)
                    .map_err(|e| fail("create directory", e))?;
                made.insert(rel);
                dir_modes.push((target, mode | 0o700));
                counts.dirs += 1;
            }
            InnerNode::File(f) => {
                let mut out = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| fail("create", e))?;
                let mut data = fs.file(f).reader();
                let written = io::copy(&mut data, &mut out).map_err(|e| fail("write", e))?;
                if written != f.file_len() as u64 {
                    return Err(Error::new(format!(
                        "the squashfs image is corrupt: {} should hold {} bytes, read {written}",
                        rel.display(),
                        f.file_len()
                    )));
                }
                out.set_permissions(fs::Permissions::from_mode(mode))
                    .map_err(|e| fail("chmod", e))?;
                counts.files += 1;
                counts.bytes += written;
            }
            InnerNode::Symlink(link) => {
                symlink(&link.link, &target).map_err(|e| fail("create symbolic link", e))?;
                counts.symlinks += 1;
            }
            InnerNode::CharacterDevice(_)
            | InnerNode::BlockDevice(_)
            | InnerNode::NamedPipe
            | InnerNode::Socket => {}
        }
    }
    // Deepest first, so a read-only directory is closed only after its children.
    for (dir, mode) in dir_modes.iter().rev() {
        fs::set_permissions(dir, fs::Permissions::from_mode(*mode))
            .map_err(|e| Error::new(format!("cannot chmod {}: {e}", dir.display())))?;
    }
    Ok(counts)
}

/// A short digest of everything from `offset` to the end of `image`: the name of its
/// cache directory. xxh3 reads at memory speed, so every start can afford it; it tells
/// versions apart, it is not a signature.
pub fn digest(image: &Path, offset: u64) -> Result<String, Error> {
    let fail = |e: io::Error| Error::new(format!("cannot read {}: {e}", image.display()));
    let mut file = File::open(image).map_err(fail)?;
    file.seek(SeekFrom::Start(offset)).map_err(fail)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
    }
    Ok(format!("{:016x}", hasher.digest()))
}

/// Returns `root/name`, extracting the image there first unless an earlier run did.
/// The image is extracted into a temporary directory beside it, which is then renamed
/// into place in one step: a half-extracted tree is never found under `name`. When two
/// starts race, one rename wins and the other's copy is removed.
pub fn ensure_extracted(
    image: &Path,
    offset: u64,
    root: &Path,
    name: &str,
) -> Result<(PathBuf, bool), Error> {
    let dir = root.join(name);
    if dir.is_dir() {
        return Ok((dir, false));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| {
            Error::new(format!(
                "cannot create the cache directory {}: {e}",
                root.display()
            ))
        })?;
    remove_stale(root);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        remove_tree(&tmp);
    }
    if let Err(e) = extract(image, offset, &tmp) {
        remove_tree(&tmp);
        return Err(e);
    }
    match fs::rename(&tmp, &dir) {
        Ok(()) => Ok((dir, true)),
        Err(_) if dir.is_dir() => {
            // Another start of the same image got there first: use its copy.
            remove_tree(&tmp);
            Ok((dir, false))
        }
        Err(e) => {
            remove_tree(&tmp);
            Err(Error::new(format!(
                "cannot move the extracted image to {}: {e}",
                dir.display()
            )))
        }
    }
}

/// Removes what an interrupted extraction left: `.tmp-<name>-<pid>` directories whose
/// process is gone. Best effort.
fn remove_stale(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(".tmp-")
            .and_then(|rest| rest.rsplit('-').next())
        else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            remove_tree(&entry.path());
        }
    }
}

/// Removes a tree this runtime extracted, even where it made a directory read-only.
fn remove_tree(path: &Path) {
    if fs::remove_dir_all(path).is_ok() {
        return;
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    stack.push(entry.path());
                }
            }
        }
    }
    let _ = fs::remove_dir_all(path);
}

#[cfg(test)]
mod tests {
    use super::*;
    use backhand::compression::Compressor;
    use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
    use std::io::{Cursor, Write};
    use std::process::Command;

    /// A tiny image, written with backhand's writer, gzip-compressed like the real one.
    fn tiny_image() -> Vec<u8> {
        let mut w = FilesystemWriter::default();
        w.set_compressor(FilesystemCompressor::new(Compressor::Gzip, None).unwrap());
        let h = |mode| NodeHeader::new(mode, 0, 0, 0);
        w.set_root_mode(0o755);
        w.push_dir("usr", h(0o755)).unwrap();
        w.push_dir("usr/bin", h(0o755)).unwrap();
        w.push_file(
            Cursor::new(b"#!/bin/sh\necho hello\n".to_vec()),
            "AppRun",
            h(0o755),
        )
        .unwrap();
        w.push_file(Cursor::new(vec![7u8; 300_000]), "usr/bin/big", h(0o644))
            .unwrap();
        w.push_file(Cursor::new(b"".to_vec()), "usr/empty", h(0o600))
            .unwrap();
        w.push_symlink("usr/bin/big", "link", h(0o777)).unwrap();
        w.push_dir("ro", h(0o555)).unwrap();
        w.push_file(Cursor::new(b"x".to_vec()), "ro/inside", h(0o4755))
            .unwrap();
        let mut out = Cursor::new(Vec::new());
        w.write(&mut out).unwrap();
        out.into_inner()
    }

    /// `runtime` bytes, then the image: an AppImage in miniature.
    fn appimage(dir: &Path, runtime: &[u8], image: &[u8]) -> PathBuf {
        let path = dir.join("x.AppImage");
        let mut f = File::create(&path).unwrap();
        f.write_all(runtime).unwrap();
        f.write_all(image).unwrap();
        path
    }

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn extracts_files_links_and_modes_after_an_offset() {
        let tmp = tempfile::tempdir().unwrap();
        let runtime = vec![0xAB; 1234];
        let file = appimage(tmp.path(), &runtime, &tiny_image());
        let dest = tmp.path().join("out");
        let counts = extract(&file, 1234, &dest).unwrap();
        assert_eq!((counts.files, counts.dirs, counts.symlinks), (4, 3, 1));
        assert_eq!(fs::read(dest.join("AppRun")).unwrap(), b"#!/bin/sh\necho hello\n");
        assert_eq!(fs::read(dest.join("usr/bin/big")).unwrap(), vec![7u8; 300_000]);
        assert_eq!(fs::read(dest.join("usr/empty")).unwrap(), b"");
        assert_eq!(
            fs::read_link(dest.join("link")).unwrap(),
            Path::new("usr/bin/big")
        );
        assert_eq!(mode(&dest.join("AppRun")), 0o755);
        assert_eq!(mode(&dest.join("usr/bin/big")), 0o644);
        assert_eq!(
            mode(&dest.join("ro")),
            0o755,
            "owner keeps write so the cache can be removed"
        );
        assert_eq!(mode(&dest.join("ro/inside")), 0o755, "setuid is dropped");
        // The destination must be new.
        assert!(extract(&file, 1234, &dest).is_err());
    }

    #[test]
    fn extracts_an_image_made_by_mksquashfs() {
        // scripts/setup.sh installs squashfs-tools: the image format the AppImage
        // really ships is the one worth testing.
        let status = Command::new("mksquashfs")
            .arg("-version")
            .output()
            .expect("mksquashfs (squashfs-tools) is needed: run scripts/setup.sh --test");
        assert!(status.status.success());
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("usr/lib")).unwrap();
        fs::write(src.join("AppRun"), "#!/bin/sh\n").unwrap();
        fs::set_permissions(src.join("AppRun"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(src.join("usr/lib/libx.so.1"), vec![1u8; 200_000]).unwrap();
        symlink("libx.so.1", src.join("usr/lib/libx.so")).unwrap();
        let image = tmp.path().join("img.squashfs");
        let out = Command::new("mksquashfs")
            .arg(&src)
            .arg(&image)
            .args([
                "-comp",
                "gzip",
                "-root-owned",
                "-noappend",
                "-quiet",
                "-no-progress",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let file = appimage(tmp.path(), &[0u8; 4096], &fs::read(&image).unwrap());
        let dest = tmp.path().join("out");
        let counts = extract(&file, 4096, &dest).unwrap();
        assert_eq!((counts.files, counts.symlinks), (2, 1));
        assert_eq!(
            fs::read(dest.join("usr/lib/libx.so.1")).unwrap(),
            vec![1u8; 200_000]
        );
        assert_eq!(
            fs::read_link(dest.join("usr/lib/libx.so")).unwrap(),
            Path::new("libx.so.1")
        );
        assert_eq!(mode(&dest.join("AppRun")), 0o755);
    }

    #[test]
    fn extracts_once_into_the_cache_and_reuses_it() {
        let tmp = tempfile::tempdir().unwrap();
        let file = appimage(tmp.path(), &[0u8; 100], &tiny_image());
        let name = digest(&file, 100).unwrap();
        assert_eq!(name.len(), 16);
        let root = tmp.path().join("cache");
        // A leftover of an interrupted extraction by a process that is gone.
        fs::create_dir_all(root.join(format!(".tmp-{name}-999999999/usr"))).unwrap();
        let (dir, fresh) = ensure_extracted(&file, 100, &root, &name).unwrap();
        assert!(fresh);
        assert_eq!(dir, root.join(&name));
        assert!(dir.join("AppRun").is_file());
        assert!(!root.join(format!(".tmp-{name}-999999999")).exists());
        let (again, fresh) = ensure_extracted(&file, 100, &root, &name).unwrap();
        assert_eq!((again, fresh), (dir, false));
        let names: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from(&name)],
            "no temporary directory is left"
        );
    }

    #[test]
    fn a_corrupt_image_is_an_error_and_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let good = tiny_image();
        let mut cases = vec![b"not squashfs at all".to_vec(), good[..good.len() / 2].to_vec()];
        // Flip bytes all over the image: each is either still readable or an error.
        for at in (0..good.len()).step_by(97) {
            let mut bad = good.clone();
            bad[at] ^= 0x5A;
            cases.push(bad);
        }
        let root = tmp.path().join("cache");
        let mut errors = 0;
        for (i, case) in cases.iter().enumerate() {
            let file = appimage(tmp.path(), b"", case);
            match ensure_extracted(&file, 0, &root, &format!("case{i}")) {
                Ok((dir, _)) => remove_tree(&dir),
                Err(_) => errors += 1,
            }
        }
        assert!(errors >= 2);
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "no partial tree is left");
    }

    #[test]
    fn unsafe_paths_are_refused() {
        assert!(relative(Path::new("/usr/../../etc/passwd")).is_err());
        assert_eq!(
            relative(Path::new("/usr/./bin")).unwrap(),
            PathBuf::from("usr/bin")
        );
        assert_eq!(relative(Path::new("/")).unwrap(), PathBuf::new());
    }
}
