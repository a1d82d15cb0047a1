//! The readings, the alert rules and their plaintext evaluation (what every encrypted result
//! is checked against), and the bootstraps the rules cost.

use crate::{Error, Result};
use glovebox_integer::{count_flags_bootstraps, RadixLayout, U8Predicate};
use serde::Serialize;

/// One reading of a wearable: heart rate (beats per minute) and SpO2 (percent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub heart_rate: u8,
    pub spo2: u8,
}

impl Reading {
    pub fn new(heart_rate: u8, spo2: u8) -> Self {
        Self { heart_rate, spo2 }
    }
}

/// The alert rules. The limits are public (the clinic configures them on the server); the
/// readings and the alerts are not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertRules {
    /// Heart rate below this raises an alert (bradycardia).
    pub heart_rate_low: u8,
    /// Heart rate above this raises an alert (tachycardia).
    pub heart_rate_high: u8,
    /// SpO2 below this raises an alert (desaturation).
    pub spo2_low: u8,
    /// An alert is sustained when the last `sustained_readings` readings all raised one
    /// (1 ..= 15).
    pub sustained_readings: usize,
}

impl Default for AlertRules {
    /// Heart rate outside 50–120 bpm, SpO2 below 92 %, sustained over 3 readings.
    fn default() -> Self {
        Self {
            heart_rate_low: 50,
            heart_rate_high: 120,
            spo2_low: 92,
            sustained_readings: 3,
        }
    }
}

/// Decrypted (or plaintext-computed) alerts of one patient's stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PatientAlerts {
    pub heart_rate: Vec<bool>,
    pub spo2: Vec<bool>,
    pub any: Vec<bool>,
    pub sustained: Vec<bool>,
    /// Readings that raised an alert.
    pub count: u64,
}

impl PatientAlerts {
    /// Number of alert values (flags and the count) this holds: what verification compares.
    pub fn values(&self) -> usize {
        self.heart_rate.len() + self.spo2.len() + self.any.len() + self.sustained.len() + 1
    }

    /// How many of those values equal `other`'s.
    pub fn matching(&self, other: &PatientAlerts) -> usize {
        let flags = |a: &[bool], b: &[bool]| a.iter().zip(b).filter(|(x, y)| x == y).count();
        flags(&self.heart_rate, &other.heart_rate)
            + flags(&self.spo2, &other.spo2)
            + flags(&self.any, &other.any)
            + flags(&self.sustained, &other.sustained)
            + (self.count == other.count) as usize
    }

