//! The command interface and the driver's fault handling: descriptors the device must refuse
//! complete with their error status and run nothing; a device that stops answering, a
//! completion with an unknown tag and a completion with an error status each fail only the call
//! that met them, with a typed error, and the backend resets the device and goes on, its next
//! results equal to the CPU backend's.

use glovebox_engine::commons::random::CsprngGenerator;
use glovebox_engine::prelude::*;
use glovebox_sim::backend::{Fault, SimBackend};
use glovebox_sim::device::{CommandInterface, Descriptor, Event, Operation, Status};
use rand::{Rng, SeedableRng};

fn descriptor(operation: u8, slot: u8, batch: u16, tag: u16) -> Descriptor {
    Descriptor {
        operation,
        slot,
        batch,
        tag,
        in_addr: 0x1_2345,
        out_addr: 0x6_789a,
    }
}

#[test]
fn descriptors_are_checked_and_completed_in_order() {
    let mut dev = CommandInterface::new();
    dev.load_slot(0, Some(Operation::BlindRotation)).unwrap();
    dev.load_slot(1, Some(Operation::Keyswitch)).unwrap();
    // A good one first: the device asks for it with its fields, then completes it.
    dev.submit(&descriptor(2, 0, 4, 10)).unwrap();
    let Event::Execute(req) = dev.run(100) else {
        panic!("no request")
    };
    assert_eq!((req.op, req.slot, req.batch), (2, 0, 4));
    assert_eq!((req.in_addr, req.out_addr), (0x1_2345, 0x6_789a));
    dev.finish(&req, 500, 0, 7);
    assert_eq!(dev.run(100), Event::Idle);
    let c = dev.completions();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].tag, c[0].status, c[0].stall_cycles),
        (10, Status::Done, 7)
    );
    assert!(c[0].busy_cycles >= 500);
    // Refused: unknown operation, batch 0 and a batch no unit holds, an empty slot, a slot of the other
    // kind, a slot beyond the device's, reserved bits. None of them asks the units for anything.
    dev.submit(&descriptor(9, 0, 4, 11)).unwrap();
    dev.submit(&descriptor(2, 0, 0, 12)).unwrap();
    dev.submit(&descriptor(2, 0, 1000, 13)).unwrap();
    dev.submit(&descriptor(2, 2, 4, 14)).unwrap();
    dev.submit(&descriptor(1, 0, 4, 15)).unwrap();
    dev.submit(&descriptor(2, 200, 4, 16)).unwrap();
    dev.submit_words(2 | 4 << 16 | 17 << 32, 1 << 60).unwrap();
    assert_eq!(dev.run(1000), Event::Idle);
    let got: Vec<(u16, Status)> = dev
        .completions()
        .iter()
        .map(|c| (c.tag, c.status))
        .collect();
    assert_eq!(
        got,
        [
            (11, Status::UnknownOperation),
            (12, Status::BadBatch),
            (13, Status::BadBatch),
            (14, Status::KeyNotLoaded),
            (15, Status::KeyNotLoaded),
            (16, Status::KeyNotLoaded),
            (17, Status::ReservedBits),
        ]
    );
    // A unit fault comes back in the status; a reset forgets the slots.
    dev.submit(&descriptor(1, 1, 2, 20)).unwrap();
    let Event::Execute(req) = dev.run(100) else {
        panic!("no request")
    };
    dev.finish(&req, 10, 5, 0);
    dev.run(100);
    assert_eq!(dev.completions()[0].status, Status::UnitFault(5));
    dev.reset();
    dev.submit(&descriptor(1, 1, 2, 21)).unwrap();
    assert_eq!(dev.run(100), Event::Idle);
    assert_eq!(dev.completions()[0].status, Status::KeyNotLoaded);
    // The ring holds 16 descriptors in flight.
    for t in 0..16 {
        dev.submit(&descriptor(9, 0, 1, t)).unwrap();
    }
    assert!(dev.submit(&descriptor(9, 0, 1, 99)).is_err());
    assert_eq!(dev.run(10_000), Event::Idle);
    assert_eq!(dev.completions().len(), 16);
}

