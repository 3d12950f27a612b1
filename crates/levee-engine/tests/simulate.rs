//! Rules run over a capture by the engine: the analysis's recommended rules stop the attack
//! and spare the rest beside the analysis, and the same rules alone count the same drops.

use levee_analyze::simulate::recommended_rules;
use levee_analyze::AnalyzeConfig;
use levee_engine::{Inputs, Passes, Silent};

#[test]
fn the_recommended_rules_stop_the_flood_and_count_the_same_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("syn-flood.pcap");
    let cfg = levee_synth::SynthConfig {
        packets: 40_000,
        ..Default::default()
    };
    levee_synth::generate(&cfg, std::fs::File::create(&path).unwrap(), std::io::sink()).unwrap();
    let inputs = Inputs::new(vec![path.clone()]);
    let (plan, reading) = levee_engine::analyze(
        &inputs,
        AnalyzeConfig::default(),
        Passes::default(),
        &Silent,
    )
    .unwrap();
    let analysis = plan.finish(reading.files, reading.damaged);
    let rules = recommended_rules(&analysis);
    assert_eq!(analysis.attacks.len(), 1, "{:#?}", analysis.attacks);

    let (again, sim, read) = levee_engine::simulate::simulate(
        &inputs,
        &rules,
        "recommended".into(),
        AnalyzeConfig::default(),
        &Silent,
    )
    .unwrap();
    assert_eq!((read.unreadable, read.damaged), (0, 0));
    assert_eq!(again.attacks.len(), 1);
    assert_eq!(sim.total.packets, 40_000);
    let stopped = &sim.attacks[0].stopped;
    assert!(stopped.share > 0.95, "{stopped:?}");
    assert!(sim.other.share < 0.001, "{:?}", sim.other);

    let (alone, _) = levee_engine::simulate::simulate_rules_only(
        &inputs,
        &rules,
        "recommended".into(),
        1,
        &Silent,
    )
    .unwrap();
    assert_eq!(alone.blocked.packets, sim.blocked.packets);
    assert!(!alone.attacks_analyzed && alone.attacks.is_empty());
}
