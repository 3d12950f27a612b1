//! The nginx target proven on nginx itself: the rules `levee analyze` writes for a log,
//! compiled with `--target nginx`, loaded in a real nginx, and every request of the log sent to
//! it. nginx must name the same deciding rule as levee for each request (a response header
//! carries `$levee_rule`), answer 403 for exactly the requests levee blocks, and limit with 429
//! what levee's token buckets predict at the times the requests were sent.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use levee_rules::{Action, Engine, RulesFile};

/// A running nginx, stopped when dropped.
struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its workers too (SIGKILL left them running, orphaned);
        // SIGKILL only if it has not gone within five seconds.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on a free loopback port with `levee.conf` in its http block. The client address
/// comes from X-Forwarded-For (the realip module), and each response names the deciding rule.
fn start_nginx(dir: &Path, levee_conf: &Path) -> Nginx {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    // An index page: without one, nginx answers 403 for `/` itself.
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/index.html"), "shop\n").unwrap();
    let conf = format!(
        "worker_processes 1;\n\
         error_log {d}/error.log;\n\
         pid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           access_log off;\n\
           client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
           include {};\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             set_real_ip_from 127.0.0.1;\n\
             real_ip_header X-Forwarded-For;\n\
             root {d}/www;\n\
             add_header X-Levee-Rule $levee_rule always;\n\
             if ($levee_block) {{ return 403; }}\n\
           }}\n\
         }}\n",
        levee_conf.display()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let t = Command::new("nginx")
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .output()
        .unwrap();
    assert!(
        t.status.success(),
        "nginx -t refused the compiled rules:\n{}",
        stderr(&t)
    );
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let nginx = Nginx { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    nginx
}

