fn main() -> std::process::ExitCode {
    // The process that enters the container runs from a sealed copy of this binary, so that
    // nothing inside can write the binary through /proc/PID/exe (CVE-2019-5736).
    if let Err(e) = berth::container::protect_binary() {
        eprintln!("ctr-exec: error: {e}");
        return std::process::ExitCode::from(125);
    }
    berth::cli::main_code(env!("CARGO_BIN_NAME"), ctr_exec::run)
}
