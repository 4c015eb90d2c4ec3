//! A minimal runc-like driver of the runtime library, for trying it by hand:
//! `brun STATE_ROOT BUNDLE ID` runs the bundle's process attached and prints its exit code.
use berth_runtime::{become_subreaper, Runtime, Stdio};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let rt = Runtime::new(&a[1]);
    become_subreaper().unwrap();
    let id = &a[3];
    let pid = match rt.create(id, std::path::Path::new(&a[2]), Stdio::default()) {
        Ok(c) => c.pid,
        Err(e) => {
            eprintln!("create: {e}");
            std::process::exit(e.exit_code() as i32);
        }
    };
    eprintln!("created pid {pid}: {:?}", rt.state(id).map(|s| s.status));
    rt.start(id).unwrap();
    let st = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    eprintln!("exit: {st:?}");
    rt.delete(id, true).unwrap();
}
