//! A TCP proxy between a client and a broker that cuts its first connection at a chosen packet
//! from the broker, so a test can lose exactly the acknowledgement it wants lost.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use mqtt::protocol::{Decoder, Packet};

/// Which broker packet ends the first connection (it is not forwarded).
pub type CutAt = fn(&Packet) -> bool;

pub struct CuttingProxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl CuttingProxy {
    /// Listens on 127.0.0.1 and forwards each connection to `broker_port`; the first connection
    /// is cut, both ways, when the broker sends a packet `cut_at` picks. Later connections pass
    /// everything.
    pub fn start(broker_port: u16, cut_at: CutAt) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = thread::spawn({
            let (cut, stop) = (Arc::clone(&cut), Arc::clone(&stop));
            move || {
                let mut first = true;
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let broker = TcpStream::connect(("127.0.0.1", broker_port)).unwrap();
                            let armed = std::mem::replace(&mut first, false);
                            forward(client, broker, armed.then_some(cut_at), Arc::clone(&cut));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        });
        CuttingProxy {
            port,
            cut,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Whether the first connection has been cut.
    pub fn has_cut(&self) -> bool {
        self.cut.load(Ordering::Acquire)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Pumps both directions on their own threads; they end when either side closes.
fn forward(client: TcpStream, broker: TcpStream, cut_at: Option<CutAt>, cut: Arc<AtomicBool>) {
    let (client_in, broker_out) = (client.try_clone().unwrap(), broker.try_clone().unwrap());
    thread::spawn(move || {
        let (mut from, mut to) = (client_in, broker_out);
        let mut chunk = [0u8; 4096];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 || to.write_all(&chunk[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
    thread::spawn(move || {
        let (mut from, mut to) = (broker, client);
        let mut pending = Vec::new();
        let mut chunk = [0u8; 4096];
        'pump: while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&chunk[..n]);
            // Forward whole packets only, so the cut falls exactly before the chosen one.
            while let Ok(Some((packet, used))) = Decoder::default().decode(&pending) {
                if cut_at.is_some_and(|cut_at| cut_at(&packet)) {
                    cut.store(true, Ordering::Release);
                    break 'pump;
                }
                if to.write_all(&pending[..used]).is_err() {
                    break 'pump;
                }
                pending.drain(..used);
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
