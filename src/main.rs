//! The `mvtopo` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(mvtopo::cli::main())
}
