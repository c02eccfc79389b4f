fn main() -> std::process::ExitCode {
    common::server::main(&dev::SPEC)
}
