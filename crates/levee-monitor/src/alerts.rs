//! Where alerts go. Every sink takes the same body: an [`Alert`] as JSON (its schema in
//! `docs/incidents.md`), carrying the incident's id so a ticketing system can deduplicate.
//! A sink reports a failure and the monitor goes on; it never blocks detection for long.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use levee_incidents::{Alert, AlertKind};

/// Something that takes alerts.
pub trait AlertSink {
    /// What it is, for messages (`alerts.jsonl`, `stdout`).
    fn name(&self) -> &str;
    /// Delivers one alert (or queues it for delivery), or says why it could not.
    fn send(&mut self, alert: &Alert) -> Result<(), String>;
    /// Deliveries that failed in the background since the last call, each said.
    fn failures(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// No more alerts: deliver those queued, waiting at most `within`.
    fn close(&mut self, _within: Duration) {}
}

/// Alerts as JSON lines, one a line, flushed as each is written.
pub struct JsonLines {
    name: String,
    out: Box<dyn Write + Send>,
}

impl JsonLines {
    /// Appends to the file at `path` (created when missing; never truncated).
    pub fn append(path: &Path) -> io::Result<JsonLines> {
        let file: File = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLines {
            name: path.display().to_string(),
            out: Box::new(file),
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> JsonLines {
        JsonLines {
            name: "standard output".into(),
            out: Box::new(io::stdout()),
        }
    }
}

impl AlertSink for JsonLines {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, alert: &Alert) -> Result<(), String> {
        let mut line = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
        line.push(b'\n');
        // One write of the whole line: readers tailing the file never see half an alert
        // (O_APPEND writes of a line are not interleaved with another writer's).
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .map_err(|e| e.to_string())
    }
}

/// Attempts at delivering one alert to a webhook, and the wait before each retry.
const WEBHOOK_BACKOFF: &[Duration] = &[
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// Alerts waiting for a webhook at most; beyond, an alert is refused (and counted) rather
/// than held in memory or waited for.
const WEBHOOK_QUEUE: usize = 1024;

/// Alerts POSTed to a URL as their JSON body, from a thread of their own: a slow or failing
/// receiver never holds up detection. Each alert is tried up to five times, waiting 0.25,
/// 0.5, 1 and 2 s between tries; the headers `X-Levee-Incident` and `Idempotency-Key` let
/// the receiver deduplicate retries.
pub struct Webhook {
    name: String,
    queue: Option<SyncSender<(String, Vec<u8>)>>,
    failed: Arc<Mutex<Vec<String>>>,
    worker: Option<JoinHandle<()>>,
}

impl Webhook {
    /// A webhook to `url` (`http://` or `https://`).
    pub fn new(url: &str) -> Result<Webhook, String> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("webhook `{url}`: an http:// or https:// URL"));
        }
        let (tx, rx) = sync_channel::<(String, Vec<u8>)>(WEBHOOK_QUEUE);
        let failed = Arc::new(Mutex::new(Vec::new()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build()
            .into();
        let (target, failures) = (url.to_string(), Arc::clone(&failed));
        let worker = std::thread::Builder::new()
            .name("levee-webhook".into())
            .spawn(move || {
                for (key, body) in rx {
                    let mut last = String::new();
                    let mut delivered = false;
                    for attempt in 0..=WEBHOOK_BACKOFF.len() {
                        if attempt > 0 {
                            std::thread::sleep(WEBHOOK_BACKOFF[attempt - 1]);
                        }
                        let sent = agent
                            .post(&target)
                            .header("Content-Type", "application/json")
                            .header("X-Levee-Incident", key.split(':').next().unwrap_or(""))
                            .header("Idempotency-Key", &key)
                            .send(&body[..]);
                        match sent {
                            Ok(r) if r.status().is_success() => {
                                delivered = true;
                                break;
                            }
                            Ok(r) => last = format!("HTTP {}", r.status()),
                            Err(e) => last = e.to_string(),
                        }
                    }
                    if !delivered {
                        let tries = WEBHOOK_BACKOFF.len() + 1;
                        failures
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("alert {key}: {last} ({tries} tries)"));
                    }
                }
            })
            .map_err(|e| format!("webhook thread: {e}"))?;
        Ok(Webhook {
            name: url.to_string(),
            queue: Some(tx),
            failed,
            worker: Some(worker),
        })
    }
}

impl AlertSink for Webhook {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, alert: &Alert) -> Result<(), String> {
        let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
        let key = format!(
            "{}:{}:{}",
            alert.incident.id,
            kind_name(alert.alert),
            alert.at
        );
        let Some(queue) = &self.queue else {
            return Err("the webhook was closed".into());
        };
        queue.try_send((key, body)).map_err(|e| match e {
            TrySendError::Full(_) => format!("{WEBHOOK_QUEUE} alerts already wait for it"),
            TrySendError::Disconnected(_) => "its thread ended".into(),
        })
    }

