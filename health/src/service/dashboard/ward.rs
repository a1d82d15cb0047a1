//! The dashboard's model of the ward: what the clinic decrypted, per patient and in time
//! order, with the marks a clinician reads at a glance (the current state, quiet devices,
//! late, failed and missing readings). Plain data, no I/O: the server feeds it decrypted items
//! and serves its JSON.

use crate::records::{PlainAnalysis, PlainCohort};
use crate::service::ReadingFlags;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// One decrypted reading of a patient's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Point {
    /// The reading's sequence number: its second in the device's stream.
    pub seq: u64,
    /// When the server received the reading (ms since the Unix epoch).
    pub received_ms: u64,
    /// It reached the server more than the late limit after the device's previous reading.
    pub late: bool,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What the service computed for a reading, decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Flags(ReadingFlags),
    /// The reading failed for good (the service says why); it was not evaluated.
    Failed {
        failed: String,
    },
}

/// A patient's state at a glance, from the latest reading and the time since it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PatientState {
    /// No reading yet.
    Waiting,
    Ok,
    /// The latest reading raised an alert (heart rate or SpO2 out of range).
    Alert,
    /// An alert held for the rules' sustained window.
    Sustained,
    /// The latest reading failed for good.
    Failed,
    /// No reading for longer than the quiet limit: the device stopped, or lost its link.
    Quiet,
}

/// One patient's device and timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Patient {
    pub device_id: i64,
    pub patient: String,
    pub state: PatientState,
    /// When the server received the latest reading (ms since the Unix epoch), if any.
    pub last_seen_ms: Option<u64>,
    /// The state of the latest readings, whatever the time since (the state before quiet):
    /// the latest evaluated reading's alert, else failed if the latest reading failed.
    pub last_state: PatientState,
    /// Sequence numbers below the latest one that never came, as inclusive ranges (within the
    /// kept history's span).
    pub missing: Vec<(u64, u64)>,
    pub points: Vec<Point>,
}

/// A record's analysis, decrypted, with the record's clear metadata.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AnalysisView {
    pub id: i64,
    pub patient: String,
    pub test: String,
    pub date: String,
    pub version: i64,
    /// `None` for the first record of its series.
    pub analysis: Option<PlainAnalysis>,
    /// `value − mean(window)`, as [`PlainAnalysis::gap_to_mean`].
    pub gap_to_mean: Option<f64>,
}

/// A cohort job the page asked for: pending, done (decrypted), or failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohortView {
    /// The dashboard's own number for the request.
    pub request: u64,
    pub test: String,
    pub threshold: u16,
    pub status: CohortStatus,
    pub result: Option<PlainCohort>,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CohortStatus {
    Pending,
    Done,
    Failed,
}

#[derive(Clone, Debug, Default)]
struct Timeline {
    patient: String,
    points: VecDeque<Point>,
    last_seen_ms: Option<u64>,
}

/// Analyses kept (the oldest dropped).
pub const MAX_ANALYSES: usize = 10_000;
/// Finished cohort jobs kept (the oldest dropped).
pub const MAX_COHORTS: usize = 50;

/// The ward as the dashboard shows it.
#[derive(Clone, Debug)]
pub struct Ward {
    timelines: BTreeMap<i64, Timeline>,
    analyses: Vec<AnalysisView>,
    cohorts: Vec<CohortView>,
    quiet_after_ms: u64,
    late_after_ms: u64,
    /// Readings kept per patient (the oldest dropped past it).
    history: usize,
}

/// What changed in one step: the patients touched (with their new points only), new analyses
/// and cohort updates. The page merges it into what it shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Update {
    pub patients: Vec<Patient>,
    pub analyses: Vec<AnalysisView>,
    pub cohorts: Vec<CohortView>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.patients.is_empty() && self.analyses.is_empty() && self.cohorts.is_empty()
    }
}

/// Everything the page shows, with the limits it computes quiet devices by.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    pub now_ms: u64,
    pub quiet_after_ms: u64,
    pub late_after_ms: u64,
    /// Readings kept per patient.
    pub history: usize,
    pub patients: Vec<Patient>,
    pub analyses: Vec<AnalysisView>,
    pub cohorts: Vec<CohortView>,
}

impl Ward {
    /// An empty ward: a device is quiet after `quiet_after_ms` without a reading, a reading is
    /// late when it comes more than `late_after_ms` after its device's previous one, and the
    /// last `history` readings of each patient are kept.
    pub fn new(quiet_after_ms: u64, late_after_ms: u64, history: usize) -> Self {
        Self {
            timelines: BTreeMap::new(),
            analyses: Vec::new(),
            cohorts: Vec::new(),
            quiet_after_ms,
            late_after_ms,
            history: history.max(1),
        }
    }

    /// Names the patient of a device (a device with no reading yet shows as waiting).
    pub fn name_device(&mut self, device_id: i64, patient: &str) -> bool {
        let t = self.timelines.entry(device_id).or_default();
        let renamed = t.patient != patient;
        t.patient = patient.to_string();
        renamed
    }

