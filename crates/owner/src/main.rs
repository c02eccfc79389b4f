fn main() -> std::process::ExitCode {
    common::server::main(&owner::SPEC)
}
