//! A TCP relay on loopback whose connections a test can cut all at once, as a network drop or a
//! proxy recycling its connections would: both ends see their socket end, and new connections
//! are relayed again at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

pub struct Relay {
    pub addr: SocketAddr,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    down: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Relays connections to `target` from a fresh loopback port.
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let conns = live.clone();
        let down = Arc::new(AtomicBool::new(false));
        let refusing = down.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if refusing.load(Ordering::SeqCst) {
                    continue; // dropped at once: the network is down
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut conns = conns.lock().unwrap();
                conns.retain(|c| !c.is_finished());
                conns.push(relay.abort_handle());
            }
        });
        Relay {
            addr,
            live,
            down,
            accept,
        }
    }

    /// While down, connections are dropped as soon as they arrive.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Drops every connection open now; answers how many there were.
    pub fn cut(&self) -> usize {
        let mut conns = self.live.lock().unwrap();
        let open = conns.iter().filter(|c| !c.is_finished()).count();
        for c in conns.drain(..) {
            c.abort();
        }
        open
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
