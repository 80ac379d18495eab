//! Tests for the ingest payload: JSON shape, round trip and every validation rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use time::macros::datetime;

fn sample() -> IntervalSample {
    IntervalSample {
        start: datetime!(2026-01-01 00:00:00 UTC),
        end: datetime!(2026-01-01 00:00:10 UTC),
        source: EnergySource::Measured,
        host_energy_joules: 1000.0,
        idle_energy_joules: 400.0,
        system_energy_joules: 100.0,
        zones: vec![ZoneEnergy {
            zone: "package-0".into(),
            energy_joules: 1000.0,
        }],
        pods: vec![PodEnergy {
            pod_uid: "0b5f0a8c-2a43-4c34-9a8e-1b2c3d4e5f60".into(),
            namespace: Some("shop".into()),
            pod: Some("cart-7d9f".into()),
            container: Some("cart".into()),
            container_id: Some("a".repeat(64)),
            labels: BTreeMap::from([("app".into(), "cart".into())]),
            energy_joules: 500.0,
        }],
    }
}

fn batch() -> IngestBatch {
    IngestBatch::new("node-a", vec![sample()])
}

#[test]
fn a_well_formed_batch_is_valid_and_round_trips() {
    let batch = batch();
    assert_eq!(batch.validate(), Ok(()));
    let json = serde_json::to_string(&batch).unwrap();
    let back: IngestBatch = serde_json::from_str(&json).unwrap();
    assert_eq!(back, batch);
}

#[test]
fn json_uses_documented_field_names() {
    let value = serde_json::to_value(batch()).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["node"], "node-a");
    let s = &value["samples"][0];
    assert_eq!(s["source"], "measured");
    assert_eq!(s["start"], "2026-01-01T00:00:00Z");
    assert_eq!(s["pods"][0]["namespace"], "shop");
    assert_eq!(s["pods"][0]["energy_joules"], 500.0);
    assert_eq!(s["idle_energy_joules"], 400.0);
}

#[test]
fn optional_fields_may_be_absent() {
    let json = r#"{"schema_version":1,"node":"n","batch_id":"6f1c1e7e-6a43-4a39-9c87-0f3c43b7f1aa",
      "created_at":"2026-01-01T00:00:00Z","samples":[{"start":"2026-01-01T00:00:00Z",
      "end":"2026-01-01T00:00:01Z","source":"estimated","host_energy_joules":3.0,
      "idle_energy_joules":1.0,"system_energy_joules":1.0,
      "pods":[{"pod_uid":"u","energy_joules":1.0}]}]}"#;
    let batch: IngestBatch = serde_json::from_str(json).unwrap();
    assert_eq!(batch.validate(), Ok(()));
    assert_eq!(batch.samples[0].pods[0].namespace, None);
    assert_eq!(batch.dropped_batches_total, 0);
}

#[test]
fn unknown_schema_version_is_refused() {
    let mut b = batch();
    b.schema_version = 2;
    assert_eq!(
        b.validate(),
        Err(ValidationError::UnknownSchemaVersion {
            found: 2,
            supported: 1
        })
    );
}

#[test]
fn negative_energy_names_the_field() {
    let mut b = batch();
    b.samples[0].pods[0].energy_joules = -1.0;
    let err = b.validate().unwrap_err();
    assert!(
        matches!(&err, ValidationError::NegativeEnergy { field, .. } if field == "samples[0].pods[0].energy_joules"),
        "{err}"
    );
    let mut b = batch();
    b.samples[0].idle_energy_joules = -0.5;
    assert!(err_field(&b).contains("samples[0].idle_energy_joules"));
}

#[test]
fn non_finite_energy_is_refused() {
    let mut b = batch();
    b.samples[0].host_energy_joules = f64::NAN;
    assert!(matches!(
        b.validate(),
        Err(ValidationError::NotFinite { .. })
    ));
}

#[test]
fn end_before_start_is_refused() {
    let mut b = batch();
    b.samples.push(sample());
    b.samples[1].end = datetime!(2025-12-31 23:59:59 UTC);
    assert_eq!(
        b.validate(),
        Err(ValidationError::EndBeforeStart {
            field: "samples[1]".into()
        })
    );
}

