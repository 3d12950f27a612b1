//! Any bytes as an access log, in each format levee reads (detected, combined, JSON lines, an
//! nginx `log_format`, an Apache `LogFormat`): every line is a request or a malformed line
//! with its number, never a panic, and the counts add up. Attackers write these lines.
#![no_main]

use levee_logs::{Entry, FormatSpec, LogReader};
use libfuzzer_sys::fuzz_target;

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
    let Ok(mut reader) = LogReader::from_reader("fuzz.log".into(), Box::new(std::io::Cursor::new(log.to_vec())), spec) else {
        return;
    };
    let (mut requests, mut malformed) = (0u64, 0u64);
    while let Some(entry) = reader.next_entry() {
        match entry {
            Ok(Entry::Request(_)) => requests += 1,
            Ok(Entry::Malformed { line, .. }) => {
                malformed += 1;
                assert!(line >= 1);
            }
            Err(_) => break,
        }
    }
    let s = reader.stats();
    assert_eq!(s.requests, requests);
    assert_eq!(s.malformed, malformed);
});
