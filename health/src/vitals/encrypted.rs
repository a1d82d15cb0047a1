//! What travels between the devices, the server and the clinic, and its layout on the wire.

use crate::prelude::*;
use crate::{Error, Result};
use glovebox_engine::shortint::public_key::CompactCiphertextList;
use glovebox_engine::Error as EngineError;
use glovebox_integer::{BoolCiphertext, CompactU8, RadixCiphertext};

/// An encrypted reading, as a device sends it: one packed compact list under the clinic's
/// public key, of four values below 16: heart rate's high and low nibble, then SpO2's. On the
/// default set it is 2,052 words (16.0 KiB) against 8 ciphertexts of 2,049 words (128 KiB)
/// for the same `u8`s as blocks under the client key.
#[derive(Clone, Debug)]
pub struct EncryptedReading {
    pub list: CompactCiphertextList,
}

/// One patient's encrypted alerts, as they travel back to the clinic.
#[derive(Clone, Debug)]
pub struct EncryptedAlerts {
    pub heart_rate: Vec<BoolCiphertext>,
    pub spo2: Vec<BoolCiphertext>,
    pub any: Vec<BoolCiphertext>,
    pub sustained: Vec<BoolCiphertext>,
    /// Readings that raised an alert, [`count_blocks`](super::count_blocks) blocks wide.
    pub count: RadixCiphertext,
}

/// The alerts of one reading (the streaming form, [`MonitoringServer::evaluate_readings`](super::MonitoringServer::evaluate_readings)).
#[derive(Clone, Debug)]
pub struct ReadingAlerts {
    pub heart_rate: BoolCiphertext,
    pub spo2: BoolCiphertext,
    pub any: BoolCiphertext,
    pub sustained: BoolCiphertext,
}

impl ReadingAlerts {
    /// The flags of one reading.
    pub const FLAGS: usize = 4;

    /// The layout the alerts are stored and travel in: one ciphertext per flag, heart rate,
    /// SpO2, any, sustained.
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        [&self.heart_rate, &self.spo2, &self.any, &self.sustained]
            .iter()
            .map(|b| b.block().ciphertext().clone())
            .collect()
    }

    /// The alerts from the ciphertexts of [`Self::to_ciphertexts`].
    pub fn from_ciphertexts(cts: Vec<Ciphertext>) -> Result<Self> {
        let got = cts.len();
        let [h, s, a, u]: [Ciphertext; 4] = cts.try_into().map_err(|_| {
            Error::from(EngineError::DimensionMismatch {
                what: "flags of a reading's alerts",
                expected: Self::FLAGS,
                got,
            })
        })?;
        Ok(Self {
            heart_rate: BoolCiphertext::from_ciphertext(h),
            spo2: BoolCiphertext::from_ciphertext(s),
            any: BoolCiphertext::from_ciphertext(a),
            sustained: BoolCiphertext::from_ciphertext(u),
        })
    }
}

impl EncryptedReading {
    /// Values in a reading's list.
    pub const VALUES: usize = 4;

    /// A reading from its list (e.g. read back from the wire), checked: four packed values
    /// under `params`' paired compact parameters.
    pub fn from_list(list: CompactCiphertextList, params: &Parameters) -> Result<Self> {
        if list.compute_fingerprint != params.fingerprint() {
            return Err(EngineError::ParameterMismatch {
                expected: params.name.into(),
                got: format!("{:#018x}", list.compute_fingerprint),
            }
            .into());
        }
        if list.len() != Self::VALUES {
            return Err(EngineError::DimensionMismatch {
                what: "values of an encrypted reading",
                expected: Self::VALUES,
                got: list.len(),
            }
            .into());
        }
        let packed = params.message_modulus * params.carry_modulus;
        if list.message_modulus != packed || packed != 16 {
            return Err(Error::InvalidInput(format!(
                "a reading's values are packed nibbles (below 16); this list's are below {}",
                list.message_modulus
            )));
        }
        Ok(Self { list })
    }

    /// The reading's `u8`s as the predicates take them: heart rate, then SpO2 (a mask
    /// rotation per value; the cast happens in the rules' first bootstraps).
    pub fn nibbles(&self) -> Result<(CompactU8, CompactU8)> {
        let [hh, hl, sh, sl]: [_; 4] = self.list.expand()?.try_into().map_err(|v: Vec<_>| {
            Error::from(EngineError::DimensionMismatch {
                what: "values of an encrypted reading",
                expected: Self::VALUES,
                got: v.len(),
            })
        })?;
        Ok((
            CompactU8 { high: hh, low: hl },
            CompactU8 { high: sh, low: sl },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vitals::Clinic;
    use glovebox_integer::encrypt_bool;

    /// A reading's alerts through their stored layout and back, flag for flag; three flags
    /// are a typed error.
    #[test]
    fn alerts_round_trip_through_their_layout() {
        let clinic = Clinic::new(&TEST_PARAMS_INSECURE).unwrap();
        let flag = |b| encrypt_bool(clinic.client_key(), b).unwrap();
        let alerts = ReadingAlerts {
            heart_rate: flag(true),
            spo2: flag(false),
            any: flag(true),
            sustained: flag(false),
        };
        let cts = alerts.to_ciphertexts();
        assert_eq!(cts.len(), ReadingAlerts::FLAGS);
        let back = ReadingAlerts::from_ciphertexts(cts.clone()).unwrap();
        let plain = |a: &ReadingAlerts| {
            [&a.heart_rate, &a.spo2, &a.any, &a.sustained].map(|f| clinic.decrypt_flag(f).unwrap())
        };
        assert_eq!(plain(&back), [true, false, true, false]);
        assert!(matches!(
            ReadingAlerts::from_ciphertexts(cts[..3].to_vec()),
            Err(Error::Engine(EngineError::DimensionMismatch { .. }))
        ));
    }
}
