//! The reader on the real honeynet logs of `shared/data/logs/sotm34` (Apache combined), each
//! line checked against a plain split of the same line on its quotes.

use std::path::PathBuf;

use levee_logs::{Entry, FormatSpec, LogReader};

fn sotm34() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/logs/sotm34");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the shared data must sit beside the repository)",
                dir.display()
            )
        })
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn every_line_of_the_honeynet_logs_reads_as_its_quotes_say() {
    let (mut lines, mut requests) = (0, 0);
    let mut methods = std::collections::BTreeMap::new();
    let mut fp30reg = 0;
    for path in sotm34() {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<&str> = text.lines().collect();
        let mut r = LogReader::open(&path, FormatSpec::Auto).unwrap();
        let mut i = 0;
        while let Some(e) = r.next_entry() {
            let Entry::Request(q) = e.unwrap() else {
                panic!("{}: a line did not parse", path.display());
            };
            let line = expected[i];
            i += 1;
            // ip - - [time] "request" status bytes "referer" "user agent"
            let parts: Vec<&str> = line.split('"').collect();
            assert_eq!(parts.len(), 7, "{line}");
            assert_eq!(q.client, parts[0].split(' ').next().unwrap());
            assert!(q.ip.is_some(), "{line}");
            let request = format!(
                "{}{}{}{}{}",
                q.method,
                if q.method.is_empty() { "" } else { " " },
                q.target,
                if q.protocol.is_some() { " " } else { "" },
                q.protocol.as_deref().unwrap_or("")
            );
            assert_eq!(request, parts[1], "{line}");
            let mut nums = parts[2].split_whitespace();
            assert_eq!(q.status.unwrap().to_string(), nums.next().unwrap());
            assert_eq!(
                q.bytes.map_or("-".to_string(), |b| b.to_string()),
                nums.next().unwrap()
            );
            assert_eq!(q.referer.as_deref().unwrap_or("-"), parts[3]);
            assert_eq!(q.user_agent.as_deref().unwrap_or("-"), parts[5]);
            let when = &parts[0][parts[0].find('[').unwrap() + 1..parts[0].find(']').unwrap()];
            assert!(when.ends_with("-0500"), "{line}");
            // Times of 2005, eastern standard time.
            let ts = q.ts.unwrap();
            assert!(
                (1_104_537_600_000_000_000..1_136_073_600_000_000_000).contains(&ts),
                "{line}"
            );
            *methods.entry(q.method.to_string()).or_insert(0u32) += 1;
            if q.path() == "/_vti_bin/_vti_aut/fp30reg.dll" && q.method == "POST" {
                fp30reg += 1;
            }
        }
        assert_eq!(i, expected.len(), "{}", path.display());
        assert_eq!(r.format_name(), "combined");
        let s = r.stats();
        assert_eq!((s.malformed, s.skipped), (0, 0));
        lines += s.lines;
        requests += s.requests;
    }
    assert_eq!((lines, requests), (3554, 3554));
    // What the honeynet saw: mostly GETs, FrontPage exploit POSTs, OPTIONS scans, proxy
    // CONNECTs.
    // (`awk -F'"' '{split($2,a," "); print a[1]}' | sort | uniq -c` over the same files; one
    // line's request is empty.)
    let want: std::collections::BTreeMap<String, u32> = [
        ("", 1),
        ("CONNECT", 59),
        ("GET", 2858),
        ("OPTIONS", 46),
        ("POST", 590),
    ]
    .iter()
    .map(|(m, n)| (m.to_string(), *n))
    .collect();
    assert_eq!(methods, want);
    assert_eq!(fp30reg, 587);
}
