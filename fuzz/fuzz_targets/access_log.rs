//! Any bytes as an access log, in each format levee reads (detected, combined, JSON lines, an
//! nginx `log_format`, an Apache `LogFormat`): every line is a request or a malformed line
//! with its number, never a panic, and the counts add up; read again in two shares of its
//! clients (as `analyze --threads 2` reads it), each line is read by one share exactly; and
//! in the combined format, the lines dealt to two readers by themselves ([`levee_logs::SharedDeal`]) are
//! what readers of the two shares read. Attackers write these lines.
#![no_main]

use levee_logs::{Entry, FormatSpec, LogReader, ReadStats, Share};
use libfuzzer_sys::fuzz_target;

/// Reads `log` in `share`: its stats, and the requests and malformed lines it gave; `None`
/// when the reading stopped on an error.
fn read(log: &[u8], spec: FormatSpec, share: Share) -> Option<(ReadStats, u64, u64)> {
    let mut reader =
        LogReader::from_reader("fuzz.log".into(), Box::new(std::io::Cursor::new(log.to_vec())), spec).ok()?;
    reader.set_share(share);
    let (mut requests, mut malformed) = (0u64, 0u64);
    while let Some(entry) = reader.next_entry() {
        match entry {
            Ok(Entry::Request(r)) => {
                assert!(share.holds(&r.client));
                requests += 1;
            }
            Ok(Entry::Malformed { line, .. }) => {
                malformed += 1;
                assert!(line >= 1);
            }
            Ok(Entry::Elsewhere) => assert!(!share.is_whole()),
            Err(_) => return None,
        }
    }
    let s = reader.stats();
    assert_eq!(s.requests, requests);
    assert_eq!(s.malformed, malformed);
    Some((s, requests, malformed))
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, log)) = data.split_first() else {
        return;
    };
    let spec = match which % 5 {
        0 => FormatSpec::Auto,
        1 => FormatSpec::Combined,
        2 => FormatSpec::Json,
        3 => FormatSpec::Nginx(
            "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time".into(),
        ),
        _ => FormatSpec::Apache("%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D".into()),
    };
    let Some((whole, requests, malformed)) = read(log, spec.clone(), Share::WHOLE) else {
        return;
    };
    let (mut shared_requests, mut shared_malformed) = (0, 0);
    for index in 0..2 {
        let (s, r, m) = read(log, spec.clone(), Share { index, of: 2 }).expect("a share reads what the whole read");
        assert_eq!((s.lines, s.skipped), (whole.lines, whole.skipped));
        shared_requests += r;
        shared_malformed += m;
    }
    assert_eq!((shared_requests, shared_malformed), (requests, malformed));
    if matches!(spec, FormatSpec::Combined) {
        let dealt = dealt(log);
        for index in 0..2 {
            let want = entries(LogReader::from_reader(
                "fuzz.log".into(),
                Box::new(std::io::Cursor::new(log.to_vec())),
                FormatSpec::Combined,
            )
            .map(|mut r| {
                r.set_share(Share { index, of: 2 });
                r
            })
            .expect("opens"));
            assert_eq!(dealt[index as usize], want, "share {index}");
        }
    }
});

/// What a reader gave: its entries (a request's client and target, a malformed line's
/// number and error, the error that stopped it) and its counts.
fn entries(mut r: LogReader) -> (Vec<String>, ReadStats) {
    let mut got = Vec::new();
    while let Some(e) = r.next_entry() {
        match e {
            Ok(Entry::Request(q)) => got.push(format!("{} {}", q.client, q.target)),
            Ok(Entry::Malformed { line, error }) => got.push(format!("{line}: {error}")),
            Ok(Entry::Elsewhere) => {}
            Err(e) => {
                got.push(format!("stopped: {e}"));
                break;
            }
        }
    }
    (got, r.stats())
}

/// The log dealt to two fed readers, each on a thread of its own (the readers deal it), and
/// what each gave.
fn dealt(log: &[u8]) -> Vec<(Vec<String>, ReadStats)> {
    let ends = levee_logs::SharedDeal::of_reader(Box::new(std::io::Cursor::new(log.to_vec())), 2);
    std::thread::scope(|scope| {
        let readers: Vec<_> = ends
            .into_iter()
            .map(|end| scope.spawn(move || entries(LogReader::fed("fuzz.log".into(), "none", end))))
            .collect();
        readers.into_iter().map(|t| t.join().expect("reads")).collect()
    })
}