    fn failures(&mut self) -> Vec<String> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn close(&mut self, within: Duration) {
        // No more alerts: the thread ends once it has tried those queued.
        self.queue = None;
        let deadline = Instant::now() + within;
        if let Some(worker) = self.worker.take() {
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
    }
}

fn kind_name(k: AlertKind) -> &'static str {
    match k {
        AlertKind::Start => "start",
        AlertKind::Escalation => "escalation",
        AlertKind::End => "end",
    }
}

/// How a syslog sink reaches its server.
enum SyslogTransport {
    /// One datagram a message (RFC 5426).
    Udp(UdpSocket, SocketAddr),
    /// A stream of messages framed by their length (RFC 6587 octet counting), reconnected
    /// when it breaks.
    Tcp(SocketAddr, Option<TcpStream>),
}

/// Alerts as RFC 5424 syslog messages (facility daemon; severity alert for a start or an
/// escalation, notice for an end), with the incident in structured data and a sentence as
/// the message.
pub struct Syslog {
    name: String,
    transport: SyslogTransport,
    hostname: String,
}

/// The structured-data id: 32473 is the enterprise number RFC 5612 reserves for examples,
/// used until levee has one of its own.
const SD_ID: &str = "levee@32473";

impl Syslog {
    /// A sink to `udp://HOST:PORT` or `tcp://HOST:PORT`.
    pub fn new(url: &str) -> Result<Syslog, String> {
        let (scheme, addr) = url
            .split_once("://")
            .ok_or_else(|| format!("syslog `{url}`: udp://HOST:PORT or tcp://HOST:PORT"))?;
        let to: SocketAddr = addr
            .to_socket_addrs()
            .map_err(|e| format!("syslog `{url}`: {e}"))?
            .next()
            .ok_or_else(|| format!("syslog `{url}`: no address"))?;
        let transport = match scheme {
            "udp" => {
                let local = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = UdpSocket::bind(local).map_err(|e| format!("syslog: {e}"))?;
                SyslogTransport::Udp(socket, to)
            }
            "tcp" => SyslogTransport::Tcp(to, None),
            _ => return Err(format!("syslog `{url}`: udp:// or tcp://")),
        };
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty() && h.bytes().all(|b| (33..=126).contains(&b)))
            .unwrap_or_else(|| "-".into());
        Ok(Syslog {
            name: url.to_string(),
            transport,
            hostname,
        })
    }

    /// The RFC 5424 message of `alert`.
    pub fn message(&self, alert: &Alert) -> String {
        let i = &alert.incident;
        // daemon (3); alert (1) or notice (5).
        let severity = match alert.alert {
            AlertKind::Start | AlertKind::Escalation => 1,
            AlertKind::End => 5,
        };
        let pri = 3 * 8 + severity;
        let sd = format!(
            "[{SD_ID} incident=\"{}\" alert=\"{}\" resumed=\"{}\" vector=\"{}\" target=\"{}\" status=\"{}\" start=\"{}\" end=\"{}\" peak_pps=\"{:.0}\" sources=\"{}\" spoofed=\"{}\"]",
            i.id,
            kind_name(alert.alert),
            alert.resumed,
            sd_escape(&i.vector),
            sd_escape(&i.target),
            i.status,
            i.start,
            i.end,
            i.peak_pps,
            i.sources,
            i.spoofed_likely
        );
        let what = match (alert.alert, alert.resumed) {
            (AlertKind::Start, false) => "started",
            (AlertKind::Start, true) => "is back",
            (AlertKind::Escalation, _) => "escalated",
            (AlertKind::End, _) => "ended",
        };
        format!(
            "<{pri}>1 {} {} levee {} {} {sd} incident {}: {} on {} {what}, peak {:.0} pps",
            alert.at,
            self.hostname,
            std::process::id(),
            kind_name(alert.alert),
            i.id,
            i.vector,
            i.target,
            i.peak_pps
        )
    }
}

/// A structured-data parameter value: `"`, `\` and `]` escaped (RFC 5424, 6.3.3).
fn sd_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl AlertSink for Syslog {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, alert: &Alert) -> Result<(), String> {
        let msg = self.message(alert);
        match &mut self.transport {
            SyslogTransport::Udp(socket, to) => socket
                .send_to(msg.as_bytes(), *to)
                .map(drop)
                .map_err(|e| e.to_string()),
            SyslogTransport::Tcp(to, stream) => {
                let framed = format!("{} {msg}", msg.len());
                // A broken connection is opened again once, then the alert counts as lost.
                for _ in 0..2 {
                    if stream.is_none() {
                        let s = TcpStream::connect_timeout(to, Duration::from_secs(2))
                            .map_err(|e| e.to_string())?;
                        s.set_write_timeout(Some(Duration::from_secs(2)))
                            .map_err(|e| e.to_string())?;
                        *stream = Some(s);
                    }
                    let s = stream.as_mut().expect("connected above");
                    if s.write_all(framed.as_bytes()).is_ok() {
                        return Ok(());
                    }
                    *stream = None;
                }
                Err("the connection broke twice".into())
            }
        }
    }
}
