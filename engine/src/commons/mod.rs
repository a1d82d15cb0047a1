//! Math and plumbing shared by entities and algorithms: arithmetic mod p, dimensions,
//! randomness, gadget decomposition.
pub mod decomposition;
pub mod dimensions;
pub mod modp;
pub mod random;
pub mod simd;
