//! Sending syslog messages from the alert worker: UDP datagrams, or octet-counted frames on a
//! TCP connection kept open between alerts and reopened when the receiver went away. Blocking
//! sockets with time-outs: the worker is a thread of its own, away from the guarded path.

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Syslog, Transport, UDP_MAX, message, octet_counted};
use crate::Alert;
use crate::alert::ascii_json;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A receiver that stops reading blocks a write this long before the connection is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// The worker's syslog connection and message counter.
#[derive(Debug)]
pub(crate) struct SyslogSender {
    config: Syslog,
    procid: u32,
    /// The last `meta sequenceId` sent: 1 to 2^31 − 1, then 1 again (RFC 5424 §7.3.1).
    sequence: u32,
    tcp: Option<TcpStream>,
    udp: Option<UdpSocket>,
}

impl SyslogSender {
    pub(crate) fn new(config: Syslog) -> SyslogSender {
        SyslogSender { config, procid: std::process::id(), sequence: 0, tcp: None, udp: None }
    }

    /// Sends one alert, retrying with back-off; counts each failed attempt. False when the alert
    /// could not be sent.
    pub(crate) fn send(&mut self, alert: &Alert, failed_attempts: &AtomicU64) -> bool {
        let Ok(json) = ascii_json(alert) else { return false };
        self.sequence = if self.sequence >= 2_147_483_647 { 1 } else { self.sequence + 1 };
        let c = &self.config;
        let message = message(c.facility, &c.hostname, alert, &json, self.procid, self.sequence);
        let frame = match c.target.transport {
            Transport::Udp if message.len() > UDP_MAX => {
                tracing::warn!(
                    syslog = %c.target, bytes = message.len(), max = UDP_MAX, agent = %alert.agent,
                    "alert too long for a syslog datagram: not sent (it is in the ledger and the JSON-lines file)"
                );
                return false;
            }
            Transport::Udp => message,
            Transport::Tcp => octet_counted(&message),
        };
        let (attempts, mut backoff) = (c.attempts.max(1), c.first_backoff);
        for attempt in 1..=attempts {
            let sent = match self.config.target.transport {
                Transport::Udp => self.send_udp(&frame),
                Transport::Tcp => self.send_tcp(&frame),
            };
            match sent {
                Ok(()) => return true,
                Err(e) => {
                    failed_attempts.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(syslog = %self.config.target, error = %e, attempt, "syslog receiver unreachable");
                }
            }
            if attempt < attempts {
                std::thread::sleep(backoff);
                backoff = backoff.saturating_mul(2);
            }
        }
        false
    }

    pub(crate) fn target(&self) -> &super::SyslogTarget {
        &self.config.target
    }

    fn send_udp(&mut self, datagram: &[u8]) -> io::Result<()> {
        let to = self.addresses()?.next().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let socket = match self.udp.take() {
            Some(s) if s.local_addr()?.is_ipv4() == to.is_ipv4() => s,
            _ => UdpSocket::bind(match to {
                SocketAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
                SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
            })?,
        };
        let sent = socket.send_to(datagram, to)?;
        self.udp = Some(socket);
        match sent == datagram.len() {
            true => Ok(()),
            false => Err(io::Error::new(io::ErrorKind::WriteZero, "datagram cut")),
        }
    }

    fn send_tcp(&mut self, frame: &[u8]) -> io::Result<()> {
        let stream = match self.tcp.take().filter(still_open) {
            Some(s) => s,
            None => self.connect()?,
        };
        (&stream).write_all(frame)?;
        // Kept only after a whole frame went out: a half-written frame would garble the next.
        self.tcp = Some(stream);
        Ok(())
    }

    fn connect(&self) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in self.addresses()? {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_write_timeout(Some(WRITE_TIMEOUT))?;
                    s.set_nodelay(true)?;
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Resolved at each use, so that a SIEM moved behind its DNS name is followed.
    fn addresses(&self) -> io::Result<std::vec::IntoIter<SocketAddr>> {
        (self.config.target.host.as_str(), self.config.target.port).to_socket_addrs()
    }
}

/// Whether the receiver still holds the connection open. Only a read tells: a write into a
/// connection the peer has closed may still succeed locally, and that alert would be lost.
/// (A receiver that closes between this check and the write still loses one: RFC 6587 has no
/// acknowledgements. The ledger and the JSON-lines file are the record.)
fn still_open(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return false;
    }
    let open = match s.peek(&mut [0u8; 1]) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).is_ok() && open
}
