//! The `tigris` binary: parses the arguments, runs the command, prints the error chain once.
//! Exit codes: 0 success, 1 runtime failure (database, network setup), 2 bad config or usage.

use clap::Parser;

fn main() {
    let cli = tigris::cli::Cli::parse();
    match tigris::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            // Error messages already include their cause where it helps; print each cause
            // of the chain once.
            let mut message = error.to_string();
            for cause in error.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message.push_str(": ");
                    message.push_str(&cause);
                }
            }
            eprintln!("tigris: error: {message}");
            let is_config = error
                .downcast_ref::<tigris::config::ConfigError>()
                .is_some()
                || error
                    .downcast_ref::<tigris::classify::TopicError>()
                    .is_some();
            std::process::exit(if is_config { 2 } else { 1 });
        }
    }
}
