//! The service's wire layouts, each written once and used by the server, the worker and the
//! clients: the framing of readings, alert records and items (metadata and an envelope), and
//! the metadata of analyses and cohort results. What an envelope holds is the domain type's own
//! layout (a reading's compact list, [`crate::vitals::EncryptedReading`],
//! [`crate::vitals::ReadingAlerts::to_ciphertexts`],
//! [`crate::records::RecordAnalysis::to_ciphertexts`],
//! [`crate::records::CohortStatistics::to_ciphertexts`]).

use serde::{Deserialize, Serialize};

/// One alert record on the wire: `[alert id: i64][device id: i64][seq: u64][status: u64]
/// [received: u64][length: u32][body]`: status 0, the body an envelope of the reading's flags;
/// status 1, the reading failed for good and the body is the reason (UTF-8); received, when
/// the server received the reading (ms since the Unix epoch, 0 if unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertFrame<'a> {
    pub id: i64,
    pub device_id: i64,
    pub seq: u64,
    /// When the server received the reading (ms since the Unix epoch by its clock; 0 if
    /// unknown).
    pub received_ms: u64,
    /// The flags' envelope, or the failure's reason.
    pub body: AlertBody<'a>,
}

/// What an alert record carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertBody<'a> {
    Flags(&'a [u8]),
    Failed(&'a str),
}

/// An answer of alert records: `[count: u32]` then the records.
pub fn encode_alerts(alerts: &[AlertFrame<'_>]) -> Vec<u8> {
    let mut out = (alerts.len() as u32).to_le_bytes().to_vec();
    for a in alerts {
        let (status, body) = match a.body {
            AlertBody::Flags(e) => (0, e),
            AlertBody::Failed(reason) => (1, reason.as_bytes()),
        };
        put_record(
            &mut out,
            &[
                a.id as u64,
                a.device_id as u64,
                a.seq,
                status,
                a.received_ms,
            ],
            body,
        );
    }
    out
}

/// The records of an answer of [`encode_alerts`], checked against its declared count.
pub fn decode_alerts(bytes: &[u8]) -> Result<Vec<AlertFrame<'_>>, String> {
    let (count, body) = counted(bytes)?;
    let frames: Vec<AlertFrame<'_>> = records(body, 5)?
        .into_iter()
        .map(|(head, body)| {
            let body = match head[3] {
                0 => AlertBody::Flags(body),
                1 => AlertBody::Failed(
                    std::str::from_utf8(body).map_err(|e| format!("a failure's reason: {e}"))?,
                ),
                s => return Err(format!("an alert record of status {s}")),
            };
            Ok(AlertFrame {
                id: head[0] as i64,
                device_id: head[1] as i64,
                seq: head[2],
                received_ms: head[4],
                body,
            })
        })
        .collect::<Result<_, String>>()?;
    check_count(frames.len(), count)?;
    Ok(frames)
}

/// The clear metadata of an analysis on the wire (the JSON of its item).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisMeta {
    /// The cursor: fetch `since` the largest one seen.
    pub id: i64,
    pub record_id: i64,
    pub patient: String,
    pub test: String,
    pub date: String,
    /// The record's version (1 for its date's first; a later one corrects it).
    #[serde(default = "first_version")]
    pub version: i64,
    /// k, the mean window (0 for a first record: no analysis).
    pub window: usize,
}

fn first_version() -> i64 {
    1
}

/// An answer of analyses: `[count: u32]` then per analysis an item of its metadata and its
/// envelope (empty for a first record).
pub fn encode_analyses(analyses: &[(AnalysisMeta, &[u8])]) -> Vec<u8> {
    let mut out = (analyses.len() as u32).to_le_bytes().to_vec();
    for (meta, envelope) in analyses {
        put_item(
            &mut out,
            &serde_json::to_value(meta).expect("plain JSON"),
            envelope,
        );
    }
    out
}