    /// One character per reading: `·` no alert, `h` heart rate, `s` SpO2, `b` both; upper
    /// case when the alert is sustained.
    pub fn timeline(&self) -> String {
        (0..self.any.len())
            .map(|t| {
                let c = match (self.heart_rate[t], self.spo2[t]) {
                    (false, false) => '·',
                    (true, false) => 'h',
                    (false, true) => 's',
                    (true, true) => 'b',
                };
                if self.sustained[t] {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }
}

impl AlertRules {
    /// Checks the rules: limits in order, `sustained_readings` in 1 ..= 15.
    pub fn validate(&self) -> Result<()> {
        if self.heart_rate_low > self.heart_rate_high {
            return Err(Error::InvalidInput(format!(
                "heart-rate limits out of order: low {} > high {}",
                self.heart_rate_low, self.heart_rate_high
            )));
        }
        if !(1..=15).contains(&self.sustained_readings) {
            return Err(Error::InvalidInput(format!(
                "sustained_readings must be in 1..=15 (one bootstrap sums them), got {}",
                self.sustained_readings
            )));
        }
        Ok(())
    }

    pub fn heart_rate_alert(&self, heart_rate: u8) -> bool {
        heart_rate < self.heart_rate_low || heart_rate > self.heart_rate_high
    }

    pub fn spo2_alert(&self, spo2: u8) -> bool {
        spo2 < self.spo2_low
    }

    /// The rules on a plaintext stream: what the encrypted computation must reproduce.
    pub fn evaluate(&self, stream: &[Reading]) -> PatientAlerts {
        let heart_rate: Vec<bool> = stream
            .iter()
            .map(|r| self.heart_rate_alert(r.heart_rate))
            .collect();
        let spo2: Vec<bool> = stream.iter().map(|r| self.spo2_alert(r.spo2)).collect();
        let any: Vec<bool> = heart_rate.iter().zip(&spo2).map(|(a, b)| a | b).collect();
        let k = self.sustained_readings;
        let sustained = (0..any.len())
            .map(|t| t + 1 >= k && any[t + 1 - k..=t].iter().all(|&a| a))
            .collect();
        let count = any.iter().filter(|&&a| a).count() as u64;
        PatientAlerts {
            heart_rate,
            spo2,
            any,
            sustained,
            count,
        }
    }

    pub(super) fn heart_rate_predicate(&self) -> U8Predicate {
        let (lo, hi) = (self.heart_rate_low, self.heart_rate_high);
        U8Predicate::compile(&format!("hr_outside_{lo}_{hi}"), move |x| {
            x < lo as u64 || x > hi as u64
        })
        .expect("a range predicate always compiles")
    }

    pub(super) fn spo2_predicate(&self) -> U8Predicate {
        let lo = self.spo2_low;
        U8Predicate::compile(&format!("spo2_below_{lo}"), move |x| x < lo as u64)
            .expect("a threshold predicate always compiles")
    }
}

/// The bootstraps [`MonitoringServer::monitor`](super::MonitoringServer::monitor) spends on a ward of `patients` streams of
/// `seconds` readings under `rules`: per reading 6 (both rules and their OR,
/// [`IntegerServer::predicates_with_or`](glovebox_integer::IntegerServer::predicates_with_or)) and 1 for "sustained" once `k > 1` readings exist
/// (none when `k = 1`: it is the "any" flag itself), and per patient the counter's
/// ([`count_flags_bootstraps`]).
///
/// ```
/// use glovebox_health::vitals::*;
/// use glovebox_health::integer::RadixLayout;
/// use glovebox_health::prelude::*;
/// let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS)?;
/// // 30 s, sustained over 3: 6·30 + 28 + 11 (the counter) per patient.
/// assert_eq!(expected_bootstraps(&AlertRules::default(), 1, 30, &layout), 219);
/// # Ok::<(), glovebox_health::Error>(())
/// ```
pub fn expected_bootstraps(
    rules: &AlertRules,
    patients: usize,
    seconds: usize,
    layout: &RadixLayout,
) -> u64 {
    let k = rules.sustained_readings;
    let sustained = if k > 1 {
        seconds.saturating_sub(k - 1)
    } else {
        0
    };
    let counter = count_flags_bootstraps(seconds, count_blocks(seconds, layout), layout);
    (patients * (6 * seconds + sustained + counter)) as u64
}

/// Blocks of the per-patient alert count: enough for `readings` without wrapping.
pub fn count_blocks(readings: usize, layout: &RadixLayout) -> usize {
    let bits = usize::BITS - readings.leading_zeros();
    layout.blocks(bits).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::PARAM_MESSAGE_2_CARRY_2_KS_PBS;

    #[test]
    fn plaintext_rules() {
        let rules = AlertRules::default();
        let stream: Vec<Reading> = [
            (72, 97),
            (130, 97),
            (131, 91),
            (45, 95),
            (80, 98),
            (50, 92),
            (120, 92),
        ]
        .iter()
        .map(|&(h, s)| Reading::new(h, s))
        .collect();
        let a = rules.evaluate(&stream);
        assert_eq!(a.heart_rate, [false, true, true, true, false, false, false]);
        assert_eq!(a.spo2, [false, false, true, false, false, false, false]);
        assert_eq!(
            a.sustained,
            [false, false, false, true, false, false, false]
        );
        assert_eq!(a.count, 3);
        assert_eq!(a.timeline(), "·hbH···");
    }

    #[test]
    fn count_widths() {
        let layout = RadixLayout::new(&PARAM_MESSAGE_2_CARRY_2_KS_PBS).unwrap();
        let count_blocks = |readings| count_blocks(readings, &layout);
        assert_eq!(count_blocks(1), 1);
        assert_eq!(count_blocks(3), 1);
        assert_eq!(count_blocks(4), 2);
        assert_eq!(count_blocks(30), 3);
        assert_eq!(count_blocks(255), 4);
        assert_eq!(count_blocks(256), 5);
    }

    #[test]
    fn invalid_rules_are_typed_errors() {
        let mut r = AlertRules::default();
        r.sustained_readings = 0;
        assert!(matches!(r.validate(), Err(Error::InvalidInput(_))));
        r.sustained_readings = 16;
        assert!(r.validate().is_err());
        let r = AlertRules {
            heart_rate_low: 130,
            heart_rate_high: 120,
            ..AlertRules::default()
        };
        assert!(r.validate().is_err());
    }
}