    /// Adds a decrypted reading that the server received at `received_ms`; a sequence number
    /// already shown is ignored (`false`).
    pub fn add_reading(
        &mut self,
        device_id: i64,
        patient: &str,
        seq: u64,
        outcome: Outcome,
        received_ms: u64,
    ) -> bool {
        let late_after = self.late_after_ms;
        let history = self.history;
        let t = self.timelines.entry(device_id).or_default();
        if t.patient.is_empty() {
            t.patient = patient.to_string();
        }
        if t.points.iter().any(|p| p.seq == seq) {
            return false;
        }
        // In sequence order (the service sends each device's readings in order; a repair of
        // an older one goes in its place); late against the reading before it.
        let at = t.points.partition_point(|p| p.seq < seq);
        let late = at > 0 && received_ms.saturating_sub(t.points[at - 1].received_ms) > late_after;
        let point = Point {
            seq,
            received_ms,
            late,
            outcome,
        };
        t.points.insert(at, point);
        while t.points.len() > history {
            t.points.pop_front();
        }
        t.last_seen_ms = Some(t.last_seen_ms.map_or(received_ms, |l| l.max(received_ms)));
        true
    }

    /// Adds an analysis (the oldest dropped past [`MAX_ANALYSES`]).
    pub fn add_analysis(&mut self, a: AnalysisView) {
        self.analyses.push(a);
        if self.analyses.len() > MAX_ANALYSES {
            self.analyses.drain(..self.analyses.len() - MAX_ANALYSES);
        }
    }

    /// Adds or replaces (by request number) a cohort job (the oldest finished ones dropped
    /// past [`MAX_COHORTS`]).
    pub fn set_cohort(&mut self, c: CohortView) {
        match self.cohorts.iter_mut().find(|x| x.request == c.request) {
            Some(x) => *x = c,
            None => self.cohorts.push(c),
        }
        while self.cohorts.len() > MAX_COHORTS {
            match self
                .cohorts
                .iter()
                .position(|c| c.status != CohortStatus::Pending)
            {
                Some(i) => {
                    self.cohorts.remove(i);
                }
                None => break,
            }
        }
    }

    /// The patient of a device as shown at `now_ms`, with its points from `from_seq` on (all
    /// of them with 0).
    pub fn patient(&self, device_id: i64, now_ms: u64, from_seq: u64) -> Option<Patient> {
        let t = self.timelines.get(&device_id)?;
        // A failed reading does not hide the alert of the latest evaluated one.
        let evaluated = t.points.iter().rev().find_map(|p| match p.outcome {
            Outcome::Flags(f) => Some((f.any, f.sustained)),
            Outcome::Failed { .. } => None,
        });
        let latest_failed = matches!(
            t.points.back().map(|p| &p.outcome),
            Some(Outcome::Failed { .. })
        );
        let last_state = match evaluated {
            Some((_, true)) => PatientState::Sustained,
            Some((true, _)) => PatientState::Alert,
            _ if latest_failed => PatientState::Failed,
            Some(_) => PatientState::Ok,
            None => PatientState::Waiting,
        };
        let state = match t.last_seen_ms {
            Some(last) if now_ms.saturating_sub(last) > self.quiet_after_ms => PatientState::Quiet,
            _ => last_state,
        };
        // Gaps within the span of the kept history (a device's sequence numbers are its own:
        // one far ahead must not make a list of every number between).
        let mut missing = Vec::new();
        let span_start = t.points.back().map_or(0, |p| {
            p.seq.saturating_add(1).saturating_sub(self.history as u64)
        });
        let mut expected = t.points.front().map_or(0, |p| p.seq).max(span_start);
        for p in &t.points {
            if p.seq > expected {
                missing.push((expected, p.seq - 1));
            }
            expected = expected.max(p.seq.saturating_add(1));
        }
        Some(Patient {
            device_id,
            patient: t.patient.clone(),
            state,
            last_seen_ms: t.last_seen_ms,
            last_state,
            missing,
            points: t
                .points
                .iter()
                .filter(|p| p.seq >= from_seq)
                .cloned()
                .collect(),
        })
    }

    /// Everything, as at `now_ms`.
    pub fn snapshot(&self, now_ms: u64) -> Snapshot {
        Snapshot {
            now_ms,
            quiet_after_ms: self.quiet_after_ms,
            late_after_ms: self.late_after_ms,
            history: self.history,
            patients: self
                .timelines
                .keys()
                .filter_map(|&d| self.patient(d, now_ms, 0))
                .collect(),
            analyses: self.analyses.clone(),
            cohorts: self.cohorts.clone(),
        }
    }

    /// Cohort jobs still pending.
    pub fn pending_cohorts(&self) -> usize {
        self.cohorts
            .iter()
            .filter(|c| c.status == CohortStatus::Pending)
            .count()
    }

