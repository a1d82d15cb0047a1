//! The service's store on its two databases, SQLite and PostgreSQL (a throwaway cluster the
//! test script starts): the same calls give the same answers, row for row. These are the
//! store's semantics that the service relies on: one-use enrollment tokens, token checks,
//! device quotas, readings as jobs (replays, conflicts, one per device in order, a lost
//! predecessor waited for), alerts once, failed jobs, record versions and order, analyses,
//! cohorts, stored-byte quotas, and streams read by cursor.

mod common;
use glovebox::service::store::{
    CompletedReading, CompletedRecord, Database, JobState, NewRecord, Quotas, RecordInsert,
    StepShare, Store, StoreError,
};
use std::time::Duration;

/// Every store call the service makes, on `store` (fresh), with their answers checked.
fn store_behaves(store: &Store) {
    // Enrollment: one use, a wrong secret refused, an expired token refused.
    let far = glovebox::service::store::now_ms() + 3_600_000;
    let quotas = Quotas {
        max_devices: 2,
        readings_per_second: 5,
        max_stored_bytes: 64,
    };
    let e = store.create_enrollment("secret-e", far, quotas).unwrap();
    let expired = store.create_enrollment("secret-x", 0, quotas).unwrap();
    assert_eq!(
        store.enrollment_quotas(e, "secret-e").unwrap(),
        Some(quotas)
    );
    assert_eq!(store.enrollment_quotas(e, "wrong").unwrap(), None);
    assert_eq!(store.enrollment_quotas(expired, "secret-x").unwrap(), None);
    assert!(store.claim_enrollment(e, "secret-e").unwrap());
    assert!(
        !store.claim_enrollment(e, "secret-e").unwrap(),
        "claimed once"
    );
    store.release_enrollment(e).unwrap();
    assert!(store.claim_enrollment(e, "secret-e").unwrap());
    let key = vec![7u8; 1000];
    let clinic = store
        .register_clinic((e, "secret-e"), "clinic-secret", "P", 42, &key, b"ck")
        .unwrap()
        .expect("registered");
    assert_eq!(
        store
            .register_clinic((e, "secret-e"), "again", "P", 42, &key, b"ck")
            .unwrap(),
        None,
        "an enrollment token registers one clinic"
    );
    assert_eq!(store.clinic_count().unwrap(), 1);
    let row = store.clinic(clinic).unwrap().unwrap();
    assert_eq!(
        (
            row.params.as_str(),
            row.key_id,
            row.server_key.len(),
            row.casting_key.as_deref()
        ),
        ("P", 42, 1000, Some(&b"ck"[..]))
    );
    assert_eq!(row.quotas, quotas);
    assert!(store.clinic(clinic + 100).unwrap().is_none());

    // Tokens.
    assert!(store.authenticate_clinic(clinic, "clinic-secret").unwrap());
    assert!(!store.authenticate_clinic(clinic, "nope").unwrap());
    store.rotate_clinic_token(clinic, "rotated").unwrap();
    assert!(!store.authenticate_clinic(clinic, "clinic-secret").unwrap());
    assert!(store.authenticate_clinic(clinic, "rotated").unwrap());
    let d1 = store.insert_device(clinic, "p-ann", "d1").unwrap();
    let d2 = store.insert_device(clinic, "p-ben", "d2").unwrap();
    assert!(
        matches!(
            store.insert_device(clinic, "p-cy", "d3"),
            Err(StoreError::Quota(_))
        ),
        "two devices is the quota"
    );
    assert_eq!(store.authenticate_device(d1, "d1").unwrap(), Some(clinic));
    assert_eq!(store.authenticate_device(d1, "d2").unwrap(), None);
    assert!(store.rotate_device_token(clinic, d2, "d2b").unwrap());
    assert!(
        !store.rotate_device_token(clinic + 1, d2, "x").unwrap(),
        "another clinic's"
    );
    assert_eq!(store.authenticate_device(d2, "d2b").unwrap(), Some(clinic));

    // Readings: replays, conflicts (nothing stored), the stored-byte quota.
    let r = |seq: u64, b: u8| (seq, vec![b; 4]);
    assert_eq!(
        store
            .insert_readings(clinic, d1, &[r(0, 1), r(1, 2), r(2, 3)])
            .unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(
        store
            .insert_readings(clinic, d1, &[r(1, 2), r(3, 4)])
            .unwrap(),
        vec![1]
    );
    assert!(matches!(
        store.insert_readings(clinic, d1, &[r(4, 5), r(2, 9)]),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.counts().unwrap(),
        (4, 4, 0),
        "the refused batch stored nothing"
    );
    // d2's reading 1 overtook its reading 0: it waits for it (a long grace).
    store.insert_readings(clinic, d2, &[r(1, 6)]).unwrap();
    assert!(matches!(
        store.insert_readings(clinic, d2, &[(9, vec![0; 60])]),
        Err(StoreError::Quota(_))
    ));
    let (grace, lease) = (Duration::from_secs(60), Duration::from_secs(60));
    let pending = store.claim_readings("w1", 10, grace, lease).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.clinic_id, p.device_id, p.seq, p.body.clone()))
            .collect::<Vec<_>>(),
        vec![(clinic, d1, 0, vec![1; 4])],
        "one per device, lowest first; d2's waits for its predecessor"
    );
    // Leased: another worker gets none of it; the holder gets it again.
    assert!(store
        .claim_readings("w2", 10, grace, lease)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.claim_readings("w1", 10, grace, lease).unwrap().len(),
        1
    );
    assert_eq!(store.extend_leases("w1", lease).unwrap(), 1);
    // With no grace, d2's goes on without its predecessor.
    let d2s = store
        .claim_readings("w2", 10, Duration::ZERO, lease)
        .unwrap();
    assert_eq!(
        d2s.iter().map(|p| p.device_id).collect::<Vec<_>>(),
        vec![d2]
    );

    // Alerts: a commit checks the lease; stored once, the reading done; the next comes up.
    let done = |seq: u64, flag: u8| CompletedReading {
        clinic_id: clinic,
        device_id: d1,
        seq,
        flags: vec![flag; 3],
    };
    assert!(matches!(
        store.complete("w2", &[done(0, 66)]),
        Err(StoreError::LeaseLost(_))
    ));
    assert!(
        store.alerts_since(clinic, 0, 10).unwrap().is_empty(),
        "nothing stored"
    );
    store.complete("w1", &[done(0, 10)]).unwrap();
    assert!(
        matches!(
            store.complete("w1", &[done(0, 11)]),
            Err(StoreError::LeaseLost(_))
        ),
        "done: no lease left to commit under"
    );
    let alerts = store.alerts_since(clinic, 0, 10).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!((alerts[0].seq, alerts[0].flags.clone()), (0, vec![10; 3]));
    // An expired lease (a dead worker's): another worker claims the reading, and the dead
    // one's late commit stores nothing.
    let next = store
        .claim_readings("w1", 10, grace, Duration::ZERO)
        .unwrap();
    assert_eq!(next.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1]);
    std::thread::sleep(Duration::from_millis(5));
    let taken = store.claim_readings("w3", 10, grace, lease).unwrap();
    assert_eq!(taken.iter().map(|p| p.seq).collect::<Vec<_>>(), vec![1]);
    assert!(matches!(
        store.complete("w1", &[done(1, 99)]),
        Err(StoreError::LeaseLost(_))
    ));
    store.complete("w3", &[done(1, 12)]).unwrap();
    let window = store.device_alerts(d1, 0, 2).unwrap();
    assert_eq!(window.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(window[1].flags, vec![12; 3]);
    let since = store.alerts_since(clinic, alerts[0].id, 10).unwrap();
    assert_eq!(since.iter().map(|a| a.seq).collect::<Vec<_>>(), vec![1]);
    assert!(store.alerts_since(clinic + 1, 0, 10).unwrap().is_empty());

    // A failing reading: attempts counted, then failed for good with its stream entry.
    // Each attempt under a claim (an attempt releases the lease); another worker's attempt
    // counts nothing.
    for _ in 0..2 {
        let claimed = store.claim_readings("w1", 10, grace, lease).unwrap();
        assert!(claimed.iter().any(|p| p.device_id == d1 && p.seq == 2));
        assert!(matches!(
            store.fail_reading("w9", d1, 2, "not mine", 2),
            Err(StoreError::LeaseLost(_))
        ));
        store.fail_reading("w1", d1, 2, "bad bytes", 2).unwrap();
    }
    let stream = store.alerts_since(clinic, 0, 10).unwrap();
    let failed = stream.last().unwrap();
    assert_eq!(
        (failed.seq, failed.flags.len(), failed.error.as_deref()),
        (2, 0, Some("bad bytes"))
    );
    assert!(
        store.device_alerts(d1, 0, 3).unwrap().len() == 2,
        "a failure is no alert"
    );
    let (readings, pending, cohorts_pending, oldest) = store.pending_jobs().unwrap();
    assert_eq!((readings, pending, cohorts_pending), (2, 0, 0));
    assert!(oldest.is_some());
    assert_eq!(store.counts().unwrap(), (5, 2, 2));

    // Records: versions, replays, order, quotas.
    let rec = |patient: &'static str, date: &'static str, value: &'static [u8]| NewRecord {
        patient,
        test: "glucose",
        date,
        change_threshold: 10,
        mean_window: 2,
        value,
    };
    let Ok(RecordInsert::Stored { id: a1, version: 1 }) =
        store.insert_record(clinic, &rec("p-ann", "2026-01-01", b"a1"))
    else {
        panic!("first record")
    };
    assert_eq!(
        store
            .insert_record(clinic, &rec("p-ann", "2026-01-01", b"a1"))
            .unwrap(),
        RecordInsert::Replay(a1)
    );
    let Ok(RecordInsert::Stored {
        id: a1v2,
        version: 2,
    }) = store.insert_record(clinic, &rec("p-ann", "2026-01-01", b"A1"))
    else {
        panic!("a new version")
    };
    let Ok(RecordInsert::Stored { id: a2, .. }) =
        store.insert_record(clinic, &rec("p-ann", "2026-01-05", b"a2"))
    else {
        panic!("a later record")
    };
    assert_eq!(
        store
            .insert_record(clinic, &rec("p-ann", "2026-01-03", b"zz"))
            .unwrap(),
        RecordInsert::OutOfOrder {
            latest: "2026-01-05".into()
        }
    );
    let Ok(RecordInsert::Stored { id: b1, .. }) =
        store.insert_record(clinic, &rec("p-ben", "2026-01-02", b"b1"))
    else {
        panic!("another series")
    };
    assert!(matches!(
        store.insert_record(clinic, &rec("p-ben", "2026-01-09", &[0; 40])),
        Err(StoreError::Quota(_))
    ));
    // One per series, the superseded version skipped.
    let heads = store.claim_records("w1", 10, lease).unwrap();
    assert_eq!(
        heads.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![a1v2, b1]
    );
    assert!(
        store.claim_records("w2", 10, lease).unwrap().is_empty(),
        "leased"
    );
    assert!(heads[0].previous_max.is_none() && heads[0].window.is_empty());
    store
        .complete_records(
            "w1",
            &[CompletedRecord {
                clinic_id: clinic,
                record_id: a1v2,
                window: 0,
                running_max: b"max1".to_vec(),
                analysis: None,
            }],
        )
        .unwrap();
    let heads = store.claim_records("w1", 10, lease).unwrap();
    let head = heads.iter().find(|h| h.id == a2).unwrap();
    assert_eq!(
        (head.previous_max.as_deref(), head.window.clone()),
        (Some(&b"max1"[..]), vec![b"A1".to_vec()])
    );
    let a2_done = CompletedRecord {
        clinic_id: clinic,
        record_id: a2,
        window: 1,
        running_max: b"max2".to_vec(),
        analysis: Some(b"analysis".to_vec()),
    };
    assert!(matches!(
        store.complete_records("w2", std::slice::from_ref(&a2_done)),
        Err(StoreError::LeaseLost(_))
    ));
    store
        .complete_records(
            "w1",
            &[CompletedRecord {
                clinic_id: clinic,
                record_id: a2,
                window: 1,
                running_max: b"max2".to_vec(),
                analysis: Some(b"analysis".to_vec()),
            }],
        )
        .unwrap();
    for _ in 0..3 {
        let heads = store.claim_records("w1", 10, lease).unwrap();
        assert_eq!(heads.iter().map(|h| h.id).collect::<Vec<_>>(), vec![b1]);
        assert!(matches!(
            store.fail_record("w9", b1, "not mine", 3),
            Err(StoreError::LeaseLost(_))
        ));
        store.fail_record("w1", b1, "bad", 3).unwrap();
    }
    let analyses = store.analyses_since(clinic, 0, 10).unwrap();
    assert_eq!(
        analyses
            .iter()
            .map(|a| (
                a.record_id,
                a.date.as_str(),
                a.version,
                a.mean_window,
                a.body.clone()
            ))
            .collect::<Vec<_>>(),
        vec![
            (a1v2, "2026-01-01", 2, 0, None),
            (a2, "2026-01-05", 1, 1, Some(b"analysis".to_vec()))
        ]
    );
    assert_eq!(store.record_counts().unwrap(), (4, 0, 2, 0));

    // Cohorts: over each patient's latest value (a failed record left out).
    assert_eq!(store.insert_cohort(clinic, "sodium", 5).unwrap(), None);
    let job = store.insert_cohort(clinic, "glucose", 5).unwrap().unwrap();
    let row = store.claim_cohort("w1", lease).unwrap().unwrap();
    assert!(store.claim_cohort("w2", lease).unwrap().is_none(), "leased");
    assert!(matches!(
        store.complete_cohort("w2", job, 1, b"x"),
        Err(StoreError::LeaseLost(_))
    ));
    assert_eq!(
        (row.id, row.threshold, row.state),
        (job, 5, JobState::Pending)
    );
    assert_eq!(store.cohort_values(&row).unwrap(), vec![b"a2".to_vec()]);
    store.complete_cohort("w1", job, 1, b"stats").unwrap();
    let row = store.cohort(clinic, job).unwrap().unwrap();
    assert_eq!(
        (row.state, row.patients, row.body.as_deref()),
        (JobState::Done, Some(1), Some(&b"stats"[..]))
    );
    assert!(store.cohort(clinic + 1, job).unwrap().is_none());
    let job2 = store.insert_cohort(clinic, "glucose", 6).unwrap().unwrap();
    assert_eq!(store.claim_cohort("w1", lease).unwrap().unwrap().id, job2);
    store.fail_cohort("w1", job2, "no", 1).unwrap();
    let row = store.cohort(clinic, job2).unwrap().unwrap();
    assert_eq!(
        (row.state, row.error.as_deref()),
        (JobState::Failed, Some("no"))
    );
    assert!(store.claim_cohort("w1", lease).unwrap().is_none());

    // Revocation; a direct insert (tests' helper).
    assert!(store.revoke_device(clinic, d1).unwrap());
    assert_eq!(store.authenticate_device(d1, "d1").unwrap(), None);
    let other = store.insert_clinic("s", "P", 1, b"k", b"c").unwrap();
    assert_ne!(other, clinic);
    assert_eq!(
        store.clinic(other).unwrap().unwrap().quotas,
        Quotas::default()
    );
    store.release_all_claims().unwrap();
}

