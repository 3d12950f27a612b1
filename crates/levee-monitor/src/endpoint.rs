//! The monitor's counters over HTTP (`levee monitor --metrics-listen ADDR:PORT`), for
//! Prometheus to scrape: `GET /metrics` answers the text exposition format.
//!
//! The monitor's loop publishes the text at most once a second (as it writes the metrics
//! file); a thread of its own answers the scrapes with the last text published, so a slow or
//! hostile client never holds up detection. tiny_http parses the requests: a request that is
//! not a `GET` of `/metrics` gets a 404 or a 405, and what does not parse is dropped.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The content type of Prometheus's text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An HTTP endpoint serving the last published metrics text.
pub struct MetricsEndpoint {
    text: Arc<Mutex<String>>,
    server: Arc<tiny_http::Server>,
    local: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MetricsEndpoint {
    /// Listens on `addr` and answers scrapes from a thread of its own.
    pub fn serve(addr: SocketAddr) -> std::io::Result<MetricsEndpoint> {
        let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP socket"))?;
        let server = Arc::new(server);
        let text = Arc::new(Mutex::new(String::new()));
        let (served, shown) = (Arc::clone(&server), Arc::clone(&text));
        let thread = std::thread::Builder::new()
            .name("levee-metrics".into())
            .spawn(move || {
                for request in served.incoming_requests() {
                    let response = answer(&request, &shown);
                    // A client that went away is no concern of the monitor's.
                    let _ = request.respond(response);
                }
            })?;
        Ok(MetricsEndpoint {
            text,
            server,
            local,
            thread: Some(thread),
        })
    }

    /// The address it listens on (with the port the system chose, when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Makes `text` what the next scrapes get.
    pub fn publish(&self, text: String) {
        // A poisoned lock means a scrape thread panicked mid-copy: the text is still whole.
        match self.text.lock() {
            Ok(mut t) => *t = text,
            Err(poisoned) => *poisoned.into_inner() = text,
        }
    }
}

/// The response to one request.
fn answer(
    request: &tiny_http::Request,
    text: &Mutex<String>,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let path = request.url().split('?').next().unwrap_or("");
    let plain =
        |code: u16, body: &str| tiny_http::Response::from_string(body).with_status_code(code);
    if path != "/metrics" {
        return plain(404, "levee serves /metrics\n");
    }
    if !matches!(
        request.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    ) {
        return plain(405, "GET /metrics\n");
    }
    let body = match text.lock() {
        Ok(t) => t.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let mut response = tiny_http::Response::from_string(body);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE) {
        response = response.with_header(h);
    }
    response
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scrapes_get_the_last_text_published_and_nothing_else_is_served() {
        let e = MetricsEndpoint::serve("127.0.0.1:0".parse().unwrap()).unwrap();
        e.publish("levee_packets_total 1\n".into());
        e.publish("levee_packets_total 2\n".into());
        let ok = get(e.local_addr(), "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.0 200"), "{ok}");
        assert!(ok.contains("text/plain; version=0.0.4"), "{ok}");
        assert!(ok.ends_with("levee_packets_total 2\n"), "{ok}");
        let missing = get(e.local_addr(), "GET /secrets HTTP/1.0\r\n\r\n");
        assert!(missing.contains(" 404 "), "{missing}");
        let post = get(
            e.local_addr(),
            "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(post.contains(" 405 "), "{post}");
        // Garbage is dropped, and the endpoint still answers.
        let _ = get(e.local_addr(), "\x00\x01\x02 nonsense\r\n\r\n");
        assert!(get(e.local_addr(), "GET /metrics HTTP/1.0\r\n\r\n").contains("200"));
        drop(e); // stops its thread
    }
}
