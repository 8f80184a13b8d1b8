//! The handler's input: the panel's environment (`PARAM_*`, `EVENT_TYPE`, `AUTH_*`,
//! `HTTP_COOKIE`) as `KEY=VALUE` lines, a NUL, then the function's XML document.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    billmgr_amocrm::fuzz_entry::panel_call(data);
});