#[test]
fn the_two_units_run_at_the_same_time_each_in_ring_order() {
    let mut dev = CommandInterface::new();
    dev.load_slot(0, Some(Operation::BlindRotation)).unwrap();
    dev.load_slot(1, Some(Operation::Keyswitch)).unwrap();
    // A blind rotation, then two keyswitches: the first keyswitch starts while the blind
    // rotation runs, the second waits for its unit.
    dev.submit(&descriptor(2, 0, 4, 1)).unwrap();
    dev.submit(&descriptor(1, 1, 4, 2)).unwrap();
    dev.submit(&descriptor(1, 1, 4, 3)).unwrap();
    let start = dev.cycles();
    let mut handed = Vec::new();
    let mut events = 0;
    loop {
        match dev.run(1_000) {
            Event::Execute(req) => {
                handed.push((req.op, dev.cycles() - start));
                let cycles = if req.op == 2 { 3_000 } else { 1_000 };
                dev.finish(&req, cycles, 0, 0);
            }
            Event::Idle => break,
            Event::Timeout => panic!("timeout"),
        }
        events += 1;
        assert!(events < 10);
    }
    let elapsed = dev.cycles() - start;
    let c = dev.completions();
    let order: Vec<u16> = c.iter().map(|c| c.tag).collect();
    assert_eq!(
        order,
        [2, 3, 1],
        "keyswitches complete while the blind rotation runs"
    );
    let busy: Vec<u32> = c.iter().map(|c| c.busy_cycles).collect();
    assert!(busy
        .iter()
        .zip([1_000, 1_000, 3_000])
        .all(|(&b, w)| (w..w + 8).contains(&b)));
    // Handed over: blind rotation, first keyswitch a few cycles later, the second one when the
    // first finishes; all of it in the blind rotation's time, not the sum.
    assert_eq!(handed.iter().map(|h| h.0).collect::<Vec<_>>(), [2, 1, 1]);
    assert!(handed[1].1 < 20 && (1_000..1_020).contains(&(handed[2].1 - handed[1].1)));
    assert!(elapsed < 3_050, "{elapsed} cycles");
}

#[test]
fn each_fault_fails_its_call_and_the_backend_recovers() {
    let client =
        ClientKey::with_generator(&TEST_PARAMS_INSECURE, CsprngGenerator::from_seed([6; 32]))
            .unwrap();
    let server = client.server_key().unwrap();
    let sim = SimBackend::new();
    let cpu = CpuBackend::new();
    let ksk = server.keyswitch_key();
    let (h_sim, h_cpu) = (
        sim.upload_keyswitch_key(ksk).unwrap(),
        cpu.upload_keyswitch_key(ksk).unwrap(),
    );
    let (in_size, out_size) = (
        ksk.input_lwe_dimension().0 + 1,
        ksk.output_lwe_dimension().0 + 1,
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(41);
    let faults = [
        (Fault::Hang, "did not answer"),
        (Fault::UnknownTag, "no descriptor in flight"),
        (Fault::ErrorStatus(9), "unit fault 9"),
    ];
    for (i, (f, says)) in faults.into_iter().enumerate() {
        let inputs: Vec<u64> = (0..3 * in_size).map(|_| rng.gen()).collect();
        let mut out = vec![0; 3 * out_size];
        sim.inject_fault(f);
        match sim.keyswitch_batch(&h_sim, &inputs, &mut out) {
            Err(Error::Backend { reason, .. }) => assert!(reason.contains(says), "{reason}"),
            other => panic!("{f:?}: {other:?}"),
        }
        assert_eq!(sim.counters().resets, i as u64 + 1);
        // The next call runs on the reset device and equals the CPU backend.
        let mut want = vec![0; 3 * out_size];
        cpu.keyswitch_batch(&h_cpu, &inputs, &mut want).unwrap();
        let mut got = vec![0; 3 * out_size];
        sim.keyswitch_batch(&h_sim, &inputs, &mut got).unwrap();
        assert_eq!(got, want, "after {f:?}");
    }
}
