//! Placeholder: being written.

use super::{Ctx, UiResult};

pub fn list(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn edit(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn delete(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}
