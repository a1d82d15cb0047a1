//! CPU feature detection and function multiversioning.
//!
//! [`multiversion!`](crate::multiversion) compiles one plain-Rust loop three times: as is, inside
//! a function with AVX2 and FMA enabled (LLVM vectorizes it four words wide), and inside one
//! with AVX-512 enabled (eight words wide); the choice is made at run time from what the CPU
//! reports ([`simd_level`]). All versions compute the same thing; the tests run whichever this
//! machine selects, and `GLOVEBOX_SIMD=avx2` or `GLOVEBOX_SIMD=portable` (or the older
//! `GLOVEBOX_PORTABLE=1`) caps the choice, to test and measure the lower tiers on one machine.

/// The widest vector instruction set the fast paths may use on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SimdLevel {
    /// Plain Rust, whatever the compile target allows (SSE2 on x86-64).
    Portable,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F, DQ, VL and BW.
    Avx512,
}

impl SimdLevel {
    /// The name `GLOVEBOX_SIMD` takes.
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Portable => "portable",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Avx512 => "avx512",
        }
    }
}

/// What this CPU supports, capped by `GLOVEBOX_SIMD` (`portable`, `avx2`, `avx512`) or
/// `GLOVEBOX_PORTABLE`; read once per process.
pub fn simd_level() -> SimdLevel {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<SimdLevel> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cap = if std::env::var_os("GLOVEBOX_PORTABLE").is_some() {
            SimdLevel::Portable
        } else {
            match std::env::var("GLOVEBOX_SIMD").as_deref() {
                Ok("portable") => SimdLevel::Portable,
                Ok("avx2") => SimdLevel::Avx2,
                _ => SimdLevel::Avx512,
            }
        };
        detected().min(cap)
    })
}

fn detected() -> SimdLevel {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            return SimdLevel::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return SimdLevel::Avx2;
        }
    }
    SimdLevel::Portable
}

/// Whether the AVX-512 paths are in use ([`simd_level`] is [`SimdLevel::Avx512`]).
#[inline]
pub fn has_avx512() -> bool {
    simd_level() == SimdLevel::Avx512
}

/// Whether at least the AVX2 + FMA paths are in use.
#[inline]
pub fn has_avx2() -> bool {
    simd_level() >= SimdLevel::Avx2
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
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            match $crate::commons::simd::simd_level() {
                // SAFETY: the CPU reports every feature each version was compiled for.
                $crate::commons::simd::SimdLevel::Avx512 => return unsafe { avx512($($arg),*) },
                $crate::commons::simd::SimdLevel::Avx2 => return unsafe { avx2($($arg),*) },
                $crate::commons::simd::SimdLevel::Portable => {}
            }
            generic($($arg),*)
        }
    };
}
