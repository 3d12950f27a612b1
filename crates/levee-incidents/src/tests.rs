use super::*;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_767_225_600 * S;

fn seen(vector: &str, target: &str, start: i64, end: i64, peak: f64) -> Observation {
    Observation {
        vector: vector.into(),
        target: target.into(),
        network: None,
        measure: Measure::Packets,
        start_ns: start,
        end_ns: end,
        at_ns: end,
        peak_pps: peak,
        sources: 1000,
        spoofed_likely: true,
        signature: Some("ip.dst == 10.0.0.1 and tcp.flags == 0x02".into()),
        rules: BTreeMap::from([("bpf".into(), "dst host 10.0.0.1".into())]),
        evidence: vec!["SYNs unanswered".into()],
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("incidents.db")).unwrap();
    (dir, s)
}

fn changes(s: &Store, id: i64) -> Vec<String> {
    s.history(id)
        .unwrap()
        .into_iter()
        .map(|h| h.change)
        .collect()
}

#[test]
fn an_attack_is_one_incident_with_start_escalation_and_end_alerts() {
    let (_d, mut s) = store();
    let (id, a) = s
        .started(&seen("syn-flood", "10.0.0.1", T0, T0 + S, 1000.0))
        .unwrap();
    let a = a.unwrap();
    assert_eq!(
        (a.alert, a.resumed, a.incident.id),
        (AlertKind::Start, false, id)
    );
    assert_eq!(a.incident.status, Status::Open);
    assert!(a.incident.active);
    // A rise below twice the alerted peak is written, not alerted.
    let quiet = s
        .updated(id, &seen("syn-flood", "10.0.0.1", T0, T0 + 2 * S, 1500.0))
        .unwrap();
    assert!(quiet.is_none());
    let esc = s
        .updated(id, &seen("syn-flood", "10.0.0.1", T0, T0 + 3 * S, 2100.0))
        .unwrap()
        .unwrap();
    assert_eq!(esc.alert, AlertKind::Escalation);
    assert_eq!(esc.incident.peak_pps, 2100.0);
    // The next escalation is at twice 2,100.
    assert!(s
        .updated(id, &seen("syn-flood", "10.0.0.1", T0, T0 + 4 * S, 4000.0))
        .unwrap()
        .is_none());
    let end = s
        .ended(
            id,
            &seen("syn-flood", "10.0.0.1", T0, T0 + 5 * S, 0.0),
            "quiet for 30 s",
        )
        .unwrap()
        .unwrap();
    assert_eq!(end.alert, AlertKind::End);
    assert!(!end.incident.active);
    assert_eq!(end.incident.peak_pps, 4000.0);
    assert_eq!(end.incident.end_ns, T0 + 5 * S);
    // Ending twice tells nothing.
    assert!(s
        .ended(
            id,
            &seen("syn-flood", "10.0.0.1", T0, T0 + 5 * S, 0.0),
            "again"
        )
        .unwrap()
        .is_none());
    assert_eq!(
        changes(&s, id),
        ["started", "updated", "escalated", "updated", "ended"]
    );
    assert_eq!(s.list(None, false).unwrap().len(), 1);
}

#[test]
fn a_flapping_attack_continues_its_incident_and_a_late_one_opens_another() {
    let (_d, mut s) = store();
    let (id, _) = s
        .started(&seen("udp-flood", "10.0.0.2", T0, T0 + S, 500.0))
        .unwrap();
    s.ended(id, &seen("udp-flood", "10.0.0.2", T0, T0 + S, 0.0), "quiet")
        .unwrap();
    // Back 60 s later: the same incident, told as a start that resumed.
    let (again, a) = s
        .started(&seen(
            "udp-flood",
            "10.0.0.2",
            T0 + 61 * S,
            T0 + 62 * S,
            400.0,
        ))
        .unwrap();
    let a = a.unwrap();
    assert_eq!(again, id);
    assert!(a.resumed && a.incident.active);
    assert_eq!(a.incident.start_ns, T0);
    let h = s.history(id).unwrap();
    assert_eq!(h.last().unwrap().change, "resumed");
    assert!(h.last().unwrap().detail.contains("60.0 s quiet"), "{h:?}");
    s.ended(
        id,
        &seen("udp-flood", "10.0.0.2", T0, T0 + 62 * S, 0.0),
        "quiet",
    )
    .unwrap();
    // Back an hour later: a new incident.
    let (late, a) = s
        .started(&seen(
            "udp-flood",
            "10.0.0.2",
            T0 + 3600 * S,
            T0 + 3601 * S,
            400.0,
        ))
        .unwrap();
    assert_ne!(late, id);
    assert!(!a.unwrap().resumed);
    // Another target is another incident.
    let (other, _) = s
        .started(&seen(
            "udp-flood",
            "10.0.0.3",
            T0 + 61 * S,
            T0 + 62 * S,
            400.0,
        ))
        .unwrap();
    assert_ne!(other, id);
}

