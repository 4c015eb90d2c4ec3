fn main() -> std::process::ExitCode {
    berth::cli::main_code(env!("CARGO_BIN_NAME"), ctr_run::run)
}
