//! The integer layer's ciphertexts: [`Block`] (a short integer with its degree), radix
//! integers ([`RadixCiphertext`]) and booleans ([`BoolCiphertext`]), and how a parameter set
//! cuts integers into blocks ([`RadixLayout`]).

use glovebox_engine::prelude::*;

/// How integers are cut into blocks under one parameter set: each block holds
/// `log2(message_modulus)` message bits and leaves room for carries up to
/// `message_modulus · carry_modulus`.
///
/// ```
/// use glovebox_engine::prelude::*;
/// use glovebox_integer::RadixLayout;
/// let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS)?;
/// assert_eq!((layout.block_bits, layout.message_modulus, layout.space), (2, 4, 16));
/// assert_eq!(layout.blocks(8), 4); // a u8 is 4 blocks
/// # Ok::<(), glovebox_engine::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RadixLayout {
    /// Message bits per block.
    pub block_bits: u32,
    /// Values of a clean block: `0..message_modulus`.
    pub message_modulus: u64,
    /// `message_modulus · carry_modulus`: a block's degree stays below it.
    pub space: u64,
    /// The largest squared noise norm a block may carry (`max_noise_norm²` of the set): a
    /// linear combination above it is refused ([`Error::NoiseOverflow`]).
    pub max_noise: u64,
}

impl RadixLayout {
    /// The layout of `params`. The integer algorithms pack two clean blocks into one
    /// (`message_modulus · hi + lo`), so the carry space must be at least the message space.
    pub fn new(params: &Parameters) -> Result<Self> {
        let m = params.message_modulus;
        let space = m * params.carry_modulus;
        if m < 4 || !m.is_power_of_two() || space < m * m {
            return Err(Error::InvalidParameters(format!(
                "radix integers need a power-of-two message modulus of at least 4 and a carry \
                 modulus at least as large; {} has message {} x carry {}",
                params.name, m, params.carry_modulus
            )));
        }
        Ok(Self {
            block_bits: m.trailing_zeros(),
            message_modulus: m,
            space,
            max_noise: params.max_noise_norm * params.max_noise_norm,
        })
    }

    /// Blocks of an integer of `bits` bits.
    pub fn blocks(&self, bits: u32) -> usize {
        bits.div_ceil(self.block_bits) as usize
    }

    /// The largest value a clean block holds.
    pub fn max_message(&self) -> u64 {
        self.message_modulus - 1
    }
}

/// A short-integer ciphertext, its degree (the largest value it can hold, TFHE-rs's
/// `Degree`) and its noise (the squared 2-norm `Σ kᵢ²` of the combination of nominal
/// ciphertexts it is: 1 for a fresh encryption or a PBS output, 0 for a trivial one), both set
/// by the operation that made it and checked before each linear combination.
#[derive(Clone, Debug)]
pub struct Block {
    pub(crate) ct: Ciphertext,
    pub(crate) degree: u64,
    pub(crate) noise: u64,
}

impl Block {
    /// A block from a nominal ciphertext (fresh or bootstrapped) the caller vouches for: its
    /// value is at most `degree`.
    pub(crate) fn new(ct: Ciphertext, degree: u64) -> Self {
        Self {
            ct,
            degree,
            noise: 1,
        }
    }

    /// The squared noise norm relative to a nominal ciphertext.
    pub fn noise(&self) -> u64 {
        self.noise
    }

    pub fn ciphertext(&self) -> &Ciphertext {
        &self.ct
    }

    /// The largest value the block can hold.
    pub fn degree(&self) -> u64 {
        self.degree
    }

    pub fn into_ciphertext(self) -> Ciphertext {
        self.ct
    }
}

/// An encrypted unsigned integer: little-endian blocks.
#[derive(Clone, Debug)]
pub struct RadixCiphertext {
    pub(crate) blocks: Vec<Block>,
}

impl RadixCiphertext {
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// A radix integer from freshly encrypted blocks (as [`encrypt_radix`] makes them, e.g.
    /// received over the network): each block's degree is the layout's largest message.
    /// Nothing can check what a ciphertext encrypts; a sender that encrypts more than a
    /// message per block only gets wrong results on its own data.
    pub fn from_fresh_blocks(blocks: Vec<Ciphertext>, layout: &RadixLayout) -> Self {
        Self {
            blocks: blocks
                .into_iter()
                .map(|ct| Block::new(ct, layout.max_message()))
                .collect(),
        }
    }
}

/// An encrypted boolean (0 or 1 in the message bits; degree at most 1).
#[derive(Clone, Debug)]
pub struct BoolCiphertext(pub(crate) Block);

impl BoolCiphertext {
    pub fn block(&self) -> &Block {
        &self.0
    }

    /// A flag from a block of degree at most 1 (e.g. a lookup whose function is 0 or 1).
    pub fn from_block(b: Block) -> Result<Self> {
        if b.degree > 1 {
            return Err(Error::DegreeOverflow {
                what: "flag",
                min: 0,
                max: b.degree as i64,
                space: 2,
            });
        }
        Ok(Self(b))
    }

    /// A flag from a ciphertext of 0 or 1 (e.g. received back from a server, to decrypt).
    pub fn from_ciphertext(ct: Ciphertext) -> Self {
        Self(Block::new(ct, 1))
    }
}

/// Encrypts `value` as `num_blocks` blocks of the client's parameters (see
/// [`RadixLayout::blocks`]); fresh blocks have degree `message_modulus − 1`.
pub fn encrypt_radix(client: &ClientKey, value: u64, num_blocks: usize) -> Result<RadixCiphertext> {
    let layout = RadixLayout::new(client.parameters())?;
    let bits = layout.block_bits as usize * num_blocks;
    if num_blocks == 0 || bits > 64 || (bits < 64 && value >> bits != 0) {
        return Err(Error::MessageOutOfRange {
            message: value,
            modulus: if bits >= 64 { u64::MAX } else { 1 << bits },
        });
    }
    let shift = layout.block_bits as usize;
    let blocks = (0..num_blocks)
        .map(|i| {
            let digit = (value >> (shift * i)) & layout.max_message();
            Ok(Block::new(client.encrypt(digit)?, layout.max_message()))
        })
        .collect::<Result<_>>()?;
    Ok(RadixCiphertext { blocks })
}

/// Decrypts a radix integer.
pub fn decrypt_radix(client: &ClientKey, ct: &RadixCiphertext) -> Result<u64> {
    let layout = RadixLayout::new(client.parameters())?;
    let mut v = 0u64;
    for (i, b) in ct.blocks.iter().enumerate() {
        v |= client.decrypt(&b.ct)? << (layout.block_bits as usize * i);
    }
    Ok(v)
}

/// Encrypts a boolean.
pub fn encrypt_bool(client: &ClientKey, value: bool) -> Result<BoolCiphertext> {
    Ok(BoolCiphertext(Block::new(client.encrypt(value as u64)?, 1)))
}

/// Decrypts a boolean.
pub fn decrypt_bool(client: &ClientKey, ct: &BoolCiphertext) -> Result<bool> {
    Ok(client.decrypt(&ct.0.ct)? == 1)
}
