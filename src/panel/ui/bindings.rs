//! Placeholder: being written.

use super::{Ctx, UiResult};

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn filter(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn resync(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn unlink(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn open(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}
