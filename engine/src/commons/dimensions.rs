//! Newtypes for every dimension, so that a polynomial size can never be passed where an LWE
//! dimension is expected. Mismatch errors print both values.

macro_rules! dimension {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub usize);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

dimension!(
    /// Number of mask elements of an LWE ciphertext (the LWE secret key length), `n`.
    LweDimension
);
dimension!(
    /// Number of words of an LWE ciphertext: `n + 1`.
    LweSize
);
dimension!(
    /// Number of mask polynomials of a GLWE ciphertext, `k`.
    GlweDimension
);
dimension!(
    /// Number of polynomials of a GLWE ciphertext: `k + 1`.
    GlweSize
);
dimension!(
    /// Number of coefficients of a polynomial, `N` (a power of two).
    PolynomialSize
);
dimension!(
    /// log2 of the gadget decomposition base `B`.
    DecompositionBaseLog
);
dimension!(
    /// Number of levels `ℓ` of a gadget decomposition.
    DecompositionLevelCount
);

impl LweDimension {
    pub fn to_lwe_size(self) -> LweSize {
        LweSize(self.0 + 1)
    }
}
impl LweSize {
    pub fn to_lwe_dimension(self) -> LweDimension {
        LweDimension(self.0 - 1)
    }
}
impl GlweDimension {
    pub fn to_glwe_size(self) -> GlweSize {
        GlweSize(self.0 + 1)
    }
    /// Dimension of the LWE ciphertexts sample-extracted from GLWE ciphertexts of this shape: `k·N`.
    pub fn to_equivalent_lwe_dimension(self, polynomial_size: PolynomialSize) -> LweDimension {
        LweDimension(self.0 * polynomial_size.0)
    }
}
impl GlweSize {
    pub fn to_glwe_dimension(self) -> GlweDimension {
        GlweDimension(self.0 - 1)
    }
}
impl PolynomialSize {
    /// log2(2N): the modulus the blind rotation input is switched to.
    pub fn log2_2n(self) -> u32 {
        (2 * self.0).ilog2()
    }
}
