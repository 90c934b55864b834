//! Fuzzes the `syslog` log line format: any lines give events or listed errors, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(init: faultline_fuzz::log_lines::require_format("syslog"), |data: &[u8]| {
    faultline_fuzz::log_lines::decode_lines("syslog", data)
});