/// Status and `X-Levee-Rule` of one request sent as the log recorded it.
fn send(port: u16, r: &levee_logs::Request<'_>) -> (u16, String) {
    let mut head = format!(
        "{} {} {}\r\nHost: {}\r\nConnection: close\r\n",
        r.method,
        r.target,
        r.protocol
            .as_deref()
            .filter(|p| matches!(*p, "HTTP/1.0" | "HTTP/1.1"))
            .unwrap_or("HTTP/1.1"),
        r.host.as_deref().unwrap_or("shop.example"),
    );
    if let Some(ip) = r.ip {
        head.push_str(&format!("X-Forwarded-For: {ip}\r\n"));
    }
    for (name, value) in [
        ("User-Agent", &r.user_agent),
        ("Referer", &r.referer),
        ("Cookie", &r.cookie),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            head.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    head.push_str("\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let rule = reply
        .lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix("X-Levee-Rule: "))
        .unwrap_or("")
        .to_string();
    (status, rule)
}

/// Requests nginx answers with 400 before any rule runs: CONNECT (nginx is no forward
/// proxy), a target with a space (the log kept it; nginx takes it for a malformed request
/// line), a `%` not followed by two hex digits, and an empty request line.
fn nginx_refuses(r: &levee_logs::Request<'_>) -> bool {
    let bad_escape = r.target.match_indices('%').any(|(i, _)| {
        let hex = r.target.as_bytes().get(i + 1..i + 3);
        !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    r.method.is_empty() || r.method == "CONNECT" || r.target.contains(' ') || bad_escape
}

/// What nginx and levee did with every request of `logs`, compared.
struct Replay {
    compared: u64,
    /// Requests nginx refused before any rule ran (CONNECT, malformed targets).
    refused_by_nginx: u64,
    blocked: u64,
    /// Requests nginx answered 403, per deciding rule.
    blocked_by: std::collections::BTreeMap<String, u64>,
    /// Per rate-limit rule: (levee's predicted drops, nginx's 429s).
    limited: Vec<(String, u64, u64)>,
}

fn replay(port: u16, rules_path: &Path, logs: &[PathBuf]) -> Replay {
    let text = std::fs::read_to_string(rules_path).unwrap();
    let file = RulesFile::parse("rules", &text, None).unwrap();
    let mut engine = Engine::new(&file);
    let mut out = Replay {
        compared: 0,
        refused_by_nginx: 0,
        blocked: 0,
        blocked_by: Default::default(),
        limited: file
            .rules
            .iter()
            .filter(|r| matches!(r.action, Action::RateLimit { .. }))
            .map(|r| (r.id.clone(), 0, 0))
            .collect(),
    };
    let start = Instant::now();
    let mut times = levee_logs::time::TimeCache::default();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Ok((r, _)) = levee_logs::clf::parse(line, &mut times) else {
                continue;
            };
            // levee's buckets run on the time each request reached nginx.
            let ts = start.elapsed().as_nanos() as i64;
            let (status, nginx_rule) = send(port, &r);
            let v = engine.apply(ts, &r);
            if matches!(status, 400 | 405 | 414 | 501 | 505) {
                assert!(
                    nginx_refuses(&r),
                    "{}:{}: nginx answered {status} to {line}",
                    log.display(),
                    n + 1
                );
                out.refused_by_nginx += 1;
                continue;
            }
            out.compared += 1;
            let levee_rule = v.decided.map_or("", |i| file.rules[i].id.as_str());
            assert_eq!(
                nginx_rule,
                levee_rule,
                "{}:{}: nginx and levee chose different rules for {line}",
                log.display(),
                n + 1
            );
            let blocks = v
                .decided
                .is_some_and(|i| file.rules[i].action == Action::Block);
            assert_eq!(
                status == 403,
                blocks,
                "{}:{}: status {status} for {line}",
                log.display(),
                n + 1
            );
            out.blocked += u64::from(blocks);
            if blocks {
                *out.blocked_by.entry(nginx_rule).or_default() += 1;
            }
            if let Some(l) = out.limited.iter_mut().find(|l| l.0 == levee_rule) {
                l.1 += u64::from(v.dropped);
                l.2 += u64::from(status == 429);
            }
        }
    }
    out
}

#[test]
#[cfg_attr(not(levee_has_nginx), ignore = "needs nginx")]
fn rules_compiled_for_nginx_decide_in_nginx_what_levee_decides() {
    if !require_tool("nginx target in nginx", "nginx") {
        return;
    }
    let dir = scratch("nginx-shop");
    let log = dir.join("shop.log");
    synth_shop(&log, "1", 120);
    let rules = dir.join("rules.toml");
    let o = run(levee()
        .args(["analyze", "--force", "--rules-out"])
        .arg(&rules)
        .arg(&log));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(levee()
        .args(["rules", "compile", "--target", "nginx"])
        .arg(&rules));
    assert!(o.status.success(), "{}", stderr(&o));
    let conf = dir.join("levee.conf");
    std::fs::write(&conf, o.stdout).unwrap();
    let nginx = start_nginx(&dir.join("nginx"), &conf);
    let r = replay(nginx.port, &rules, std::slice::from_ref(&log));
    assert_eq!(r.refused_by_nginx, 0);
    assert!(r.compared > 5000 && r.blocked > 1000, "{}", r.compared);
    // Rate limits: nginx passes what levee's buckets pass, within its millisecond clock and
    // its whole-request rates: 2 requests plus 0.1 % of the predicted drops.
    assert!(!r.limited.is_empty());
    for (id, predicted, nginx_429) in &r.limited {
        let tolerance = 2 + predicted / 1000;
        assert!(
            predicted.abs_diff(*nginx_429) <= tolerance,
            "rule {id}: levee predicts {predicted} limited, nginx limited {nginx_429}"
        );
    }
    eprintln!(
        "nginx shop: {} requests compared, {} blocked, limits {:?}",
        r.compared, r.blocked, r.limited
    );

    // The burst, exactly: a new client's login attempts in one go pass up to the rule's burst
    // (nginx passes 1 + its `burst`), then every one is limited, as levee predicts.
    let file = RulesFile::parse("rules", &std::fs::read_to_string(&rules).unwrap(), None).unwrap();
    let login = file
        .rules
        .iter()
        .find(|r| r.id.starts_with("login-abuse") && r.id.ends_with("-limit"))
        .expect("a login rate limit");
    let Action::RateLimit { burst, .. } = login.action else {
        unreachable!()
    };
    let mut engine = Engine::new(&file);
    let line = r#"198.51.100.77 - - [15/Jan/2026:12:00:00 +0000] "POST /login HTTP/1.1" 200 10 "-" "Mozilla/5.0""#;
    let mut times = levee_logs::time::TimeCache::default();
    let (req, _) = levee_logs::clf::parse(line, &mut times).unwrap();
    let statuses: Vec<u16> = (0..burst + 5)
        .map(|i| {
            let (status, rule) = send(nginx.port, &req);
            assert_eq!(rule, login.id);
            let v = engine.apply(i as i64 * 1_000_000, &req);
            assert_eq!(status == 429, v.dropped, "attempt {}", i + 1);
            status
        })
        .collect();
    assert!(
        statuses[..burst as usize].iter().all(|&s| s != 429),
        "{statuses:?}"
    );
    assert!(
        statuses[burst as usize..].iter().all(|&s| s == 429),
        "{statuses:?}"
    );
}

#[test]
#[cfg_attr(
    not(all(levee_shared_data, levee_has_nginx)),
    ignore = "needs ../shared/data, nginx"
)]
fn honeynet_rules_in_nginx_block_the_probes_levee_blocks() {
    if !require_tool("nginx target on sotm34", "nginx") {
        return;
    }
    let Some(data) = require_shared("nginx target on sotm34") else {
        return;
    };
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data.join("logs/sotm34"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    logs.sort();
    let dir = scratch("nginx-sotm34");
    let rules = dir.join("rules.toml");
    let o = run(levee()
        .args(["analyze", "--force", "--rules-out"])
        .arg(&rules)
        .args(&logs));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = run(levee()
        .args(["rules", "compile", "--target", "nginx"])
        .arg(&rules));
    assert!(o.status.success(), "{}", stderr(&o));
    let conf = dir.join("levee.conf");
    std::fs::write(&conf, o.stdout).unwrap();
    // The shape of proxy abuse (absolute URIs) is read from the request line.
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("map $levee_target"));
    let nginx = start_nginx(&dir.join("nginx"), &conf);
    let r = replay(nginx.port, &rules, &logs);
    eprintln!(
        "nginx sotm34: {} requests compared, {} refused by nginx itself, {} blocked: {:?}",
        r.compared, r.refused_by_nginx, r.blocked, r.blocked_by
    );
    // nginx itself refuses CONNECT and malformed request lines (checked one by one above).
    assert!(r.refused_by_nginx > 0);
    assert!(
        r.compared > 3000 && r.blocked > 500,
        "{} {}",
        r.compared,
        r.blocked
    );
    // Absolute URIs (proxy abuse) are blocked by their shape, read from nginx's request line.
    let shape = r
        .blocked_by
        .iter()
        .find(|(id, _)| id.starts_with("http-proxy-abuse") && id.ends_with("-shape"));
    assert!(shape.is_some_and(|(_, n)| *n > 100), "{:?}", r.blocked_by);
}