#[test]
fn sqlite_store_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.sqlite")).unwrap();
    store_behaves(&store);
}

#[test]
fn postgres_store_behaves_as_sqlite() {
    let url = common::postgres_database();
    assert!(matches!(Database::parse(&url), Database::Postgres(_)));
    let store = Store::connect(&url).unwrap();
    assert!(store.is_shared());
    store_behaves(&store);
    // Opened again (another process would): the schema is found, not created twice.
    drop(store);
    let again = Store::open_database(&Database::parse(&url)).unwrap();
    assert_eq!(again.clinic_count().unwrap(), 2);
}

/// Two connections racing to register with one enrollment token, and many writers appending
/// alerts: PostgreSQL's serializable transactions give one clinic, and each clinic's stream
/// ids in commit order.
#[test]
fn postgres_concurrent_writers_keep_the_invariants() {
    let url = common::postgres_database();
    let store = std::sync::Arc::new(Store::connect(&url).unwrap());
    let far = glovebox::service::store::now_ms() + 3_600_000;
    let e = store
        .create_enrollment("tok", far, Quotas::default())
        .unwrap();
    let registered: Vec<Option<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let store = store.clone();
                s.spawn(move || {
                    store
                        .register_clinic((e, "tok"), &format!("c{i}"), "P", 1, b"k", b"c")
                        .unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(registered.iter().flatten().count(), 1, "{registered:?}");
    let clinic = registered.into_iter().flatten().next().unwrap();
    let devices: Vec<i64> = (0..8)
        .map(|i| store.insert_device(clinic, &format!("p{i}"), "d").unwrap())
        .collect();
    // Each thread is a device and a worker at once: it posts its readings one by one, and
    // claims and commits whatever the queue gives it (any device's), then drains the queue.
    // Claims are disjoint (a commit under a lease another worker took would fail).
    let work = |store: &Store, owner: &str| -> usize {
        let claimed = store
            .claim_readings(owner, 4, Duration::ZERO, Duration::from_secs(60))
            .unwrap();
        let done: Vec<CompletedReading> = claimed
            .iter()
            .map(|p| CompletedReading {
                clinic_id: p.clinic_id,
                device_id: p.device_id,
                seq: p.seq,
                flags: vec![p.seq as u8],
            })
            .collect();
        store.complete(owner, &done).unwrap();
        done.len()
    };
    std::thread::scope(|s| {
        for &device in &devices {
            let store = store.clone();
            s.spawn(move || {
                let owner = format!("w{device}");
                for seq in 0..20u64 {
                    store
                        .insert_readings(clinic, device, &[(seq, vec![seq as u8])])
                        .unwrap();
                    work(&store, &owner);
                }
                while store.counts().unwrap().1 > 0 {
                    if work(&store, &owner) == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            });
        }
        // A reader following the stream by cursor, as a clinic does, meanwhile.
        let store = store.clone();
        s.spawn(move || {
            let mut seen = 0;
            let mut cursor = 0;
            let start = std::time::Instant::now();
            while seen < 160 && start.elapsed() < Duration::from_secs(60) {
                for a in store.alerts_since(clinic, cursor, 1000).unwrap() {
                    assert!(a.id > cursor);
                    cursor = a.id;
                    seen += 1;
                }
            }
            assert_eq!(seen, 160, "the cursor skipped none");
        });
    });
    assert_eq!(store.counts().unwrap(), (160, 0, 160));
    // Each device's readings were evaluated in order, whichever workers took them.
    let stream = store.alerts_since(clinic, 0, 1000).unwrap();
    for &device in &devices {
        let seqs: Vec<u64> = stream
            .iter()
            .filter(|a| a.device_id == device)
            .map(|a| a.seq)
            .collect();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>(), "device {device}");
    }
}

/// A worker's steps in flight ([`StepShare`]): each claims its part of the worker's share of
/// the devices, none of the devices its other steps hold, and the worker's other leased
/// readings again (a failed step's).
fn steps_split_a_workers_share(store: &Store) {
    let far = glovebox::service::store::now_ms() + 3_600_000;
    let quotas = Quotas {
        max_devices: 8,
        ..Quotas::default()
    };
    let e = store.create_enrollment("s", far, quotas).unwrap();
    let clinic = store
        .register_clinic((e, "s"), "c", "P", 1, &[1], b"ck")
        .unwrap()
        .expect("registered");
    let devices: Vec<i64> = (0..8)
        .map(|i| store.insert_device(clinic, &format!("p{i}"), "t").unwrap())
        .collect();
    for &d in &devices {
        store
            .insert_readings(clinic, d, &[(0, vec![0; 4]), (1, vec![1; 4])])
            .unwrap();
    }
    let (grace, lease) = (Duration::from_secs(60), Duration::from_secs(60));
    let claim = |steps: usize, busy_devices: &[i64]| {
        let share = StepShare {
            steps,
            busy_devices,
        };
        let mut got: Vec<(i64, u64)> = store
            .claim_readings_step("w", 64, grace, lease, share)
            .unwrap()
            .iter()
            .map(|p| (p.device_id, p.seq))
            .collect();
        got.sort();
        got
    };
    let devices_of = |claimed: &[(i64, u64)]| claimed.iter().map(|c| c.0).collect::<Vec<_>>();
    let first = claim(2, &[]);
    assert_eq!(first.len(), 4, "half of the 8 devices: {first:?}");
    let second = claim(2, &devices_of(&first));
    assert_eq!(second.len(), 4, "the other half: {second:?}");
    assert!(
        first.iter().all(|r| !second.contains(r)),
        "no reading twice"
    );
    assert!(first.iter().chain(&second).all(|&(_, seq)| seq == 0));
    let both: Vec<i64> = devices_of(&first)
        .into_iter()
        .chain(devices_of(&second))
        .collect();
    assert!(claim(2, &both).is_empty(), "every head is held by a step");
    // The first step commits: its devices' next readings are claimable, by a step.
    let done: Vec<CompletedReading> = first
        .iter()
        .map(|&(device_id, seq)| CompletedReading {
            clinic_id: clinic,
            device_id,
            seq,
            flags: vec![9],
        })
        .collect();
    store.complete("w", &done).unwrap();
    let third = claim(2, &devices_of(&second));
    assert_eq!(
        third,
        first.iter().map(|&(d, _)| (d, 1)).collect::<Vec<_>>(),
        "the next readings of the first step's devices"
    );
    // The second step fails (nothing committed): the next claim, beside the third step,
    // takes its readings again (they are still the worker's).
    assert_eq!(claim(2, &devices_of(&third)), second);
    // With no step in flight, all the worker's leased readings are its again.
    let mut all = second.clone();
    all.extend(&third);
    all.sort();
    assert_eq!(claim(1, &[]), all);
}

#[test]
fn sqlite_steps_split_a_workers_share() {
    let dir = tempfile::tempdir().unwrap();
    steps_split_a_workers_share(&Store::open(&dir.path().join("store.sqlite")).unwrap());
}

#[test]
fn postgres_steps_split_a_workers_share() {
    steps_split_a_workers_share(&Store::connect(&common::postgres_database()).unwrap());
}
