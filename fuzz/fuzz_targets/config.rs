//! The config loader: TOML text as a user might write it, validated into a `Config`. Any
//! input must give a config or an error naming what is wrong, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/fuzz/tigris.toml");
    if let Err(e) = tigris::config::Config::from_toml(path, text) {
        // The message is what the user sees; building it must not panic either.
        let _ = e.to_string();
    }
});
