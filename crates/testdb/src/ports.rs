//! Ports for servers a test starts as child processes.
//!
//! A test that starts a server in its own process binds port 0 and reads
//! the port back. A test that starts a *child process* must name the port
//! in the child's environment before the child binds it, so there is a
//! window between "free now" and "bound by the child". A port taken from
//! the kernel's ephemeral range (bind to port 0, then close) can be handed
//! in that window to any outgoing connection of the machine — a PostgreSQL
//! client, an HTTP client of another test — and the child then fails to
//! bind. That is what failed CI once (`bulkhead up` exited early under
//! `make test-pg`, where every test opens many database connections).
//!
//! So [`free_port`] picks, at random, a port *below* the ephemeral range
//! (`/proc/sys/net/ipv4/ip_local_port_range`), which the kernel never gives
//! to outgoing connections, checks that nobody listens on it, and never
//! hands the same port out twice in one test process.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// The lowest port handed out.
const FLOOR: u16 = 10_000;

/// Ports already handed out by this process.
static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The first port of the kernel's ephemeral range (32768 when unknown).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A loopback port nobody listens on now, outside the ephemeral range, not
/// handed out before by this process.
pub fn free_port() -> u16 {
    let top = ephemeral_start();
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    if top > FLOOR + 1_000 {
        let span = top - FLOOR;
        let seed = uuid::Uuid::new_v4().as_u128();
        let start = u16::try_from(seed % u128::from(span)).unwrap_or(0);
        for i in 0..span {
            let port = FLOOR + (start + i) % span;
            if given.contains(&port) {
                continue;
            }
            if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                given.insert(port);
                return port;
            }
        }
    }
    // No room below the ephemeral range (an unusual kernel setting): the
    // kernel's choice, with the race described above.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"));
    given.insert(port);
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_and_below_the_ephemeral_range() {
        let top = ephemeral_start();
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        for p in ports {
            assert!((FLOOR..top).contains(&p), "{p} outside {FLOOR}..{top}");
            TcpListener::bind(("127.0.0.1", p)).expect("still free");
        }
    }
}
