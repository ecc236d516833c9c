//! Bundles over the libp2p connection itself, for a peer found on the LAN that offers no other
//! layer this node can use (no TCPCL port, no shared Ethernet). The protocol
//! `/dtn/bundle/1` is one request-response exchange per bundle: the request is the bundle's
//! bytes, the stream's end marks its end; the response is one byte, [`STORED`] once the
//! receiver holds the bundle durably, else [`REFUSED`]. A sender counts a bundle sent only on
//! `STORED`, like TCPCL's acknowledgement of a whole transfer (RFC 9174 §5.2.3).
//!
//! Hostile input: a request is read as it arrives, never into a buffer sized by the peer,
//! and one longer than the node's largest bundle is cut off with an error.

use std::io;

use libp2p::futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

/// The protocol's name.
pub const BUNDLE: StreamProtocol = StreamProtocol::new("/dtn/bundle/1");

/// The response: the receiver holds the bundle durably.
pub const STORED: u8 = 0;
/// The response: the receiver did not take the bundle (malformed, store full, busy).
pub const REFUSED: u8 = 1;

/// What the node asks of discovery's libp2p side.
#[derive(Debug)]
pub enum CarryCommand {
    /// Send `bundle` to `peer` (a libp2p peer ID); [`Carried::Sent`] with `tag` says how it
    /// ended.
    Send {
        /// The peer.
        peer: String,
        /// The node's name for this transmission.
        tag: u64,
        /// The bundle.
        bundle: Vec<u8>,
    },
    /// Answer the received bundle `id`: stored durably, or refused.
    Answer {
        /// From [`Carried::Bundle`].
        id: u64,
        /// Whether it was stored.
        stored: bool,
    },
}

/// What discovery's libp2p side tells the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carried {
    /// A bundle arrived from `peer`; answer it with [`CarryCommand::Answer`] and `id`.
    Bundle {
        /// The libp2p peer ID it came from.
        peer: String,
        /// Its number, for the answer.
        id: u64,
        /// The bundle.
        bytes: Vec<u8>,
    },
    /// The transmission `tag` ended: `ok` when the peer stored the bundle.
    Sent {
        /// From [`CarryCommand::Send`].
        tag: u64,
        /// Stored by the peer.
        ok: bool,
    },
}

/// The codec of `/dtn/bundle/1`: raw bytes each way, bounded.
#[derive(Debug, Clone)]
pub struct BundleCodec {
    /// Largest bundle read.
    pub max_bundle: u64,
}

impl libp2p::request_response::Codec for BundleCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = u8;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut bundle = Vec::new();
        // One byte past the limit tells a bundle too large from one exactly at it.
        io.take(self.max_bundle.saturating_add(1))
            .read_to_end(&mut bundle)
            .await?;
        if bundle.len() as u64 > self.max_bundle {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bundle over {} bytes", self.max_bundle),
            ));
        }
        Ok(bundle)
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<u8>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut b = [0u8; 1];
        io.read_exact(&mut b).await?;
        let [answer] = b;
        match answer {
            STORED | REFUSED => Ok(answer),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bundle answer {other}"),
            )),
        }
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        bundle: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&bundle).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        answer: u8,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(&[answer]).await?;
        io.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::futures::executor::block_on;
    use libp2p::futures::io::Cursor;
    use libp2p::request_response::Codec;

    #[test]
    fn requests_are_bounded_and_answers_checked() {
        let mut codec = BundleCodec { max_bundle: 100 };
        let at_limit = vec![7u8; 100];
        let read = block_on(codec.read_request(&BUNDLE, &mut Cursor::new(at_limit.clone())));
        assert_eq!(read.ok(), Some(at_limit));
        let over = block_on(codec.read_request(&BUNDLE, &mut Cursor::new(vec![7u8; 101])));
        assert_eq!(
            over.err().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData)
        );
        for (byte, ok) in [(STORED, true), (REFUSED, true), (9, false), (255, false)] {
            let answer = block_on(codec.read_response(&BUNDLE, &mut Cursor::new(vec![byte])));
            assert_eq!(answer.is_ok(), ok, "answer byte {byte}");
        }
        let empty = block_on(codec.read_response(&BUNDLE, &mut Cursor::new(Vec::new())));
        assert!(empty.is_err(), "no answer at all is an error");
        // What is written is what is read.
        let mut out = Cursor::new(Vec::new());
        assert!(block_on(codec.write_request(&BUNDLE, &mut out, b"bundle".to_vec())).is_ok());
        assert_eq!(out.into_inner(), b"bundle");
    }
}
