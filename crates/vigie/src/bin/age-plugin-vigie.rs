//! `age-plugin-vigie`: the age plugin that opens Vigie's sealed extracts (see the
//! `age_plugin_vigie` crate). Installed beside `vigie`; a recipient needs only this binary.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match age_plugin_vigie::main_with(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("age-plugin-vigie: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
