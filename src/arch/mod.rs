//! Architecture-specific context switching.
//!
//! heddle supports one target: x86-64 Linux (SysV ABI). Everything that knows
//! about registers or the shape of a stack frame lives below this module; the
//! rest of the crate sees only [`Context`], [`switch`] and [`init_stack`].
//!
//! Any other target stops the build with a `compile_error!` (in `lib.rs`)
//! rather than miscompiling.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod x86_64;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub(crate) use self::x86_64::{Context, exit_to, init_stack, mxcsr_controls_are_default, switch};

#[cfg(all(
    target_arch = "x86_64",
    target_os = "linux",
    feature = "bench-internals"
))]
pub(crate) use self::x86_64::{switch_called, switch_ret};