/// The analyses of an answer of [`encode_analyses`], checked against its declared count.
pub fn decode_analyses(bytes: &[u8]) -> Result<Vec<(AnalysisMeta, &[u8])>, String> {
    let (count, body) = counted(bytes)?;
    let out = items(body)?
        .into_iter()
        .map(|(json, envelope)| {
            serde_json::from_value(json)
                .map(|meta| (meta, envelope))
                .map_err(|e| format!("analysis metadata: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    check_count(out.len(), count)?;
    Ok(out)
}

/// The clear metadata of a cohort's result on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortMeta {
    pub cohort_id: i64,
    pub test: String,
    pub threshold: u16,
    pub patients: usize,
}

/// A cohort's result: one item of its metadata and its envelope.
pub fn encode_cohort(meta: &CohortMeta, envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    put_item(
        &mut out,
        &serde_json::to_value(meta).expect("plain JSON"),
        envelope,
    );
    out
}

/// The result of [`encode_cohort`].
pub fn decode_cohort(bytes: &[u8]) -> Result<(CohortMeta, &[u8]), String> {
    let mut parsed = items(bytes)?;
    if parsed.len() != 1 {
        return Err(format!("a cohort answer of {} items", parsed.len()));
    }
    let (json, envelope) = parsed.pop().expect("one item");
    let meta = serde_json::from_value(json).map_err(|e| format!("cohort metadata: {e}"))?;
    Ok((meta, envelope))
}

/// `[count: u32]` and what follows it.
fn counted(bytes: &[u8]) -> Result<(usize, &[u8]), String> {
    if bytes.len() < 4 {
        return Err("an answer without its count".into());
    }
    let count = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    Ok((count, &bytes[4..]))
}

/// An answer holds as many items as it declares.
fn check_count(got: usize, declared: usize) -> Result<(), String> {
    if got == declared {
        Ok(())
    } else {
        Err(format!("an answer declaring {declared} items holds {got}"))
    }
}

/// A clinic's registration: `[u32 length][compressed server key envelope][u32 length]
/// [compressed casting key envelope]`.
pub fn encode_registration(server_key: &[u8], casting_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + server_key.len() + casting_key.len());
    put_record(&mut out, &[], server_key);
    put_record(&mut out, &[], casting_key);
    out
}

/// The two envelopes of [`encode_registration`].
pub fn decode_registration(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    match records(bytes, 0)?.as_slice() {
        [(_, server), (_, casting)] => Ok((server, casting)),
        parts => Err(format!(
            "a registration is two envelopes (server key, casting key); this one has {}",
            parts.len()
        )),
    }
}

/// Appends `[u64][u32 length][bytes]`.
pub fn put_record(out: &mut Vec<u8>, head: &[u64], body: &[u8]) {
    for h in head {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
}

/// Appends `[u32 length][json][u32 length][envelope]`.
pub fn put_item(out: &mut Vec<u8>, json: &serde_json::Value, envelope: &[u8]) {
    let meta = json.to_string().into_bytes();
    out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&(envelope.len() as u32).to_le_bytes());
    out.extend_from_slice(envelope);
}

/// Reads items of [`put_item`] to the end of `bytes`.
pub fn items(bytes: &[u8]) -> Result<Vec<(serde_json::Value, &[u8])>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    fn take<'a>(rest: &mut &'a [u8]) -> Result<&'a [u8], String> {
        if rest.len() < 4 {
            return Err(format!("an item cut short: {} bytes left", rest.len()));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        if rest.len() - 4 < len {
            return Err(format!(
                "an item declares {len} bytes, {} are left",
                rest.len() - 4
            ));
        }
        let (part, tail) = rest[4..].split_at(len);
        *rest = tail;
        Ok(part)
    }
    while !rest.is_empty() {
        let meta = take(&mut rest)?;
        let json = serde_json::from_slice(meta).map_err(|e| format!("item metadata: {e}"))?;
        let envelope = take(&mut rest)?;
        out.push((json, envelope));
    }
    Ok(out)
}

/// Reads records of `heads` u64 words and a length-prefixed body, to the end of `bytes`.
pub fn records(bytes: &[u8], heads: usize) -> Result<Vec<(Vec<u64>, &[u8])>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let need = 8 * heads + 4;
        if rest.len() < need {
            return Err(format!("a record cut short: {} bytes left", rest.len()));
        }
        let head: Vec<u64> = (0..heads)
            .map(|i| u64::from_le_bytes(rest[8 * i..8 * i + 8].try_into().expect("8 bytes")))
            .collect();
        let len = u32::from_le_bytes(rest[8 * heads..need].try_into().expect("4 bytes")) as usize;
        if rest.len() - need < len {
            return Err(format!(
                "a record declares {len} bytes, {} are left",
                rest.len() - need
            ));
        }
        out.push((head, &rest[need..need + len]));
        rest = &rest[need + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_and_analyses_round_trip() {
        let alerts = [
            AlertFrame {
                id: 7,
                device_id: 2,
                seq: 40,
                received_ms: 1_780_000_000_000,
                body: AlertBody::Flags(b"abc"),
            },
            AlertFrame {
                id: 8,
                device_id: 3,
                seq: 0,
                received_ms: 0,
                body: AlertBody::Failed("bytes that do not decode"),
            },
        ];
        let bytes = encode_alerts(&alerts);
        assert_eq!(decode_alerts(&bytes).unwrap(), alerts);
        assert!(decode_alerts(&bytes[..bytes.len() - 1]).is_err());
        let mut wrong_count = bytes.clone();
        wrong_count[0] = 3;
        assert!(decode_alerts(&wrong_count).is_err());
        // An unknown status, and a reason that is not UTF-8, are errors.
        let mut bad = encode_alerts(&alerts[..1]);
        bad[4 + 24] = 9;
        assert!(decode_alerts(&bad).is_err());
        let mut bad = encode_alerts(&alerts[1..]);
        bad[4 + 24] = 1;
        let n = bad.len();
        bad[n - 1] = 0xff;
        assert!(decode_alerts(&bad).is_err());

        let meta = AnalysisMeta {
            id: 1,
            record_id: 5,
            patient: "p".into(),
            test: "t".into(),
            date: "2026-01-02".into(),
            version: 2,
            window: 3,
        };
        let bytes = encode_analyses(&[(meta.clone(), b"xyz".as_slice())]);
        assert_eq!(
            decode_analyses(&bytes).unwrap(),
            vec![(meta, b"xyz".as_slice())]
        );
        let cohort = CohortMeta {
            cohort_id: 4,
            test: "t".into(),
            threshold: 9,
            patients: 2,
        };
        let bytes = encode_cohort(&cohort, b"e");
        assert_eq!(decode_cohort(&bytes).unwrap(), (cohort, b"e".as_slice()));
    }
}
