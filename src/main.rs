use std::process::ExitCode;

fn main() -> ExitCode {
    smeflow::cli::main()
}
