//! The GDB remote serial protocol's framing: `$payload#cs` packets with a
//! two-digit checksum, `}`-escaping of binary data, the `+`/`-`
//! acknowledgements (until `QStartNoAckMode`) and the out-of-band `0x03`
//! interrupt byte. Plain functions and a byte-at-a-time decoder, so the
//! framing is tested without a socket.

/// The largest packet payload we accept (and advertise as `PacketSize`).
/// A longer one is consumed and dropped, and answered with an error.
pub const MAX_PACKET: usize = 0x4000;

/// What the decoder made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// A whole packet with a good checksum: its payload, unescaped.
    Packet(Vec<u8>),
    /// The interrupt byte (`^C`) outside a packet.
    Interrupt,
    /// A packet whose checksum is wrong (the client sends it again when
    /// acknowledgements are on).
    BadChecksum,
    /// A packet over [`MAX_PACKET`] bytes.
    TooLong(usize),
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Body,
    /// After `}` in the body: the next byte is XORed with 0x20.
    Escape,
    /// After `#`: the checksum digits read so far.
    Checksum(u8, u8),
}

/// Turns the client's byte stream into [`Input`]s.
#[derive(Default)]
pub struct Decoder {
    state: State,
    payload: Vec<u8>,
    /// The payload's length (it stops growing past [`MAX_PACKET`]).
    length: usize,
    sum: u8,
}

impl Decoder {
    /// Feeds one byte; returns an input when one is complete.
    pub fn push(&mut self, byte: u8) -> Option<Input> {
        match self.state {
            State::Idle => match byte {
                b'$' => {
                    self.payload.clear();
                    self.length = 0;
                    self.sum = 0;
                    self.state = State::Body;
                    None
                }
                0x03 => Some(Input::Interrupt),
                // Acknowledgements and noise between packets.
                _ => None,
            },
            State::Body if byte == b'#' => {
                self.state = State::Checksum(0, 0);
                None
            }
            State::Body => {
                self.sum = self.sum.wrapping_add(byte);
                if byte == b'}' {
                    self.state = State::Escape;
                } else {
                    self.keep(byte);
                }
                None
            }
            State::Escape => {
                self.sum = self.sum.wrapping_add(byte);
                self.keep(byte ^ 0x20);
                self.state = State::Body;
                None
            }
            State::Checksum(n, value) => {
                let digit = (byte as char).to_digit(16).map(|d| d as u8);
                let value = (value << 4) | digit.unwrap_or(0);
                if n == 0 && digit.is_some() {
                    self.state = State::Checksum(1, value);
                    return None;
                }
                self.state = State::Idle;
                Some(if self.length > MAX_PACKET {
                    Input::TooLong(self.length)
                } else if digit.is_none() || value != self.sum {
                    Input::BadChecksum
                } else {
                    Input::Packet(std::mem::take(&mut self.payload))
                })
            }
        }
    }

    fn keep(&mut self, byte: u8) {
        self.length += 1;
        if self.length <= MAX_PACKET {
            self.payload.push(byte);
        }
    }
}

/// Frames a reply: `$payload#cs`, escaping the bytes the protocol reserves.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.push(b'$');
    let mut sum = 0u8;
    for &b in payload {
        if matches!(b, b'$' | b'#' | b'}' | b'*') {
            out.push(b'}');
            out.push(b ^ 0x20);
            sum = sum.wrapping_add(b'}').wrapping_add(b ^ 0x20);
        } else {
            out.push(b);
            sum = sum.wrapping_add(b);
        }
    }
    out.extend_from_slice(format!("#{sum:02x}").as_bytes());
    out
}

/// Lower-case hex of `bytes`, in order.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes of a hex string; `None` if it is not hex or has an odd length.
pub fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// A hex number (`1f`, at most 64 bits).
pub fn number(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<Input> {
        let mut d = Decoder::default();
        bytes.iter().filter_map(|&b| d.push(b)).collect()
    }

    #[test]
    fn packets_acks_and_interrupts() {
        let mut bytes = b"+".to_vec();
        bytes.extend(frame(b"qSupported"));
        bytes.extend_from_slice(b"+\x03$?#3f");
        assert_eq!(
            decode(&bytes),
            [
                Input::Packet(b"qSupported".to_vec()),
                Input::Interrupt,
                Input::Packet(b"?".to_vec())
            ]
        );
        assert_eq!(decode(b"$?#3e"), [Input::BadChecksum]);
        assert_eq!(decode(b"$?#zz"), [Input::BadChecksum]);
    }

    #[test]
    fn escapes_round_trip() {
        let payload = b"X0,4:}#$*".to_vec();
        let framed = frame(&payload);
        assert!(!framed[1..framed.len() - 3].contains(&b'#'));
        assert_eq!(decode(&framed), [Input::Packet(payload)]);
    }

    #[test]
    fn an_oversized_packet_is_dropped_whole() {
        let mut big = vec![b'$'];
        big.extend(std::iter::repeat_n(b'a', MAX_PACKET + 10));
        big.extend_from_slice(b"#00$?#3f");
        assert_eq!(
            decode(&big),
            [
                Input::TooLong(MAX_PACKET + 10),
                Input::Packet(b"?".to_vec())
            ]
        );
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex(b"00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(unhex(b"0"), None);
        assert_eq!(unhex(b"zz"), None);
        assert_eq!(number(b"4000000000000000"), Some(1 << 62));
        assert_eq!(number(b""), None);
        assert_eq!(number(b"10000000000000000"), None);
    }
}
