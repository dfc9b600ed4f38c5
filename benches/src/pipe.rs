//! An in-memory TLS handshake between a `ClientConnection` and a `ServerConnection`, through one
//! reused buffer, measuring the CPU time of the server-side calls.

use std::sync::Arc;
use std::time::Duration;

use crate::cpu::thread_time;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection};

/// Drives handshakes; keeps its buffer between them so that the loop allocates only what rustls
/// allocates.
#[derive(Debug)]
pub struct Pipe {
    buf: Vec<u8>,
    name: ServerName<'static>,
    /// Thread CPU time spent in server-side calls (`ServerConnection::new`, `read_tls`,
    /// `process_new_packets`, `write_tls`) since the last [`Pipe::take_server_time`].
    server_time: Duration,
    /// Whether the server time is read ([`Pipe::without_clock`]).
    clock: bool,
}

/// The connections of a completed handshake.
#[derive(Debug)]
pub struct Done {
    /// The client end.
    pub client: ClientConnection,
    /// The server end.
    pub server: ServerConnection,
}

impl Done {
    /// Whether the server resumed a session.
    pub fn resumed(&self) -> bool {
        self.server.handshake_kind() == Some(HandshakeKind::Resumed)
    }
}

impl Pipe {
    /// A pipe connecting to `server_name` (SNI and the name the server certificate must carry).
    pub fn new(server_name: &str) -> Self {
        Self {
            buf: Vec::with_capacity(32 * 1024),
            name: ServerName::try_from(server_name.to_owned()).expect("server name"),
            server_time: Duration::ZERO,
            clock: true,
        }
    }

    /// A pipe that does not read the CPU clock (its server time stays zero): for valgrind,
    /// under which rustix's vDSO clock cannot start.
    pub fn without_clock(mut self) -> Self {
        self.clock = false;
        self
    }

    /// The calling thread's CPU time ([`thread_time`]), or zero without a clock.
    pub fn now(&self) -> Duration {
        if self.clock {
            thread_time()
        } else {
            Duration::ZERO
        }
    }

    /// The server-side time accumulated since the last call, and resets it.
    pub fn take_server_time(&mut self) -> Duration {
        std::mem::take(&mut self.server_time)
    }

    /// Adds `d` to the server-side time (for work done after the handshake, per connection).
    pub fn add_server_time(&mut self, d: Duration) {
        self.server_time += d;
    }

    /// A full exchange: the handshake, then the server's session tickets delivered to the
    /// client, until neither side has anything to write.
    ///
    /// # Panics
    /// When either side fails or the exchange makes no progress.
    pub fn handshake(&mut self, client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) -> Done {
        let mut c = ClientConnection::new(Arc::clone(client), self.name.clone()).expect("client");
        let mut server_conn: Option<ServerConnection> = None;
        for _ in 0..8 {
            // Client → server.
            self.buf.clear();
            while c.wants_write() {
                c.write_tls(&mut self.buf).expect("client write");
            }
            // Server (created with the first flight): one pair of clock reads per flight, as
            // each read is a system call.
            let t = self.now();
            let s = Self::server_flight(&mut self.buf, &mut server_conn, server);
            self.server_time += self.now().saturating_sub(t);
            let server_done = !s.is_handshaking() && !s.wants_write();
            let mut rd = self.buf.as_slice();
            while !rd.is_empty() {
                c.read_tls(&mut rd).expect("client read");
                c.process_new_packets().expect("client handshake");
            }
            if server_done && !c.is_handshaking() && !c.wants_write() {
                return Done {
                    client: c,
                    server: server_conn.take().expect("server"),
                };
            }
        }
        panic!("the in-memory handshake made no progress");
    }

    /// The server's side of one flight: reads the client's records from `buf` (creating the
    /// connection with the first), then writes its answer into `buf`. Not inlined, so that
    /// `valgrind --tool=callgrind --toggle-collect='*server_flight*'` counts the server alone.
    #[inline(never)]
    fn server_flight<'c>(
        buf: &mut Vec<u8>,
        conn: &'c mut Option<ServerConnection>,
        server: &Arc<ServerConfig>,
    ) -> &'c mut ServerConnection {
        let s =
            conn.get_or_insert_with(|| ServerConnection::new(Arc::clone(server)).expect("server"));
        let mut rd = buf.as_slice();
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server read");
            s.process_new_packets().expect("server handshake");
        }
        buf.clear();
        while s.wants_write() {
            s.write_tls(buf).expect("server write");
        }
        s
    }
}
