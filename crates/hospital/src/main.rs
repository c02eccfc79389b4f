fn main() -> std::process::ExitCode {
    common::server::main(&hospital::SPEC)
}
