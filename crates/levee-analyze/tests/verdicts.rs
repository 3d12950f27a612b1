//! Why a class is called an attack ([`Evidence`], [`SourceEvidence`]) or, with the volume of
//! one, is not ([`DismissReason`]): the verdicts as values, not sentences.

use levee_analyze::detect::{findings_so_far, DismissReason, Dismissal, Finding};
use levee_analyze::evidence::{Evidence, ProbesOver, SourceEvidence};
use levee_analyze::vector::Class;
use levee_analyze::{AnalyzeConfig, Analyzer};
use levee_capture::{CaptureReader, Item};

fn judged(scenario: &str, packets: u64, config: AnalyzeConfig) -> (Vec<Finding>, Vec<Dismissal>) {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse(scenario).unwrap(),
        packets,
        benign_pps: 20_000.0,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
    let mut reader = CaptureReader::from_bytes(scenario, pcap).unwrap();
    let mut an = Analyzer::new(config);
    while let Some(Item::Frame(f)) = reader.next_item() {
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| an.add(f.ts_nanos, p));
    }
    an.finish_pass();
    findings_so_far(&mut an, &[])
}

fn reason_of(dismissed: &[Dismissal], class: Class) -> &DismissReason {
    &dismissed
        .iter()
        .find(|d| d.class == class)
        .unwrap_or_else(|| panic!("{class:?} is dismissed: {dismissed:#?}"))
        .reason
}

/// Busy web traffic: its SYNs have a flood's rate, but all are answered but the few at the
/// capture's end, far below an attack's volume.
#[test]
fn answered_syns_are_below_the_volume_of_an_attack() {
    let config = AnalyzeConfig {
        min_pps: 100.0,
        min_packets: 50,
        ..AnalyzeConfig::default()
    };
    let (found, dismissed) = judged("benign", 100_000, config);
    assert!(found.is_empty(), "{found:#?}");
    let reason = reason_of(&dismissed, Class::Syn);
    let DismissReason::BelowVolume {
        flagged, evidence, ..
    } = reason
    else {
        panic!("{reason:?}")
    };
    assert!(*flagged < 50, "{reason:?}");
    assert_eq!(*evidence, "never followed by the handshake's ACK");
    assert!(reason
        .to_string()
        .ends_with("below the volume of an attack"));
}

/// A reflection from fewer reflectors than asked for is no reflection.
#[test]
fn too_few_reflectors_is_said_with_their_number() {
    let config = AnalyzeConfig {
        min_reflectors: 1_000_000,
        ..AnalyzeConfig::default()
    };
    let (found, dismissed) = judged("ntp-reflection", 50_000, config);
    assert!(found.iter().all(|f| f.vector != "ntp-reflection"));
    let ntp = Class::Reflection(levee_analyze::vector::service_for_port(123).unwrap());
    let DismissReason::FewReflectors { reflectors } = reason_of(&dismissed, ntp) else {
        panic!("{dismissed:#?}")
    };
    assert!(*reflectors > 10 && *reflectors < 1_000_000, "{reflectors}");
}

/// A SYN flood from fewer sources than asked for, with nothing earlier to rise over, is a few
/// heavy senders; the words say so.
#[test]
fn too_few_sources_is_said_with_their_number() {
    let config = AnalyzeConfig {
        min_flood_sources: u64::MAX,
        ..AnalyzeConfig::default()
    };
    let (found, dismissed) = judged("syn-flood", 50_000, config);
    assert!(found.iter().all(|f| f.vector != "syn-flood"), "{found:#?}");
    let reason = reason_of(&dismissed, Class::Syn);
    assert!(matches!(reason, DismissReason::FewSources { sources } if *sources > 1000));
    assert!(reason.to_string().contains("a few heavy senders"));
}

fn attack<'a>(found: &'a [Finding], vector: &str) -> &'a Finding {
    found
        .iter()
        .find(|f| f.vector == vector)
        .unwrap_or_else(|| panic!("a {vector} is found: {found:#?}"))
}

/// A SYN flood is told by its half-open handshakes, and its forged sources by their number.
#[test]
fn a_syn_flood_rests_on_half_open_handshakes_from_forged_sources() {
    let (found, _) = judged("syn-flood", 200_000, AnalyzeConfig::default());
    let f = attack(&found, "syn-flood");
    assert!(
        f.evidence.iter().any(|e| matches!(e,
            Evidence::HalfOpen { syns, completion, .. } if syns.n > 10_000 && *completion < 0.2)),
        "{:#?}",
        f.evidence
    );
    assert!(f.spoofed_likely);
    assert!(
        f.source_evidence.iter().any(|e| matches!(e,
            SourceEvidence::NewAddressPerPacket { sources, .. } if *sources >= 1000)),
        "{:#?}",
        f.source_evidence
    );
    assert!(f.low_rate.is_none());
}

/// A reflection is told by answers nobody asked for, from many reflectors, which are real
/// hosts and not forged.
#[test]
fn a_reflection_rests_on_unsolicited_answers_from_many_reflectors() {
    let config = AnalyzeConfig::default();
    let (found, _) = judged("dns-reflection", 200_000, config.clone());
    let f = attack(&found, "dns-reflection");
    assert!(
        f.evidence.iter().any(|e| matches!(e,
            Evidence::UnsolicitedAnswers { class: Class::Reflection(_), share, of_all: None, .. }
                if *share > 0.9)),
        "{:#?}",
        f.evidence
    );
    assert!(
        f.evidence.iter().any(|e| matches!(e,
            Evidence::Reflectors { distinct } if *distinct >= config.min_reflectors)),
        "{:#?}",
        f.evidence
    );
    assert!(
        matches!(
            f.source_evidence.first(),
            Some(SourceEvidence::Reflectors { .. })
        ),
        "{:#?}",
        f.source_evidence
    );
}

