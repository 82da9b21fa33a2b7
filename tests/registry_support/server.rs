//! A scriptable HTTP server on 127.0.0.1 for fault injection. For each request a plan chooses
//! to forward it to an upstream registry (intact, cut off halfway through the body, slowed
//! down, with one body byte flipped, or without its `Range` header), to stall, or to respond
//! directly. Every connection carries one request. The same server without an upstream serves
//! as token issuer and redirect target.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::http::{self, Request};

/// How long a test server waits on a silent peer before it drops the connection.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// Number of pieces in which [`Action::ForwardThrottled`] sends a body.
pub const THROTTLE_CHUNKS: usize = 16;

/// What the server does with one request.
pub enum Action {
    /// Forward to the upstream and relay the response unchanged.
    Forward,
    /// Forward, relay the headers and the first half of the body, then close the connection.
    ForwardTruncated,
    /// Forward and relay the response with the middle byte of the body inverted.
    ForwardCorrupted,
    /// Forward without the `Range` header, as through a server that ignores ranges.
    ForwardWithoutRange,
    /// Forward and relay the body in [`THROTTLE_CHUNKS`] pieces with this pause after each.
    ForwardThrottled(Duration),
    /// Send nothing for this long, then close the connection.
    Stall(Duration),
    /// Respond without contacting the upstream.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

impl Action {
    pub fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Action {
        Action::Respond {
            status,
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            body: body.into(),
        }
    }
}

type Plan = Box<dyn FnMut(&Request) -> Action + Send>;

/// A running test server; dropping it stops the accept loop.
pub struct TestServer {
    address: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1. `upstream` is where `Forward` actions go.
    pub fn start(
        upstream: Option<SocketAddr>,
        plan: impl FnMut(&Request) -> Action + Send + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a test server port");
        listener
            .set_nonblocking(true)
            .expect("make the listener non-blocking");
        let address = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let plan: Arc<Mutex<Plan>> = Arc::new(Mutex::new(Box::new(plan)));
        let accept_thread = {
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                accept_loop(listener, upstream, plan, requests, stop);
            })
        };
        TestServer {
            address,
            requests,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    /// Returns `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.address.to_string()
    }

    /// Returns the HTTP requests received so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: Option<SocketAddr>,
    plan: Arc<Mutex<Plan>>,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let plan = Arc::clone(&plan);
                let requests = Arc::clone(&requests);
                // Connection threads end on their own: one request each, with socket timeouts.
                std::thread::spawn(move || serve_connection(stream, upstream, &plan, &requests));
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(err) => panic!("test server failed to accept a connection: {err}"),
        }
    }
}

fn serve_connection(
    mut stream: TcpStream,
    upstream: Option<SocketAddr>,
    plan: &Mutex<Plan>,
    requests: &Mutex<Vec<Request>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(SOCKET_TIMEOUT));
    let _ = stream.set_write_timeout(Some(SOCKET_TIMEOUT));
    // Anything that is not HTTP (a TLS handshake from a client trying HTTPS first) is
    // dropped unrecorded, as a plain-HTTP registry would fail it.
    let Some(request) = http::read_request(&mut stream) else {
        return;
    };
    requests.lock().unwrap().push(request.clone());
    let action = (plan.lock().unwrap())(&request);
    let result = match action {
        Action::Respond {
            status,
            headers,
            body,
        } => http::write_response(&mut stream, status, &headers, &body),
        Action::Stall(duration) => {
            std::thread::sleep(duration);
            Ok(())
        }
        forward => {
            let upstream = upstream.expect("a Forward action needs an upstream");
            relay(&mut stream, upstream, &request, forward)
        }
    };
    // The client may hang up first (after a deliberate cut, for instance); that is no failure.
    let _ = result;
    let _ = stream.shutdown(Shutdown::Both);
}

/// Sends `request` to `upstream` with `Connection: close`, reads the whole response and relays
/// it to the client as `action` selects.
fn relay(
    client: &mut TcpStream,
    upstream: SocketAddr,
    request: &Request,
    action: Action,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    let drop_range = matches!(action, Action::ForwardWithoutRange);
    for (name, value) in &request.headers {
        let dropped = name.eq_ignore_ascii_case("connection")
            || (drop_range && name.eq_ignore_ascii_case("range"));
        if !dropped {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    server.write_all(head.as_bytes())?;
    server.write_all(&request.body)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;

    let body_start = http::find(&response, b"\r\n\r\n").map_or(response.len(), |end| end + 4);
    let body_length = response.len() - body_start;
    match action {
        Action::ForwardTruncated => {
            client.write_all(&response[..body_start + body_length / 2])?;
            client.flush()?;
            // Close without sending the rest: the client sees the connection drop mid-body.
            return Ok(());
        }
        Action::ForwardCorrupted if body_length > 0 => {
            response[body_start + body_length / 2] ^= 0xff;
        }
        Action::ForwardThrottled(pause) => {
            client.write_all(&response[..body_start])?;
            let chunk_length = body_length.div_ceil(THROTTLE_CHUNKS).max(1);
            for chunk in response[body_start..].chunks(chunk_length) {
                client.write_all(chunk)?;
                client.flush()?;
                std::thread::sleep(pause);
            }
            return Ok(());
        }
        _ => {}
    }
    client.write_all(&response)?;
    client.flush()
}
