fn main() -> std::process::ExitCode {
    common::server::main(&company::SPEC)
}
