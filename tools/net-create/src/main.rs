fn main() -> std::process::ExitCode {
    berth::cli::main(env!("CARGO_BIN_NAME"), net_create::run)
}
