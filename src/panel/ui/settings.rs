//! Placeholder: being written.

use super::{Ctx, UiResult};

pub fn form(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}

pub fn connection(ctx: &Ctx<'_>) -> UiResult {
    Err(ctx.fail("unknown_function", &[("func", ctx.func())]))
}
