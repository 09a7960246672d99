//! A new socket on its way to being served: it waits for its CONNECT in the parking lot (no
//! thread), and a CONNECT that needs no waiting is answered by the listener or parking thread,
//! which parks the connection at once; anything else (an authenticator to call, a session to
//! take over, a refusal to deliver) goes to a connection thread, which reads and decides the
//! CONNECT and then serves the connection ([`super::online`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::control::ConnectionControl;
use super::handshake;
use super::io::{FirstPacket, Io};
use super::online::{Online, drive};
use super::parking::Parking;
use super::runtime::Runtime;
use super::threads::{ThreadEnd, spawn_connection_thread};
use crate::protocol::Connect;

/// A socket whose CONNECT has not arrived yet, waiting in the parking lot without a thread.
pub(crate) struct Greeting {
    pub io: Io,
    pub peer: SocketAddr,
    pub control: Arc<ConnectionControl>,
    /// The connect timeout runs out here: a client that sends no CONNECT by then is dropped.
    pub deadline: Instant,
}

/// Takes over a socket the listener just accepted. Until its CONNECT arrives the connection waits
/// in the parking lot, and when that CONNECT can be accepted without waiting (see
/// [`handshake::accept_at_once`]) the listener or parking thread answers it and parks the
/// connection again: a burst of connecting clients needs no connection thread at all. Anything
/// else (an authenticator to call, a session to take over, a refusal to deliver) goes to a
/// connection thread. Errors when the connection ended here (see [`greet`]); the socket is then
/// closed.
pub(crate) fn start(runtime: &Arc<Runtime>, io: Io, peer: SocketAddr) -> io::Result<()> {
    let control = Arc::new(ConnectionControl::new());
    let Some(parking) = runtime.parking.get().cloned() else {
        let thread_runtime = Arc::clone(runtime);
        return spawn_connection_thread(runtime, move || {
            serve(thread_runtime, io, peer, control, None)
        });
    };
    let greeting = Box::new(Greeting {
        io,
        peer,
        control,
        deadline: Instant::now() + runtime.state.options.connect_timeout,
    });
    greet(runtime, &parking, greeting)
}

/// Reads what a client waiting to be greeted sent and moves it on: back to the parking lot while
/// its CONNECT is incomplete, to [`answer`] once it is whole, to a connection thread for anything
/// else. Called on the listener thread for a new socket and on the parking thread when a waiting
/// one becomes readable. Errors when the connection ended here (the client closed it, or no
/// thread could be started): the socket is closed and the caller no longer counts it.
pub(crate) fn greet(
    runtime: &Arc<Runtime>,
    parking: &Arc<Parking>,
    mut greeting: Box<Greeting>,
) -> io::Result<()> {
    match greeting.io.fill() {
        Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let thread_runtime = Arc::clone(runtime);
    match greeting.io.first_packet() {
        FirstPacket::Connect(connect) => answer(runtime, parking, *greeting, *connect),
        FirstPacket::Incomplete => {
            greeting.io.release_buffers();
            match parking.await_connect(greeting) {
                Ok(()) => Ok(()),
                // The lot is closed (the broker is stopping) or cannot watch the socket.
                Err(back) => {
                    let Greeting {
                        io, peer, control, ..
                    } = *back;
                    spawn_connection_thread(runtime, move || {
                        serve(thread_runtime, io, peer, control, None)
                    })
                }
            }
        }
        FirstPacket::NotConnect => {
            let Greeting {
                io, peer, control, ..
            } = *greeting;
            spawn_connection_thread(runtime, move || {
                serve(thread_runtime, io, peer, control, None)
            })
        }
    }
}

/// Answers a CONNECT on the calling (listener or parking) thread when that needs no waiting, and
/// parks the connection once CONNACK is written and nothing else is pending; otherwise hands the
/// connection to a connection thread.
fn answer(
    runtime: &Arc<Runtime>,
    parking: &Arc<Parking>,
    greeting: Greeting,
    connect: Connect,
) -> io::Result<()> {
    let Greeting {
        io, peer, control, ..
    } = greeting;
    let thread_runtime = Arc::clone(runtime);
    let (io, accepted) = match handshake::accept_at_once(&runtime.state, io, connect, &control) {
        Ok(accepted) => accepted,
        Err(deferred) => {
            let (io, connect) = *deferred;
            return spawn_connection_thread(runtime, move || {
                serve(thread_runtime, io, peer, control, Some(connect))
            });
        }
    };
    let mut online = Box::new(Online::new(
        Arc::clone(runtime),
        io,
        peer,
        control,
        accepted,
    ));
    if online.settle() {
        match parking.park(online) {
            Ok(()) => return Ok(()),
            Err(back) => online = back,
        }
    }
    spawn_connection_thread(runtime, move || drive(online))
}

/// Serves one accepted socket (whose CONNECT may already have been read) until it closes or
/// parks.
fn serve(
    runtime: Arc<Runtime>,
    io: Io,
    peer: SocketAddr,
    control: Arc<ConnectionControl>,
    connect: Option<Connect>,
) -> ThreadEnd {
    let (io, connect) = match connect {
        Some(connect) => (io, connect),
        None => match handshake::read_connect(&runtime, io) {
            Some(read) => read,
            None => return ThreadEnd::Closed,
        },
    };
    let Some((io, accepted)) = handshake::accept(&runtime, io, connect, peer, &control) else {
        return ThreadEnd::Closed;
    };
    drive(Box::new(Online::new(runtime, io, peer, control, accepted)))
}