    /// The cohort job of a request number.
    pub fn cohort(&self, request: u64) -> Option<&CohortView> {
        self.cohorts.iter().find(|c| c.request == request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(any: bool, sustained: bool) -> Outcome {
        Outcome::Flags(ReadingFlags {
            heart_rate: false,
            spo2: any,
            any,
            sustained,
        })
    }

    #[test]
    fn the_latest_reading_sets_the_state_and_silence_makes_it_quiet() {
        let mut w = Ward::new(10_000, 3_000, 100);
        w.name_device(7, "patient-1");
        assert_eq!(w.patient(7, 0, 0).unwrap().state, PatientState::Waiting);
        assert!(w.add_reading(7, "x", 0, flags(false, false), 1_000));
        assert_eq!(w.patient(7, 1_000, 0).unwrap().state, PatientState::Ok);
        assert!(w.add_reading(7, "x", 1, flags(true, false), 2_000));
        assert_eq!(w.patient(7, 2_000, 0).unwrap().state, PatientState::Alert);
        assert!(w.add_reading(7, "x", 2, flags(true, true), 3_000));
        let p = w.patient(7, 3_000, 0).unwrap();
        assert_eq!(
            (p.state, p.patient.as_str()),
            (PatientState::Sustained, "patient-1")
        );
        // Ten seconds without a reading: quiet, the last state kept beside it.
        let p = w.patient(7, 13_001, 0).unwrap();
        assert_eq!(
            (p.state, p.last_state),
            (PatientState::Quiet, PatientState::Sustained)
        );
        assert_eq!(
            w.patient(7, 13_000, 0).unwrap().state,
            PatientState::Sustained
        );
    }

    #[test]
    fn late_failed_missing_and_repeated_readings_are_marked() {
        let mut w = Ward::new(10_000, 3_000, 100);
        w.add_reading(1, "p", 0, flags(false, false), 1_000);
        w.add_reading(1, "p", 1, flags(false, false), 2_000);
        // Five seconds after the previous one: late.
        w.add_reading(1, "p", 4, flags(true, true), 7_000);
        w.add_reading(
            1,
            "p",
            5,
            Outcome::Failed {
                failed: "bad bytes".into(),
            },
            7_500,
        );
        assert!(
            !w.add_reading(1, "p", 4, flags(false, false), 8_000),
            "seen"
        );
        let p = w.patient(1, 8_000, 0).unwrap();
        // The failed reading does not hide the sustained alert before it.
        assert_eq!(p.state, PatientState::Sustained);
        assert_eq!(p.missing, [(2, 3)]);
        let late: Vec<u64> = p.points.iter().filter(|x| x.late).map(|x| x.seq).collect();
        assert_eq!(late, [4]);
        assert_eq!(
            p.points.iter().map(|x| x.seq).collect::<Vec<_>>(),
            [0, 1, 4, 5]
        );
        // The update form: points from a sequence number on.
        assert_eq!(w.patient(1, 8_000, 4).unwrap().points.len(), 2);
        let json = serde_json::to_value(&p.points[3]).unwrap();
        assert_eq!(json["failed"], "bad bytes");
        // After an evaluated reading without alert, the failed one is the news.
        w.add_reading(1, "p", 6, flags(false, false), 8_000);
        w.add_reading(
            1,
            "p",
            7,
            Outcome::Failed {
                failed: "bad bytes".into(),
            },
            9_000,
        );
        assert_eq!(w.patient(1, 9_000, 0).unwrap().state, PatientState::Failed);
        // A device far ahead: the gap is one range, bounded by the kept history.
        w.add_reading(1, "p", u64::MAX - 1, flags(false, false), 9_500);
        let p = w.patient(1, 9_500, 0).unwrap();
        assert_eq!(p.missing.len(), 1);
        assert_eq!(p.missing[0].1, u64::MAX - 2);
        let json = serde_json::to_value(&p.points[0]).unwrap();
        assert_eq!(
            (json["spo2"].as_bool(), json["late"].as_bool()),
            (Some(false), Some(false))
        );
    }

    #[test]
    fn history_is_bounded_and_cohorts_are_replaced_by_request() {
        let mut w = Ward::new(10_000, 3_000, 3);
        for s in 0..10 {
            w.add_reading(1, "p", s, flags(false, false), 1_000 + s * 1_000);
        }
        let p = w.patient(1, 10_000, 0).unwrap();
        assert_eq!(
            p.points.iter().map(|x| x.seq).collect::<Vec<_>>(),
            [7, 8, 9]
        );
        assert!(p.missing.is_empty());
        let pending = CohortView {
            request: 1,
            test: "glucose".into(),
            threshold: 110,
            status: CohortStatus::Pending,
            result: None,
            error: None,
        };
        w.set_cohort(pending.clone());
        w.set_cohort(CohortView {
            status: CohortStatus::Done,
            ..pending
        });
        assert_eq!(w.snapshot(0).cohorts.len(), 1);
        assert_eq!(w.cohort(1).unwrap().status, CohortStatus::Done);
    }
}