/// A port scan is told by one source probing many new ports and completing no handshake.
#[test]
fn a_port_scan_rests_on_probes_without_handshakes() {
    let (found, _) = judged("port-scan", 100_000, AnalyzeConfig::default());
    let f = attack(&found, "port-scan");
    let [Evidence::Probes { pairs, over, .. }] = f.evidence.as_slice() else {
        panic!("{:#?}", f.evidence)
    };
    assert!(pairs.n >= 100, "{pairs:?}");
    assert!(
        matches!(over, ProbesOver::Tcp { completed } if *completed * 5 <= pairs.n),
        "{over:?}"
    );
}

/// The frames of a synthetic scenario from `start_ns` on.
fn frames(scenario: &str, packets: u64, start_ns: i64, seed: u64) -> Vec<(i64, u32, Vec<u8>, u32)> {
    let cfg = levee_synth::SynthConfig {
        scenario: levee_synth::Scenario::parse(scenario).unwrap(),
        packets,
        start_ns,
        seed,
        ..Default::default()
    };
    let mut pcap = Vec::new();
    levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
    let mut reader = CaptureReader::from_bytes(scenario, pcap).unwrap();
    let mut out = Vec::new();
    while let Some(Item::Frame(f)) = reader.next_item() {
        out.push((f.ts_nanos, f.linktype, f.data.to_vec(), f.orig_len));
    }
    out
}

/// A monitor's flow filters age rather than fill: after a long spoofed SYN flood (far more
/// flows than its filters hold), a UDP flood from spoofed sources is still unanswered, and
/// found. The same analysis with filters that only fill takes every packet of it for
/// answered, and finds nothing.
#[test]
fn ageing_filters_still_see_a_flood_after_a_long_one() {
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let mut traffic = frames("syn-flood", 400_000, t0, 3);
    let flood_start = traffic.last().unwrap().0 + 5 * S;
    traffic.extend(frames("udp-flood", 200_000, flood_start, 4));
    let found = |ageing: bool| {
        let config = AnalyzeConfig {
            // Flow filters of 64 KiB: the SYN flood's 400,000 flows fill them many times over.
            bloom_log2_bytes: 15,
            ..AnalyzeConfig::default()
        };
        let mut an = Analyzer::new(config);
        an.limit_delay(S);
        an.thin_profiles(1 << 12);
        if ageing {
            an.age_filters(2 * S);
        }
        for (ts, linktype, data, orig_len) in &traffic {
            an.add_frame(*ts, *linktype, data, *orig_len);
        }
        let (findings, _) = findings_so_far(&mut an, &[]);
        findings
            .iter()
            .map(|f| f.vector.clone())
            .collect::<Vec<_>>()
    };
    let ageing = found(true);
    assert!(ageing.contains(&"syn-flood".to_string()), "{ageing:?}");
    assert!(ageing.contains(&"udp-flood".to_string()), "{ageing:?}");
    let filling = found(false);
    assert!(filling.contains(&"syn-flood".to_string()), "{filling:?}");
    assert!(!filling.contains(&"udp-flood".to_string()), "{filling:?}");
}

/// A provisional judgement leaves out the waiting packets of the attacks a caller says it
/// already follows, and only those: with a SYN flood on 10.10.10.10 settled, the flood's
/// finding holds only the packets that left the delay line (its evidence ends a delay
/// before the traffic), while a settled attack on another host leaves the judgement exactly
/// as it was.
#[test]
fn settled_attacks_leave_their_waiting_packets_out() {
    use levee_analyze::target::TargetSpec;
    const S: i64 = 1_000_000_000;
    let t0 = 1_768_478_400 * S;
    let traffic = frames("syn-flood", 150_000, t0, 5);
    let last = traffic.last().unwrap().0;
    let mut an = Analyzer::new(AnalyzeConfig::default());
    an.limit_delay(S);
    an.thin_profiles(1 << 12);
    for (ts, linktype, data, orig_len) in &traffic {
        an.add_frame(*ts, *linktype, data, *orig_len);
    }
    let victim = TargetSpec::Hosts(vec![levee_analyze::vector::addr_bits(
        "10.10.10.10".parse().unwrap(),
    )]);
    let elsewhere = TargetSpec::Hosts(vec![levee_analyze::vector::addr_bits(
        "10.10.10.99".parse().unwrap(),
    )]);
    let flood = |settled: &[(Class, &TargetSpec)], an: &mut Analyzer| {
        let (findings, _) = findings_so_far(an, settled);
        let f = findings
            .into_iter()
            .find(|f| f.vector == "syn-flood")
            .expect("the flood is found");
        assert_eq!(f.targets, victim, "{f:#?}");
        (f.window, f.peak_pps, f.sources)
    };
    let whole = flood(&[], &mut an);
    let settled = flood(&[(Class::Syn, &victim)], &mut an);
    let other_host = flood(&[(Class::Syn, &elsewhere)], &mut an);
    let other_class = flood(&[(Class::Udp, &victim)], &mut an);
    // Judged whole, the flood's evidence runs to its last packets.
    assert!(last - whole.0 .1 < S / 10, "{whole:?}");
    // Settled, it ends where the delay line begins: its last second is left out.
    assert!(
        settled.0 .1 < whole.0 .1 - S / 2 && settled.0 .1 >= last - 2 * S,
        "{settled:?} {whole:?}"
    );
    assert_eq!(settled.0 .0, whole.0 .0);
    // Another host or another class settled: nothing of this flood is left out, and the
    // judgement is repeated exactly (what it changed was put back).
    assert_eq!(other_host, whole);
    assert_eq!(other_class, whole);
    assert_eq!(flood(&[], &mut an), whole);
}
