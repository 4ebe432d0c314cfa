//! The AppImage runtime of Branchline (AppImage type 2, without FUSE).
//!
//! `scripts/appimage.sh` writes this program, then a squashfs image of the AppDir right
//! after its ELF end. When run, it finds that image in its own file, extracts it once
//! into `$XDG_CACHE_HOME/branchline-appimage/<digest>` (or `~/.cache/...`) and executes
//! the `AppRun` in it with `APPIMAGE`, `APPDIR` and `ARGV0` set, passing every argument
//! through. `--appimage-help` lists the other things it can do.

mod elf;
mod extract;

use std::env;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::panic;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// A failure, told to the user in one sentence.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const CACHE_NAME: &str = "branchline-appimage";

const HELP: &str = "\
This is an AppImage: the runtime and a squashfs image of the application in one file.
Run it to start the application: the image is extracted once into
$XDG_CACHE_HOME/branchline-appimage/<digest> (~/.cache/... when XDG_CACHE_HOME is not
set), then its AppRun runs with every argument passed through. FUSE is not needed.

Options of the runtime itself (the first argument only):
  --appimage-extract          extract the image into ./squashfs-root
  --appimage-extract-and-run  run the application (what running it does anyway)
  --appimage-offset           print the byte offset of the image in this file
  --appimage-help             print this help
";

fn main() -> ExitCode {
    // Every panic is caught below and reported as an error; the default hook would only
    // add a backtrace note that means nothing to a user.
    panic::set_hook(Box::new(|_| {}));
    let outcome = panic::catch_unwind(run).unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(Error::new(format!("internal error: {why}")))
    });
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("AppImage runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode, Error> {
    let mut args = env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();

    let image =
        env::current_exe().map_err(|e| Error::new(format!("cannot find the AppImage's own file: {e}")))?;
    let offset = {
        let mut file =
            File::open(&image).map_err(|e| Error::new(format!("cannot open {}: {e}", image.display())))?;
        elf::elf_end(&mut file).map_err(|e| Error::new(format!("{}: {e}", image.display())))?
    };

    let first = rest.first().and_then(|a| a.to_str()).unwrap_or_default();
    match first {
        "--appimage-help" => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        "--appimage-offset" => {
            println!("{offset}");
            Ok(ExitCode::SUCCESS)
        }
        "--appimage-extract" => {
            if rest.len() > 1 {
                return Err(Error::new(
                    "--appimage-extract takes no pattern here: it extracts everything",
                ));
            }
            let dest = Path::new("squashfs-root");
            if dest.symlink_metadata().is_ok() {
                return Err(Error::new(
                    "./squashfs-root already exists: remove it or extract elsewhere",
                ));
            }
            let counts = extract::extract(&image, offset, dest)?;
            eprintln!(
                "extracted {} files, {} directories and {} links ({} MB) into squashfs-root",
                counts.files,
                counts.dirs,
                counts.symlinks,
                counts.bytes / 1_000_000
            );
            Ok(ExitCode::SUCCESS)
        }
        "--appimage-extract-and-run" => launch(&image, offset, argv0, &rest[1..]),
        other if other.starts_with("--appimage-") => {
            Err(Error::new(format!("unknown option {other}; see --appimage-help")))
        }
        _ => launch(&image, offset, argv0, &rest),
    }
}

/// `$XDG_CACHE_HOME/branchline-appimage`, or `$HOME/.cache/branchline-appimage`.
fn cache_root() -> Result<PathBuf, Error> {
    let absolute = |var: &str| env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(cache) = absolute("XDG_CACHE_HOME") {
        return Ok(cache.join(CACHE_NAME));
    }
    if let Some(home) = absolute("HOME") {
        return Ok(home.join(".cache").join(CACHE_NAME));
    }
    Err(Error::new(
        "neither XDG_CACHE_HOME nor HOME is set: nowhere to extract the application",
    ))
}

/// Extracts the image unless an earlier start did, then replaces this process with
/// its AppRun. Returns only on failure.
fn launch(image: &Path, offset: u64, argv0: OsString, args: &[OsString]) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let name = extract::digest(image, offset)?;
    let root = cache_root()?;
    let (appdir, fresh) = extract::ensure_extracted(image, offset, &root, &name)?;
    if fresh {
        eprintln!(
            "AppImage runtime: extracted into {} in {:.1} s (once; later starts reuse it)",
            appdir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    let apprun = appdir.join("AppRun");
    let err = Command::new(&apprun)
        .args(args)
        .env("APPIMAGE", image)
        .env("APPDIR", &appdir)
        .env("ARGV0", &argv0)
        .exec();
    Err(Error::new(format!("cannot run {}: {err}", apprun.display())))
}
