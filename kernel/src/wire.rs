//! The Jupyter wire format: the ZeroMQ frames of one message, their
//! HMAC-SHA256 signature, and the replies and broadcasts built from a
//! request. Headers are `jupyter_protocol`'s typed [`Header`]; content stays
//! JSON until a handler reads it into the request type it expects.
//!
//! Frames: `[identities…, "<IDS|MSG>", signature, header, parent_header,
//! metadata, content, buffers…]`; the signature is the hex HMAC of the four
//! JSON frames with the connection file's key.

use bytes::Bytes;
use hmac::{Hmac, Mac};
use jupyter_protocol::Header;
use serde_json::{json, Value};
use sha2::Sha256;
use std::fmt;

const DELIMITER: &[u8] = b"<IDS|MSG>";

/// Protocol version we speak.
pub const PROTOCOL_VERSION: &str = "5.3";

/// Why a set of frames is not a message we accept.
#[derive(Debug)]
pub enum WireError {
    /// No `<IDS|MSG>` delimiter frame.
    NoDelimiter,
    /// Fewer than the four JSON frames after the signature.
    TooFewFrames(usize),
    /// The signature is missing, not hex, or does not match.
    BadSignature,
    /// A JSON frame does not parse, or the header lacks a required field.
    Malformed(String),
    /// Signed, with a valid header, but the parent header, metadata or
    /// content is not what the protocol says: the message (its content
    /// empty) can still be answered with an error reply.
    BadBody(Box<Message>, String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NoDelimiter => write!(f, "no <IDS|MSG> delimiter frame"),
            WireError::TooFewFrames(n) => {
                write!(f, "{n} frames after the delimiter, need signature + 4")
            }
            WireError::BadSignature => write!(f, "missing or wrong HMAC signature"),
            WireError::Malformed(why) => write!(f, "malformed message: {why}"),
            WireError::BadBody(msg, why) => {
                write!(f, "malformed {} message: {why}", msg.msg_type())
            }
        }
    }
}

/// Signs and checks messages with the connection key (an empty key turns
/// signing off, as the protocol allows).
#[derive(Clone)]
pub struct Signer {
    mac: Option<Hmac<Sha256>>,
}

impl Signer {
    /// A signer for `key` (scheme `hmac-sha256`).
    pub fn new(key: &str) -> Self {
        let mac = (!key.is_empty()).then(|| {
            // HMAC accepts keys of any length, so this cannot fail.
            Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length")
        });
        Signer { mac }
    }

    fn digest(&self, parts: &[&[u8]]) -> Option<Hmac<Sha256>> {
        let mut mac = self.mac.clone()?;
        for part in parts {
            mac.update(part);
        }
        Some(mac)
    }

