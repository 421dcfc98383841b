//! A TCP proxy in front of the database server, for the cluster tests and
//! benchmarks: it can cut a host off the database (close its connections and
//! refuse new ones) and restore it, and it counts round trips (each time a
//! client starts sending again after the server answered).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The proxy; it runs until the process ends.
#[derive(Clone)]
pub struct DbProxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    cut: AtomicBool,
    round_trips: AtomicU64,
    open: Mutex<Vec<TcpStream>>,
}

impl DbProxy {
    /// Listens on a free local port, forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> DbProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy port");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let upstream = upstream.to_owned();
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if accepting.cut.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut open = accepting.open.lock().unwrap();
                    open.push(client.try_clone().unwrap());
                    open.push(server.try_clone().unwrap());
                }
                let turn = Arc::new(AtomicU8::new(SERVER));
                pipe(&client, &server, CLIENT, turn.clone(), accepting.clone());
                pipe(&server, &client, SERVER, turn, accepting.clone());
            }
        });
        DbProxy { port, shared }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every connection through the proxy and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        for stream in self.shared.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Round trips so far, over all connections.
    pub fn round_trips(&self) -> u64 {
        self.shared.round_trips.load(Ordering::SeqCst)
    }
}

const CLIENT: u8 = 0;
const SERVER: u8 = 1;

/// Copies `from` to `to` on a thread; a client write that follows a server
/// write is a new round trip.
fn pipe(from: &TcpStream, to: &TcpStream, side: u8, turn: Arc<AtomicU8>, shared: Arc<Shared>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if turn.swap(side, Ordering::SeqCst) != side && side == CLIENT {
                shared.round_trips.fetch_add(1, Ordering::SeqCst);
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
