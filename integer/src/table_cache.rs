//! The evaluator's lookup tables, built once and keyed by their definition: a table's key is
//! the list of its function's values on its domain ([`TableKey`]), so two tables share an
//! entry exactly when they compute the same thing, whatever their callers call them. The
//! values also give each output's degree.

use crate::ciphertext::RadixLayout;
use glovebox_engine::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A table's identity: its functions' values on their domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TableKey {
    /// One function: `f(0), …, f(space − 1)`.
    One(Vec<u64>),
    /// Several functions in one rotation: each function's values on `[0, space / count)`.
    Many(Vec<Vec<u64>>),
}

impl TableKey {
    /// The key of `f` on `[0, domain)`.
    pub fn one(domain: u64, f: impl Fn(u64) -> u64) -> Self {
        TableKey::One((0..domain).map(f).collect())
    }

    /// The key of `fns`, each on `[0, domain)`.
    pub fn many(domain: u64, fns: &[&dyn Fn(u64) -> u64]) -> Self {
        TableKey::Many(fns.iter().map(|f| (0..domain).map(f).collect()).collect())
    }
}

/// A one-function table and its function's values (for output degrees).
pub struct OneTable {
    pub(crate) lut: Arc<LookupTable>,
    pub(crate) values: Vec<u64>,
}

impl OneTable {
    /// The largest output over inputs `0..=input_degree`.
    pub(crate) fn output_degree(&self, input_degree: u64) -> u64 {
        max_upto(&self.values, input_degree)
    }
}

/// A many-function table and its functions' values.
pub struct ManyTable {
    pub(crate) lut: Arc<ManyLookupTable>,
    pub(crate) values: Vec<Vec<u64>>,
}

impl ManyTable {
    /// Inputs must stay below this (the functions' common domain).
    pub(crate) fn input_bound(&self) -> u64 {
        self.values[0].len() as u64
    }

    pub(crate) fn output_degrees(&self, input_degree: u64) -> Vec<u64> {
        self.values
            .iter()
            .map(|v| max_upto(v, input_degree))
            .collect()
    }
}

fn max_upto(values: &[u64], degree: u64) -> u64 {
    let end = (degree as usize + 1).min(values.len());
    values[..end].iter().copied().max().unwrap_or(0)
}

/// Tables built once per definition.
#[derive(Default)]
pub(crate) struct TableCache {
    one: Mutex<HashMap<TableKey, Arc<OneTable>>>,
    many: Mutex<HashMap<TableKey, Arc<ManyTable>>>,
}

fn check_values(layout: &RadixLayout, values: &[u64]) -> Result<()> {
    match values.iter().find(|&&v| v >= layout.space) {
        Some(v) => Err(Error::MessageOutOfRange {
            message: *v,
            modulus: layout.space,
        }),
        None => Ok(()),
    }
}

impl TableCache {
    /// The table of `f` on the whole plaintext space.
    pub(crate) fn one(
        &self,
        server_key: &ServerKey,
        layout: &RadixLayout,
        f: impl Fn(u64) -> u64,
    ) -> Result<Arc<OneTable>> {
        let key = TableKey::one(layout.space, &f);
        let mut tables = self.one.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&key) {
            return Ok(t.clone());
        }
        let TableKey::One(values) = &key else {
            unreachable!("built as TableKey::One")
        };
        check_values(layout, values)?;
        let table = Arc::new(OneTable {
            lut: Arc::new(server_key.generate_lookup_table(&f)),
            values: values.clone(),
        });
        tables.insert(key, table.clone());
        Ok(table)
    }

    /// The table holding all of `fns`, each on `[0, space / fns.len())`.
    pub(crate) fn many(
        &self,
        server_key: &ServerKey,
        layout: &RadixLayout,
        fns: &[&dyn Fn(u64) -> u64],
    ) -> Result<Arc<ManyTable>> {
        if fns.is_empty() || fns.len() as u64 > layout.space {
            return Err(Error::InvalidParameters(format!(
                "a many-function table holds 1..={} functions, got {}",
                layout.space,
                fns.len()
            )));
        }
        let key = TableKey::many(layout.space / fns.len() as u64, fns);
        let mut tables = self.many.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&key) {
            return Ok(t.clone());
        }
        let TableKey::Many(values) = &key else {
            unreachable!("built as TableKey::Many")
        };
        for v in values {
            check_values(layout, v)?;
        }
        let table = Arc::new(ManyTable {
            lut: Arc::new(server_key.generate_many_lookup_table(fns)?),
            values: values.clone(),
        });
        tables.insert(key, table.clone());
        Ok(table)
    }

    /// Distinct tables built so far.
    pub(crate) fn len(&self) -> usize {
        self.one.lock().unwrap_or_else(|e| e.into_inner()).len()
            + self.many.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_functions_values() {
        assert_eq!(TableKey::one(4, |x| x / 2), TableKey::One(vec![0, 0, 1, 1]));
        // Two closures with the same values are the same table; different values differ.
        assert_eq!(TableKey::one(16, |x| x % 4), TableKey::one(16, |x| x & 3));
        assert_ne!(TableKey::one(16, |x| x % 4), TableKey::one(16, |x| x / 4));
        assert_ne!(
            TableKey::many(8, &[&|x| x, &|x| x / 2]),
            TableKey::many(8, &[&|x| x / 2, &|x| x])
        );
    }

    #[test]
    fn output_degrees_follow_the_input_degree() {
        let t = ManyTable {
            lut: Arc::new(ManyLookupTable {
                accumulator: GlweCiphertext::trivial(GlweSize(2), &[0; 256]),
                parameters_fingerprint: 0,
                outputs: vec![0, 128],
            }),
            values: vec![vec![0, 1, 2, 3, 0, 0, 0, 0], vec![1; 8]],
        };
        assert_eq!(t.input_bound(), 8);
        assert_eq!(t.output_degrees(1), [1, 1]);
        assert_eq!(t.output_degrees(7), [3, 1]);
        assert_eq!(max_upto(&[5, 2, 9], 100), 9);
    }
}