#[test]
fn a_restarted_monitor_continues_the_active_incident_and_writes_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incidents.db");
    let id = {
        let mut s = Store::open(&path).unwrap();
        s.started(&seen("syn-flood", "10.0.0.1", T0, T0 + 10 * S, 1000.0))
            .unwrap()
            .0
        // Dropped without an end: the process died.
    };
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.active().unwrap().len(), 1);
    assert_eq!(s.monitor_restarted().unwrap(), [id]);
    let (again, a) = s
        .started(&seen(
            "syn-flood",
            "10.0.0.1",
            T0 + 25 * S,
            T0 + 26 * S,
            900.0,
        ))
        .unwrap();
    assert_eq!(again, id);
    // Still active: no second start alert.
    assert!(a.is_none());
    let h = s.history(id).unwrap();
    let resumed = h.last().unwrap();
    assert_eq!(resumed.change, "resumed");
    assert!(resumed.detail.contains("15.0 s"), "{resumed:?}");
    assert_eq!(changes(&s, id), ["started", "restarted", "resumed"]);
}

#[test]
fn people_take_note_mitigate_and_resolve_and_a_resolved_incident_is_closed() {
    let (_d, mut s) = store();
    let (id, _) = s
        .started(&seen("syn-flood", "10.0.0.1", T0, T0 + S, 1000.0))
        .unwrap();
    let inc = s.acknowledge(id, "alice").unwrap();
    assert_eq!(
        (inc.status, inc.owner.as_deref()),
        (Status::Acknowledged, Some("alice"))
    );
    s.note(id, "alice", "customer called").unwrap();
    assert_eq!(
        s.mitigated(id, "alice", "nftables rule syn-flood-1")
            .unwrap()
            .status,
        Status::Mitigated
    );
    let inc = s.resolve(id, "alice", Some("upstream filtered")).unwrap();
    assert_eq!(inc.status, Status::Resolved);
    assert!(matches!(
        s.resolve(id, "bob", None),
        Err(StoreError::Refused { .. })
    ));
    assert!(matches!(
        s.acknowledge(id, "bob"),
        Err(StoreError::Refused { .. })
    ));
    let h = s.history(id).unwrap();
    let by: Vec<(&str, &str)> = h
        .iter()
        .map(|e| (e.change.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        by,
        [
            ("started", "levee monitor"),
            ("acknowledged", "alice"),
            ("note", "alice"),
            ("mitigated", "alice"),
            ("resolved", "alice")
        ]
    );
    assert!(h[4].detail.contains("while its attack was still active"));
    // Resolved while the attack goes on: its figures still kept, no escalation alerted.
    assert!(s
        .updated(id, &seen("syn-flood", "10.0.0.1", T0, T0 + 2 * S, 9000.0))
        .unwrap()
        .is_none());
    // The same attack starting again opens a new incident.
    let (next, _) = s
        .started(&seen(
            "syn-flood",
            "10.0.0.1",
            T0 + 10 * S,
            T0 + 11 * S,
            1000.0,
        ))
        .unwrap();
    assert_ne!(next, id);
    assert_eq!(
        s.list(None, false)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        [next]
    );
    assert_eq!(s.list(None, true).unwrap().len(), 2);
    assert_eq!(s.list(Some(Status::Resolved), false).unwrap()[0].id, id);
    s.reopen(id, "bob").unwrap();
    assert_eq!(s.get(id).unwrap().status, Status::Acknowledged);
    assert!(matches!(s.get(99), Err(StoreError::NoIncident(99))));
    assert!(matches!(
        s.note(99, "bob", "x"),
        Err(StoreError::NoIncident(99))
    ));
}

#[test]
fn the_schema_is_migrated_once_and_a_newer_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incidents.db");
    let s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), schema::current_version());
    drop(s);
    // Opening again runs no migration (a second CREATE TABLE would fail).
    Store::open(&path).unwrap();
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", schema::current_version() + 1)
        .unwrap();
    drop(conn);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NewerSchema { .. })
    ));
    // A file that is not a database is refused, and left as it was.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, but someone's notes").unwrap();
    assert!(Store::open(&junk).is_err());
    assert_eq!(
        std::fs::read(&junk).unwrap(),
        b"not a database at all, but someone's notes"
    );
}