#[test]
fn absurd_power_is_refused() {
    let mut b = batch();
    // 10 s at just over 100 kW.
    b.samples[0].host_energy_joules = 1_000_001.0;
    b.samples[0].idle_energy_joules = 1_000_001.0 - 600.0;
    assert!(
        matches!(b.validate(), Err(ValidationError::Absurd { field, .. }) if field == "samples[0].host_energy_joules")
    );
    // Just under the bound passes.
    b.samples[0].host_energy_joules = 999_999.0;
    b.samples[0].idle_energy_joules = 999_999.0 - 600.0;
    b.samples[0].zones.clear();
    assert_eq!(b.validate(), Ok(()));
}

#[test]
fn absurd_interval_length_is_refused() {
    let mut b = batch();
    b.samples[0].end = datetime!(2026-01-03 00:00:00 UTC);
    assert!(
        matches!(b.validate(), Err(ValidationError::Absurd { field, .. }) if field == "samples[0].end")
    );
}

#[test]
fn parts_must_add_up_to_host() {
    let mut b = batch();
    b.samples[0].system_energy_joules = 150.0;
    assert!(matches!(
        b.validate(),
        Err(ValidationError::NotConserved { .. })
    ));
}

#[test]
fn empty_node_and_pod_uid_are_refused() {
    let mut b = batch();
    b.node.clear();
    assert_eq!(err_field(&b), "node must not be empty");
    let mut b = batch();
    b.samples[0].pods[0].pod_uid.clear();
    assert_eq!(
        err_field(&b),
        "samples[0].pods[0].pod_uid must not be empty"
    );
}

#[test]
fn too_many_samples_are_refused() {
    let mut b = batch();
    b.samples = vec![sample(); MAX_SAMPLES_PER_BATCH + 1];
    assert!(matches!(b.validate(), Err(ValidationError::TooMany { .. })));
}

#[test]
fn overlapping_samples_of_one_source_are_refused_touching_ones_are_not() {
    let next = |mut s: IntervalSample, secs: i64| {
        s.start += time::Duration::seconds(secs);
        s.end += time::Duration::seconds(secs);
        s
    };
    // Back to back (end == next start) and out of order: valid.
    let mut b = batch();
    b.samples = vec![next(sample(), 10), sample(), next(sample(), 20)];
    assert_eq!(b.validate(), Ok(()));
    // The same time from another source is another figure: valid.
    let mut estimated = sample();
    estimated.source = EnergySource::Estimated;
    b.samples.push(estimated);
    assert_eq!(b.validate(), Ok(()));
    // Five seconds of samples[0] again: refused, naming both.
    b.samples.push(next(sample(), 15));
    assert_eq!(
        b.validate(),
        Err(ValidationError::Overlapping {
            field: "samples[4]".into(),
            other: "samples[0]".into()
        })
    );
    // The very same interval twice.
    let mut b = batch();
    b.samples.push(sample());
    assert!(matches!(
        b.validate(),
        Err(ValidationError::Overlapping { .. })
    ));
}

fn err_field(b: &IngestBatch) -> String {
    b.validate().unwrap_err().to_string()
}

/// Found by `scripts/fuzz.sh ingest` (fuzz/corpus/ingest/regression-*): without serde_json's
/// `float_roundtrip`, `1000.1844674407371` (what serde_json writes for that f64) read back as
/// `1000.1844674407372`, so a batch's joules changed by one unit in the last place between the
/// agent and the server.
#[test]
fn numbers_read_back_exactly_as_written() {
    let mut b = batch();
    b.samples[0].zones[0].energy_joules = 1_000.184_467_440_737_1;
    let json = serde_json::to_string(&b).unwrap();
    assert!(json.contains("1000.1844674407371"), "{json}");
    let back: IngestBatch = serde_json::from_str(&json).unwrap();
    assert_eq!(
        back.samples[0].zones[0].energy_joules.to_bits(),
        1_000.184_467_440_737_1_f64.to_bits()
    );
    assert_eq!(back, b);
}
