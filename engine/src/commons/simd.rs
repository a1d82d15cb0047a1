//! CPU feature detection and function multiversioning.
//!
//! [`multiversion!`](crate::multiversion) compiles one plain-Rust loop twice: as is, and inside
//! a function with AVX-512 enabled (where LLVM vectorizes it eight words wide); the choice is
//! made at run time from what the CPU reports. Both versions compute the same thing; the tests
//! run whichever this machine selects, and `GLOVEBOX_PORTABLE=1` forces the portable one.

/// Whether this CPU has the AVX-512 subsets the fast paths use (F, DQ, VL, BW), and the
/// portable paths are not forced.
#[inline]
pub fn has_avx512() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::env::var_os("GLOVEBOX_PORTABLE").is_none()
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512bw")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Defines `fn name(args)` whose body is compiled both portably and with AVX-512 enabled.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
            unsafe fn avx512($($arg: $ty),*) {
                generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if $crate::commons::simd::has_avx512() {
                // SAFETY: the CPU reports every feature `avx512` was compiled for.
                return unsafe { avx512($($arg),*) };
            }
            generic($($arg),*)
        }
    };
}
