//! amocrm.conf, optionally followed by a NUL and presets.custom, and another NUL and a
//! presets.default replacing the shipped one: every section, setting and rule parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    billmgr_amocrm::fuzz_entry::config(data);
});
