// No console window on Windows release builds; on Linux this changes nothing.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let started = std::time::Instant::now();
    if let Err(e) = branchline_app::run(started) {
        eprintln!("branchline-app: {e}");
        std::process::exit(1);
    }
}