#[test]
fn alerts_serialise_with_the_incident() {
    let (_d, mut s) = store();
    let (_, a) = s
        .started(&seen("syn-flood", "10.0.0.1", T0, T0 + S, 1000.0))
        .unwrap();
    let v: serde_json::Value = serde_json::to_value(a.unwrap()).unwrap();
    assert_eq!(v["alert"], "start");
    assert_eq!(v["incident"]["id"], 1);
    assert_eq!(v["incident"]["status"], "open");
    assert_eq!(v["incident"]["start"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(v["incident"]["rules"]["bpf"], "dst host 10.0.0.1");
    assert!(v["incident"].get("alerted_pps").is_none());
}

#[test]
fn a_version_1_database_is_migrated_with_its_incidents_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incidents.db");
    {
        // A database as the first levee with incidents wrote it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch("PRAGMA user_version = 1").unwrap();
        conn.execute(
            "INSERT INTO incidents (vector, target, status, attack, start_ns, end_ns, peak_pps,
                alerted_pps, sources, spoofed, signature, rules, evidence, owner, opened_at,
                updated_at)
             VALUES ('udp-flood', '10.0.0.9', 'acknowledged', 'ended', 1, 2, 3.0, 3.0, 4, 0,
                NULL, '{}', '[]', 'carol', 'then', 'then')",
            [],
        )
        .unwrap();
    }
    let mut s = Store::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 3);
    let inc = s.get(1).unwrap();
    assert_eq!(inc.network, None, "no network before version 3");
    assert_eq!(
        (inc.vector.as_str(), inc.owner.as_deref()),
        ("udp-flood", Some("carol"))
    );
    assert!(inc.samples.is_empty());
    s.sample_written(
        1,
        "/var/lib/levee/incident-1.pcap",
        "1,000 packets before its start",
    )
    .unwrap();
    assert_eq!(
        s.get(1).unwrap().samples,
        ["/var/lib/levee/incident-1.pcap"]
    );
    assert_eq!(s.history(1).unwrap()[0].change, "sample");
    s.report_written(1, "/var/lib/levee/incident-1-report", "1 attack: udp-flood")
        .unwrap();
    let history = s.history(1).unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.change, "report");
    assert_eq!(
        last.detail,
        "/var/lib/levee/incident-1-report: 1 attack: udp-flood"
    );
    assert!(s.report_written(99, "x", "y").is_err(), "no incident 99");
}

#[test]
fn an_incident_keeps_the_protected_network_its_targets_are_in() {
    let (_d, mut s) = store();
    let o = Observation {
        network: Some("customer-a".into()),
        ..seen("udp-flood", "192.0.2.7", T0, T0 + S, 5000.0)
    };
    let (id, a) = s.started(&o).unwrap();
    assert_eq!(a.unwrap().incident.network.as_deref(), Some("customer-a"));
    // An update that does not say keeps it.
    s.updated(id, &seen("udp-flood", "192.0.2.7", T0, T0 + 2 * S, 5000.0))
        .unwrap();
    assert_eq!(s.get(id).unwrap().network.as_deref(), Some("customer-a"));
}
