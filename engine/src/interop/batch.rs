//! TFHE-rs types through Glovebox's batches: TFHE-rs shortint ciphertexts and lookup tables
//! (one-function, many-function, bivariate) in, TFHE-rs ciphertexts out, with the degree and
//! noise level that TFHE-rs's own `apply_lookup_table` would set; the blocks of many radix
//! integers through one table in one batch.
//!
//! Every call is one batch on the backend ([`ResidentServerKey::apply_tables_batch`]: keyswitch
//! and bootstrap of all its jobs together). Trivial inputs (TFHE-rs's `is_trivial`) are
//! evaluated in the clear, as TFHE-rs does, and keep their zero noise level.
//!
//! Typed errors before any work: a ciphertext of other moduli, of another atomic pattern or of
//! another LWE dimension than the key's ([`Error::ParameterMismatch`],
//! [`Error::DimensionMismatch`]), a table of another size, a many-function table whose input
//! degree bound the ciphertext exceeds, bivariate operands whose packing would exceed the
//! key's degree or noise bound ([`Error::DegreeOverflow`], [`Error::NoiseOverflow`]).
//!
//! What no server can check: that a ciphertext of the key's parameters was encrypted under
//! this key's secret rather than another one of the same parameters (such ciphertexts are
//! indistinguishable by design; TFHE-rs ciphertexts carry no key id).

use super::server_key::TfheRsServerKey;
use crate::backend::Backend;
use crate::entities::{GlweCiphertext, LweCiphertext};
use crate::error::{check_dim, Error, Result};
use crate::shortint::{BootstrapTable, ResidentServerKey};
use tfhe::core_crypto::prelude as tc;
use tfhe::shortint::ciphertext::{Degree, NoiseLevel};
use tfhe::shortint::server_key::{
    BivariateLookupTableOwned, LookupTableOwned, ManyLookupTableOwned,
};
use tfhe::shortint::Ciphertext as TfheCiphertext;

impl TfheRsServerKey {
    /// Uploads the keys to `backend`, once, for batches of TFHE-rs ciphertexts.
    pub fn upload<'a>(&'a self, backend: &'a dyn Backend) -> Result<TfheRsResidentKey<'a>> {
        Ok(TfheRsResidentKey {
            key: self,
            resident: self.server_key().upload(backend)?,
        })
    }
}

/// A [`TfheRsServerKey`] whose keys live on a backend: TFHE-rs ciphertexts through Glovebox's
/// batches.
pub struct TfheRsResidentKey<'a> {
    key: &'a TfheRsServerKey,
    resident: ResidentServerKey<'a>,
}

/// One job's table: its Glovebox form and the TFHE-rs degrees of its outputs.
struct Table {
    glovebox: Box<dyn BootstrapTable>,
    output_degrees: Vec<Degree>,
    /// For a trivial input: the sampled coefficients' offsets (TFHE-rs's stride).
    stride: usize,
}

/// One input to bootstrap: its words (the big LWE), its TFHE-rs metadata, and its table.
struct Job<'t> {
    words: Vec<u64>,
    template: &'t TfheCiphertext,
    noise_level: NoiseLevel,
    table: usize,
}

impl<'a> TfheRsResidentKey<'a> {
    /// The imported key.
    pub fn key(&self) -> &TfheRsServerKey {
        self.key
    }

