//! Lookup tables (PBS accumulators) built from a closure.

use crate::commons::dimensions::*;
use crate::entities::GlweCiphertext;

/// The accumulator that makes a PBS compute `f`: a trivial GLWE whose body splits the N
/// coefficients into `input_space` boxes of N/`input_space`, box `i` holding
/// `f(i) · delta_out`; then, as TFHE-rs (`fill_accumulator_with_encoding`,
/// `generate_programmable_bootstrap_glwe_lut`), the first half box is negated and the body
/// rotated left by half a box, so that each box is centered on its message.
///
/// ```
/// use glovebox_engine::prelude::*;
/// let lut = generate_lookup_table(GlweSize(2), PolynomialSize(256), 16, 1 << 59, |x| x * x % 4);
/// assert_eq!(lut.body()[0], 0);
/// assert_eq!(lut.body()[16], 1 << 59); // box 1 (centered): 1·1 mod 4 = 1
/// ```
pub fn generate_lookup_table(
    glwe_size: GlweSize,
    polynomial_size: PolynomialSize,
    input_space: u64,
    delta_out: u64,
    f: impl Fn(u64) -> u64,
) -> GlweCiphertext {
    let n = polynomial_size.0;
    let box_size = n / input_space as usize;
    let mut body = vec![0u64; n];
    for i in 0..input_space as usize {
        let v = f(i as u64).wrapping_mul(delta_out);
        body[i * box_size..(i + 1) * box_size].fill(v);
    }
    let half_box = box_size / 2;
    for x in body[..half_box].iter_mut() {
        *x = x.wrapping_neg();
    }
    body.rotate_left(half_box);
    GlweCiphertext::trivial(glwe_size, &body)
}
