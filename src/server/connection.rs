//! One client connection: a reader that frames, reserves memory for and dispatches requests in
//! order, and a writer that sends their responses in the same order.
//!
//! ```text
//! reader: len ─▶ check (≤ socket.request.max.bytes, else close) ─▶ reserve memory ─▶ body
//!         ─▶ header ─▶ handlers::dispatch: stage 1 runs here, in request order
//!            (e.g. a produce's append) ─▶ queue the stage-2 future (e.g. wait for fsync)
//! writer: await queued futures in order ─▶ write ─▶ release memory
//! ```
//! Stage 1 running in order keeps a producer's pipelined batches in order; stage 2 running
//! concurrently lets the next request start while a batch waits for its fsync. The queue is
//! bounded by `max.in.flight.requests.per.connection`: a full queue stops the reader.
//! Anything that cannot be framed or decoded closes this connection and nothing else.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use pilgrimage_protocol::fetch::Part;
use pilgrimage_protocol::frame;
use pilgrimage_protocol::header::RequestHeader;
use pilgrimage_storage::FileRange;
use pilgrimage_storage::direct::BLOCK;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::broker::Broker;
use crate::handlers::{self, Dispatched, Reply, ReplyFuture};
use crate::server::buffers;
use crate::server::memory::Reservation;

/// What a handler learns of the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: SocketAddr,
}

struct Queued {
    reply: ReplyFuture,
    _memory: Reservation,
}

pub(crate) async fn serve(
    broker: Arc<Broker>,
    stream: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let depth = broker
        .config
        .int("max.in.flight.requests.per.connection")
        .clamp(1, 4096) as usize;
    let (tx, mut rx) = mpsc::channel::<Queued>(depth);
    let close = shutdown.child_token();
    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        while let Some(q) = rx.recv().await {
            match q.reply.await {
                Reply::Bytes(b) => {
                    if let Err(e) = wr.write_all(&b).await {
                        debug!(error = %e, "write failed");
                        break;
                    }
                }
                Reply::Parts(parts) => {
                    if let Err(e) = write_parts(&mut wr, &parts).await {
                        debug!(error = %e, "write failed");
                        break;
                    }
                }
                Reply::Nothing => {}
                Reply::Close(why) => {
                    info!(%why, "closing connection");
                    break;
                }
            }
        }
        writer_close.cancel();
        let _ = wr.shutdown().await;
    });
    let conn = Arc::new(ConnInfo { peer });
    let why = read_loop(&broker, &conn, &mut rd, &tx, &close).await;
    match why {
        Ok(()) => debug!("client closed the connection"),
        Err(why) => info!(%why, "closing connection"),
    }
    drop(tx);
    let _ = writer.await;
}

/// Bytes of a large request read before the rest, to find where a produced batch lies in it:
/// room for the header, transactional id and topic name of any client seen in practice (a
/// client id or transactional id can be longer; such a request is only not placed).
const PLACEMENT_PEEK: usize = 1024;

/// Most buffers handed to one `writev` (Linux's `IOV_MAX` is 1024; a fetch has a few per
/// partition).
const IOVECS_MAX: usize = 64;

/// Writes `parts` in order: runs of bytes with vectored writes, file ranges with `sendfile`.
async fn write_parts(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    parts: &[Part<FileRange>],
) -> std::io::Result<()> {
    let mut rest = parts;
    while let Some(first) = rest.first() {
        match first {
            Part::External(range) => {
                send_file(wr, range).await?;
                rest = &rest[1..];
            }
            Part::Bytes(_) => {
                let run: Vec<&Bytes> = rest
                    .iter()
                    .map_while(|p| match p {
                        Part::Bytes(b) => Some(b),
                        Part::External(_) => None,
                    })
                    .collect();
                write_vectored_all(wr, &run).await?;
                rest = &rest[run.len()..];
            }
        }
    }
    Ok(())
}