    /// The Glovebox resident key underneath (for Glovebox's own batches).
    pub fn resident(&self) -> &ResidentServerKey<'a> {
        &self.resident
    }

    /// A TFHE-rs lookup table of `f` for this key: TFHE-rs's own `generate_lookup_table` (the
    /// same words and degree as its `ServerKey::generate_lookup_table`), no TFHE-rs server key
    /// needed.
    pub fn generate_lookup_table(&self, f: impl Fn(u64) -> u64) -> LookupTableOwned {
        let p = self.key.parameters();
        tfhe::shortint::server_key::generate_lookup_table(
            tfhe::shortint::server_key::LookupTableSize::new(
                tc::GlweSize(p.glwe_dimension.0 + 1),
                tc::PolynomialSize(p.polynomial_size.0),
            ),
            tc::CiphertextModulus::new_native(),
            self.key.message_modulus(),
            self.key.carry_modulus(),
            f,
        )
    }

    /// A TFHE-rs bivariate table of `f(lhs, rhs)`, as TFHE-rs's
    /// `generate_lookup_table_bivariate` makes it (`lhs` scaled by the message modulus).
    pub fn generate_lookup_table_bivariate(
        &self,
        f: impl Fn(u64, u64) -> u64,
    ) -> BivariateLookupTableOwned {
        let factor = self.key.message_modulus();
        let m = factor.0;
        BivariateLookupTableOwned {
            acc: self.generate_lookup_table(|x| f((x / m) % m, (x % m) % m)),
            ct_right_modulus: factor,
        }
    }

    /// Keyswitch + bootstrap of a batch: `cts[j]` through `luts[j]`.
    pub fn apply_lookup_table_batch(
        &self,
        cts: &[&TfheCiphertext],
        luts: &[&LookupTableOwned],
    ) -> Result<Vec<TfheCiphertext>> {
        check_dim("lookup tables in the batch", cts.len(), luts.len())?;
        let (tables, index) = self.tables_of(luts, |l| self.one_table(l))?;
        let jobs = cts
            .iter()
            .zip(&index)
            .map(|(ct, &t)| self.job(ct, t))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.run(jobs, &tables)?.into_iter().flatten().collect())
    }

    /// Keyswitch + bootstrap of every ciphertext of `cts` through the one table `lut`, in one
    /// batch.
    pub fn apply_lookup_table_to_all(
        &self,
        cts: &[&TfheCiphertext],
        lut: &LookupTableOwned,
    ) -> Result<Vec<TfheCiphertext>> {
        let tables = vec![self.one_table(lut)?];
        let jobs = cts
            .iter()
            .map(|ct| self.job(ct, 0))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.run(jobs, &tables)?.into_iter().flatten().collect())
    }

    /// Keyswitch + bootstrap of a batch through many-function tables (TFHE-rs's
    /// `generate_many_lookup_table`): output `j` holds one ciphertext per function of `luts[j]`.
    pub fn apply_many_lookup_table_batch(
        &self,
        cts: &[&TfheCiphertext],
        luts: &[&ManyLookupTableOwned],
    ) -> Result<Vec<Vec<TfheCiphertext>>> {
        check_dim("lookup tables in the batch", cts.len(), luts.len())?;
        for (ct, lut) in cts.iter().zip(luts) {
            if ct.degree.get() > lut.input_max_degree.get() {
                return Err(Error::DegreeOverflow {
                    what: "many-function lookup table input",
                    min: 0,
                    max: ct.degree.get() as i64,
                    space: lut.input_max_degree.get() + 1,
                });
            }
        }
        let (tables, index) = self.tables_of(luts, |l| self.many_table(l))?;
        let jobs = cts
            .iter()
            .zip(&index)
            .map(|(ct, &t)| self.job(ct, t))
            .collect::<Result<Vec<_>>>()?;
        self.run(jobs, &tables)
    }

    /// Every block of every radix integer of `radixes` through the one table `lut`, in one
    /// batch; the blocks are replaced in place (TFHE-rs's degrees and noise levels set).
    pub fn apply_lookup_table_to_radix_blocks(
        &self,
        radixes: &mut [&mut tfhe::integer::RadixCiphertext],
        lut: &LookupTableOwned,
    ) -> Result<()> {
        use tfhe::integer::IntegerCiphertext;
        let outs = {
            let blocks: Vec<&TfheCiphertext> =
                radixes.iter().flat_map(|r| r.blocks().iter()).collect();
            self.apply_lookup_table_to_all(&blocks, lut)?
        };
        let mut outs = outs.into_iter();
        for radix in radixes.iter_mut() {
            for block in radix.blocks_mut() {
                *block = outs.next().expect("one output per block");
            }
        }
        Ok(())
    }

    /// Bivariate tables (TFHE-rs's `generate_lookup_table_bivariate`): output `j` is
    /// `f_j(lhs_j, rhs_j)`, the operands packed as `lhs · ct_right_modulus + rhs` (TFHE-rs's
    /// `unchecked_apply_lookup_table_bivariate`) after the checks of its
    /// `is_functional_bivariate_pbs_possible`.
    pub fn apply_bivariate_lookup_table_batch(
        &self,
        pairs: &[(&TfheCiphertext, &TfheCiphertext)],
        luts: &[&BivariateLookupTableOwned],
    ) -> Result<Vec<TfheCiphertext>> {
        check_dim(
            "bivariate lookup tables in the batch",
            pairs.len(),
            luts.len(),
        )?;
        let (tables, index) = self.tables_of(luts, |l| self.one_table(&l.acc))?;
        let mut jobs = Vec::with_capacity(pairs.len());
        for ((&(lhs, rhs), lut), &t) in pairs.iter().zip(luts).zip(&index) {
            let mut left = self.job(lhs, t)?;
            let right = self.job(rhs, t)?;
            let scale = lut.ct_right_modulus.0;
            if rhs.degree.get() + 1 > scale {
                return Err(Error::DegreeOverflow {
                    what: "bivariate lookup table right operand",
                    min: 0,
                    max: rhs.degree.get() as i64,
                    space: scale,
                });
            }
            let degree = lhs.degree.get() * scale + rhs.degree.get();
            if degree > self.key.max_degree().get() {
                return Err(Error::DegreeOverflow {
                    what: "bivariate lookup table packed operands",
                    min: 0,
                    max: degree as i64,
                    space: self.key.max_degree().get() + 1,
                });
            }
            let noise = left.noise_level.get() * scale + right.noise_level.get();
            if noise > self.key.max_noise_level().get() {
                return Err(Error::NoiseOverflow {
                    what: "bivariate lookup table packed operands",
                    norm2: noise,
                    max: self.key.max_noise_level().get(),
                });
            }
            for (l, r) in left.words.iter_mut().zip(&right.words) {
                *l = l.wrapping_mul(scale).wrapping_add(*r);
            }
            left.noise_level = NoiseLevel::ZERO;
            if noise > 0 {
                left.noise_level = NoiseLevel::NOMINAL;
            }
            jobs.push(left);
        }
        Ok(self.run(jobs, &tables)?.into_iter().flatten().collect())
    }

    /// Converts the distinct tables of `luts` once each: the tables and each job's index.
    fn tables_of<L>(
        &self,
        luts: &[&L],
        convert: impl Fn(&L) -> Result<Table>,
    ) -> Result<(Vec<Table>, Vec<usize>)> {
        let mut tables = Vec::new();
        let mut seen: Vec<*const L> = Vec::new();
        let mut index = Vec::with_capacity(luts.len());
        for &lut in luts {
            let ptr = lut as *const L;
            match seen.iter().position(|&p| p == ptr) {
                Some(i) => index.push(i),
                None => {
                    seen.push(ptr);
                    tables.push(convert(lut)?);
                    index.push(tables.len() - 1);
                }
            }
        }
        Ok((tables, index))
    }

    fn accumulator(&self, acc: &tc::GlweCiphertextOwned<u64>) -> Result<GlweCiphertext> {
        super::require_native("TFHE-rs lookup table", acc.ciphertext_modulus())?;
        let p = self.key.parameters();
        check_dim(
            "TFHE-rs lookup table polynomial size",
            p.polynomial_size.0,
            acc.polynomial_size().0,
        )?;
        check_dim(
            "TFHE-rs lookup table GLWE size",
            p.glwe_dimension.0 + 1,
            acc.glwe_size().0,
        )?;
        GlweCiphertext::from_container(acc.as_ref().to_vec(), p.polynomial_size)
    }

    fn one_table(&self, lut: &LookupTableOwned) -> Result<Table> {
        let table = crate::shortint::LookupTable {
            accumulator: self.accumulator(&lut.acc)?,
            parameters_fingerprint: self.key.parameters().fingerprint(),
        };
        Ok(Table {
            glovebox: Box::new(table),
            output_degrees: vec![lut.degree],
            stride: 0,
        })
    }

    fn many_table(&self, lut: &ManyLookupTableOwned) -> Result<Table> {
        let outputs: Vec<usize> = (0..lut.per_function_output_degree.len())
            .map(|i| i * lut.sample_extraction_stride)
            .collect();
        let table = crate::shortint::ManyLookupTable {
            accumulator: self.accumulator(&lut.acc)?,
            parameters_fingerprint: self.key.parameters().fingerprint(),
            outputs,
        };
        crate::shortint::check_table(self.key.parameters(), &table)?;
        Ok(Table {
            glovebox: Box::new(table),
            output_degrees: lut.per_function_output_degree.clone(),
            stride: lut.sample_extraction_stride,
        })
    }

    /// Checks `ct` against the key and takes its words.
    fn job<'t>(&self, ct: &'t TfheCiphertext, table: usize) -> Result<Job<'t>> {
        let key = self.key;
        if ct.message_modulus != key.message_modulus() || ct.carry_modulus != key.carry_modulus() {
            return Err(Error::ParameterMismatch {
                expected: format!(
                    "{} (message modulus {}, carry modulus {})",
                    key.parameters().name,
                    key.message_modulus().0,
                    key.carry_modulus().0
                ),
                got: format!(
                    "a TFHE-rs ciphertext with message modulus {} and carry modulus {}",
                    ct.message_modulus.0, ct.carry_modulus.0
                ),
            });
        }
        if ct.atomic_pattern != key.atomic_pattern() {
            return Err(Error::ParameterMismatch {
                expected: format!("{} ({:?})", key.parameters().name, key.atomic_pattern()),
                got: format!(
                    "a TFHE-rs ciphertext of atomic pattern {:?}",
                    ct.atomic_pattern
                ),
            });
        }
        super::require_native("TFHE-rs ciphertext", ct.ct.ciphertext_modulus())?;
        check_dim(
            "TFHE-rs ciphertext LWE dimension",
            key.parameters().big_lwe_dimension().0,
            ct.ct.lwe_size().to_lwe_dimension().0,
        )?;
        Ok(Job {
            words: ct.ct.as_ref().to_vec(),
            template: ct,
            noise_level: ct.noise_level(),
            table,
        })
    }

    /// Runs `jobs`: the trivial ones in the clear, the others as one batch on the backend.
    fn run(&self, jobs: Vec<Job<'_>>, tables: &[Table]) -> Result<Vec<Vec<TfheCiphertext>>> {
        let sk = self.key.server_key();
        let n = self.key.parameters().big_lwe_dimension().0;
        let trivial =
            |j: &Job| j.noise_level == NoiseLevel::ZERO && j.words[..n].iter().all(|&w| w == 0);
        let (mut cts, mut refs) = (Vec::new(), Vec::new());
        for job in jobs.iter().filter(|j| !trivial(j)) {
            cts.push(crate::shortint::Ciphertext {
                ct: LweCiphertext::from_container(job.words.clone())?,
                parameters_fingerprint: self.key.parameters().fingerprint(),
                key_id: sk.key_id(),
            });
            refs.push(&*tables[job.table].glovebox);
        }
        let ct_refs: Vec<&crate::shortint::Ciphertext> = cts.iter().collect();
        let mut bootstrapped = self
            .resident
            .apply_tables_batch(&ct_refs, &refs)?
            .into_iter();
        let mut out = Vec::with_capacity(jobs.len());
        for job in &jobs {
            let table = &tables[job.table];
            let outputs = if trivial(job) {
                self.trivial_outputs(job, table)
            } else {
                let outs = bootstrapped.next().expect("one output list per job");
                outs.into_iter()
                    .zip(&table.output_degrees)
                    .map(|(ct, &degree)| {
                        self.wrap(job, ct.ct.as_slice().to_vec(), degree, NoiseLevel::NOMINAL)
                    })
                    .collect()
            };
            out.push(outputs);
        }
        Ok(out)
    }

    fn wrap(
        &self,
        job: &Job,
        words: Vec<u64>,
        degree: Degree,
        noise: NoiseLevel,
    ) -> TfheCiphertext {
        TfheCiphertext::new(
            tc::LweCiphertext::from_container(words, tc::CiphertextModulus::new_native()),
            degree,
            noise,
            job.template.message_modulus,
            job.template.carry_modulus,
            job.template.atomic_pattern,
        )
    }

    /// TFHE-rs's `trivial_pbs_assign` / `trivial_pbs_many_lut`: the table read at the decoded
    /// body, negated past the padding bit (or an odd number of wraps around N).
    fn trivial_outputs(&self, job: &Job, table: &Table) -> Vec<TfheCiphertext> {
        let p = self.key.parameters();
        let space = p.message_modulus * p.carry_modulus;
        let delta = (1u64 << 63) / space;
        let body = *job.words.last().expect("a body");
        let (div, rem) = (body / delta, body % delta);
        let value = (div + u64::from(rem >= delta >> 1)) % (2 * space);
        let n = p.polynomial_size.0;
        let box_size = n / space as usize;
        let first = (value % space) as usize * box_size;
        let acc_body = &table.glovebox.accumulator().as_slice()[p.glwe_dimension.0 * n..];
        table
            .output_degrees
            .iter()
            .enumerate()
            .map(|(f, &degree)| {
                let index = first + f * table.stride;
                let negate = (value >= space) ^ ((index / n) % 2 == 1);
                let mut v = acc_body[index % n];
                if negate {
                    v = v.wrapping_neg();
                }
                let mut words = vec![0u64; job.words.len()];
                *words.last_mut().expect("a body") = v;
                self.wrap(job, words, degree, NoiseLevel::ZERO)
            })
            .collect()
    }
}
