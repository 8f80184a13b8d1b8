//! amoCRM's answers: two bytes of HTTP status, then the body, read as a problem document,
//! a list of custom fields or pipelines, and as the payload of an access token (JWT).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// Base64url without padding, as JWTs carry their parts.
fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let payload = data.get(2..).unwrap_or_default();
    let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.c2ln", b64url(payload));
    billmgr_amocrm::fuzz_entry::amo_response(data, &token);
});