    /// The hex signature of the four JSON frames.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        self.digest(parts)
            .map(|mac| hex(&mac.finalize().into_bytes()))
            .unwrap_or_default()
    }

    /// Whether `signature` (hex) signs `parts`; the comparison takes the same
    /// time wherever the first difference is (hmac's `verify_slice`).
    pub fn verify(&self, signature: &[u8], parts: &[&[u8]]) -> bool {
        match self.digest(parts) {
            None => true,
            Some(mac) => match unhex(signature) {
                Some(bytes) => mac.verify_slice(&bytes).is_ok(),
                None => false,
            },
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

/// The content of an error reply: `status: error` with the error's name,
/// value and a one-line traceback (what frontends print).
pub fn error_content(ename: &str, evalue: &str) -> Value {
    json!({
        "status": "error",
        "ename": ename,
        "evalue": evalue,
        "traceback": [format!("{ename}: {evalue}")],
    })
}

/// One Jupyter message.
#[derive(Debug, Clone)]
pub struct Message {
    /// ZeroMQ routing identities (who to answer on a ROUTER socket).
    pub identities: Vec<Bytes>,
    /// The message's own header.
    pub header: Header,
    /// The header of the request this answers, if any.
    pub parent_header: Option<Header>,
    /// Free-form metadata.
    pub metadata: Value,
    /// The message body.
    pub content: Value,
    /// Extra binary frames.
    pub buffers: Vec<Bytes>,
}

impl Message {
    /// Parses and checks the frames of an incoming message.
    pub fn from_frames(frames: Vec<Bytes>, signer: &Signer) -> Result<Message, WireError> {
        let split = frames
            .iter()
            .position(|f| f.as_ref() == DELIMITER)
            .ok_or(WireError::NoDelimiter)?;
        let identities = frames[..split].to_vec();
        let rest = &frames[split + 1..];
        if rest.len() < 5 {
            return Err(WireError::TooFewFrames(rest.len()));
        }
        let parts: Vec<&[u8]> = rest[1..5].iter().map(|b| b.as_ref()).collect();
        if !signer.verify(&rest[0], &parts) {
            return Err(WireError::BadSignature);
        }
        let json = |i: usize, what: &str| -> Result<Value, WireError> {
            serde_json::from_slice(parts[i])
                .map_err(|e| WireError::Malformed(format!("{what} is not JSON: {e}")))
        };
        let header: Header = serde_json::from_value(json(0, "header")?)
            .map_err(|e| WireError::Malformed(format!("header: {e}")))?;
        let mut msg = Message {
            identities,
            header,
            parent_header: None,
            metadata: json!({}),
            content: json!({}),
            buffers: rest[5..].to_vec(),
        };
        // From here on the sender and the request are known: what is wrong
        // is answered, not dropped.
        let body = (|| -> Result<(Option<Header>, Value, Value), WireError> {
            let parent = json(1, "parent_header")?;
            let parent_header = match &parent {
                Value::Object(m) if m.is_empty() => None,
                Value::Null => None,
                _ => serde_json::from_value(parent).ok(),
            };
            let metadata = json(2, "metadata")?;
            let content = json(3, "content")?;
            if !content.is_object() {
                return Err(WireError::Malformed("content is not a JSON object".into()));
            }
            Ok((parent_header, metadata, content))
        })();
        match body {
            Ok((parent_header, metadata, content)) => {
                msg.parent_header = parent_header;
                msg.metadata = metadata;
                msg.content = content;
                Ok(msg)
            }
            Err(WireError::Malformed(why)) => Err(WireError::BadBody(Box::new(msg), why)),
            Err(other) => Err(other),
        }
    }

    /// The signed frames of this message.
    pub fn to_frames(&self, signer: &Signer) -> Vec<Bytes> {
        let encode =
            |v: &Value| Bytes::from(serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()));
        let header = serde_json::to_value(&self.header).unwrap_or_else(|_| json!({}));
        let parent = match &self.parent_header {
            Some(h) => serde_json::to_value(h).unwrap_or_else(|_| json!({})),
            None => json!({}),
        };
        let parts = [
            encode(&header),
            encode(&parent),
            encode(&self.metadata),
            encode(&self.content),
        ];
        let refs: Vec<&[u8]> = parts.iter().map(|b| b.as_ref()).collect();
        let signature = signer.sign(&refs);
        let mut frames = self.identities.clone();
        frames.push(Bytes::from_static(DELIMITER));
        frames.push(Bytes::from(signature));
        frames.extend(parts);
        frames.extend(self.buffers.iter().cloned());
        frames
    }

    /// The message type, e.g. `execute_request`.
    pub fn msg_type(&self) -> &str {
        &self.header.msg_type
    }

    /// A new message of `msg_type` in `session`, child of `parent` (if any),
    /// with no routing identities (for iopub).
    pub fn new(session: &str, msg_type: &str, parent: Option<&Message>, content: Value) -> Message {
        Message {
            identities: Vec::new(),
            header: Header {
                msg_id: uuid::Uuid::new_v4().to_string(),
                username: "kernel".into(),
                session: session.into(),
                date: chrono::Utc::now(),
                msg_type: msg_type.into(),
                version: PROTOCOL_VERSION.into(),
            },
            parent_header: parent.map(|p| p.header.clone()),
            metadata: json!({}),
            content,
            buffers: Vec::new(),
        }
    }

    /// The reply to this request (`x_request` → `x_reply`), routed back to
    /// its sender.
    pub fn reply(&self, session: &str, content: Value) -> Message {
        let kind = match self.msg_type().strip_suffix("_request") {
            Some(stem) => format!("{stem}_reply"),
            None => format!("{}_reply", self.msg_type()),
        };
        let mut reply = Message::new(session, &kind, Some(self), content);
        reply.identities = self.identities.clone();
        reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(signer: &Signer) -> Vec<Bytes> {
        let mut m = Message::new("s", "kernel_info_request", None, json!({}));
        m.identities = vec![Bytes::from_static(b"client")];
        m.to_frames(signer)
    }

    #[test]
    fn signed_round_trip() {
        let signer = Signer::new("secret");
        let parsed = Message::from_frames(request(&signer), &signer).unwrap();
        assert_eq!(parsed.msg_type(), "kernel_info_request");
        assert_eq!(parsed.identities, vec![Bytes::from_static(b"client")]);
        assert!(parsed.parent_header.is_none());
        let reply = parsed.reply("k", json!({"status": "ok"}));
        assert_eq!(reply.msg_type(), "kernel_info_reply");
        assert_eq!(reply.identities, parsed.identities);
        assert_eq!(reply.parent_header.unwrap().msg_id, parsed.header.msg_id);
    }

    #[test]
    fn forged_or_missing_signatures_are_rejected() {
        let signer = Signer::new("secret");
        let forged = request(&Signer::new("other key"));
        assert!(matches!(
            Message::from_frames(forged, &signer).unwrap_err(),
            WireError::BadSignature
        ));
        let mut unsigned = request(&signer);
        unsigned[2] = Bytes::new();
        assert!(matches!(
            Message::from_frames(unsigned, &signer).unwrap_err(),
            WireError::BadSignature
        ));
        let mut tampered = request(&signer);
        tampered[6] = Bytes::from_static(br#"{"code": "evil"}"#);
        assert!(matches!(
            Message::from_frames(tampered, &signer).unwrap_err(),
            WireError::BadSignature
        ));
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // hmac.new(b"key", b"abc", hashlib.sha256).hexdigest() in Python.
        let s = Signer::new("key").sign(&[b"a", b"bc"]);
        assert_eq!(
            s,
            "9c196e32dc0175f86f4b1cb89289d6619de6bee699e4c378e68309ed97a1a6ab"
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        let signer = Signer::new("");
        assert!(matches!(
            Message::from_frames(vec![Bytes::from_static(b"x")], &signer).unwrap_err(),
            WireError::NoDelimiter
        ));
        let short = vec![Bytes::from_static(DELIMITER), Bytes::new()];
        assert!(matches!(
            Message::from_frames(short, &signer).unwrap_err(),
            WireError::TooFewFrames(1)
        ));
        let bad_json = vec![
            Bytes::from_static(DELIMITER),
            Bytes::new(),
            Bytes::from_static(b"{not json"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
        ];
        assert!(matches!(
            Message::from_frames(bad_json, &signer),
            Err(WireError::Malformed(_))
        ));
        // A valid header with a body that is wrong can be answered.
        let header =
            serde_json::to_vec(&Message::new("s", "execute_request", None, json!({})).header)
                .unwrap();
        let bad_body = vec![
            Bytes::from_static(DELIMITER),
            Bytes::new(),
            Bytes::from(header),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"{}"),
            Bytes::from_static(b"[1, 2]"),
        ];
        match Message::from_frames(bad_body, &signer) {
            Err(WireError::BadBody(msg, why)) => {
                assert_eq!(msg.msg_type(), "execute_request");
                assert!(why.contains("not a JSON object"), "{why}");
            }
            other => panic!("expected BadBody, got {other:?}"),
        }
        assert!(!signer.verify(b"zz", &[b"x"]) || signer.mac.is_none());
        assert_eq!(unhex(b"0g"), None);
        assert_eq!(unhex(b"abc"), None);
    }
}
