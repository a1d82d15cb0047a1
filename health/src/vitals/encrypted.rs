//! What travels between the devices, the server and the clinic, and its layout on the wire.

use crate::prelude::*;
use crate::{Error, Result};
use glovebox_engine::Error as EngineError;
use glovebox_integer::{BoolCiphertext, RadixCiphertext, RadixLayout};

/// An encrypted reading, as it travels to the server.
#[derive(Clone, Debug)]
pub struct EncryptedReading {
    pub heart_rate: RadixCiphertext,
    pub spo2: RadixCiphertext,
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
    /// The reading's blocks, heart rate then SpO2 (what travels).
    pub fn to_ciphertexts(&self) -> Vec<Ciphertext> {
        self.heart_rate
            .blocks()
            .iter()
            .chain(self.spo2.blocks())
            .map(|b| b.ciphertext().clone())
            .collect()
    }

    /// A reading from its blocks, heart rate then SpO2, each a `u8` of the parameters' layout.
    pub fn from_ciphertexts(cts: Vec<Ciphertext>, params: &Parameters) -> Result<Self> {
        let layout = RadixLayout::new(params)?;
        let blocks = layout.blocks(8);
        if cts.len() != 2 * blocks {
            return Err(EngineError::DimensionMismatch {
                what: "blocks of an encrypted reading",
                expected: 2 * blocks,
                got: cts.len(),
            }
            .into());
        }
        let mut cts = cts;
        let spo2 = cts.split_off(blocks);
        Ok(Self {
            heart_rate: RadixCiphertext::from_fresh_blocks(cts, &layout),
            spo2: RadixCiphertext::from_fresh_blocks(spo2, &layout),
        })
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