/// Writes `parts` with vectored writes, resuming after short writes.
async fn write_vectored_all(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    parts: &[&Bytes],
) -> std::io::Result<()> {
    let (mut idx, mut off) = (0usize, 0usize);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(IOVECS_MAX.min(parts.len()));
    while idx < parts.len() {
        slices.clear();
        if let Some(first) = parts[idx].get(off..) {
            slices.push(IoSlice::new(first));
        }
        for p in parts.iter().skip(idx + 1).take(IOVECS_MAX - 1) {
            slices.push(IoSlice::new(p));
        }
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 && slices.iter().any(|s| !s.is_empty()) {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while idx < parts.len() {
            let left = parts[idx].len() - off;
            if n < left {
                off += n;
                break;
            }
            n -= left;
            idx += 1;
            off = 0;
        }
    }
    Ok(())
}

/// Sends a range of a segment file with `sendfile`: the kernel copies it from the page cache
/// to the socket, and the node never reads it. A file that ends early (cut since the read was
/// planned) fails the connection: the response's lengths are already on the wire.
async fn send_file(
    wr: &mut tokio::net::tcp::OwnedWriteHalf,
    range: &FileRange,
) -> std::io::Result<()> {
    let stream: &tokio::net::TcpStream = wr.as_ref();
    let mut offset = range.position;
    let end = range.position + range.len as u64;
    while offset < end {
        stream.writable().await?;
        let left = usize::try_from(end - offset).unwrap_or(usize::MAX);
        let sent = stream.try_io(tokio::io::Interest::WRITABLE, || {
            let mut at = offset;
            rustix::fs::sendfile(stream, &*range.file, Some(&mut at), left)
                .map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => offset += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_loop(
    broker: &Arc<Broker>,
    conn: &Arc<ConnInfo>,
    rd: &mut tokio::net::tcp::OwnedReadHalf,
    tx: &mpsc::Sender<Queued>,
    close: &CancellationToken,
) -> Result<(), String> {
    let frame_max = broker.config.frame_bytes_max();
    loop {
        let mut prefix = [0u8; 4];
        tokio::select! {
            r = rd.read_exact(&mut prefix) => match r {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(format!("read: {e}")),
            },
            () = close.cancelled() => return Ok(()),
        }
        let len = frame::check_len(prefix, frame_max).map_err(|e| e.to_string())?;
        let memory = tokio::select! {
            m = broker.memory.reserve(len) => m,
            () = close.cancelled() => return Ok(()),
        };
        // Read straight into spare capacity: no zero-filling of a buffer about to be
        // overwritten (a memset of every request's size otherwise). Large bodies reuse a
        // kept buffer (see `server::buffers`), and start at the place in it that puts a
        // produced batch where a direct write can take it from (`produce::frame_phase`).
        let direct_min = pilgrimage_storage::direct::min_bytes();
        let (mut buf, skip) =
            if len >= buffers::POOLED_MIN && direct_min > 0 && len as u64 >= direct_min {
                let mut head = [0u8; PLACEMENT_PEEK];
                let n = len.min(PLACEMENT_PEEK);
                tokio::select! {
                    r = rd.read_exact(&mut head[..n]) => match r {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            return Err("read body: connection closed mid-request".into());
                        }
                        Err(e) => return Err(format!("read body: {e}")),
                    },
                    () = close.cancelled() => return Ok(()),
                }
                let phase = handlers::produce::frame_phase(broker, &head[..n], len);
                let (mut buf, skip) = broker.buffers.take_placed(len, phase, BLOCK);
                buf.extend_from_slice(&head[..n]);
                (buf, skip)
            } else {
                (broker.buffers.take(len), 0)
            };
        let mut body = (&mut *rd).take((len + skip - buf.len()) as u64);
        while buf.len() < skip + len {
            tokio::select! {
                r = body.read_buf(&mut buf) => match r {
                    Ok(0) => return Err("read body: connection closed mid-request".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read body: {e}")),
                },
                () = close.cancelled() => return Ok(()),
            }
        }
        broker.metrics.bytes_in.add(4 + len as u64);
        let mut frame = broker.buffers.freeze(buf);
        frame.advance(skip);
        let peek = RequestHeader::peek(&frame);
        let header = RequestHeader::parse(&mut frame)
            .map_err(|e| format!("bad request header {peek:?}: {e}"))?;
        let reply = match handlers::dispatch(broker, conn, header, frame, memory).await {
            Dispatched::Queue(reply, memory) => Queued {
                reply,
                _memory: memory,
            },
            Dispatched::Close(why) => return Err(why),
        };
        if tx.send(reply).await.is_err() {
            return Ok(()); // the writer stopped
        }
    }
}
