//! The messages kernels, the service and ready evaluators exchange: one JSON
//! object per line on a Unix stream. A line can carry open file descriptors
//! (`SCM_RIGHTS`): the service hands a kernel's connection to the evaluator
//! it takes, and the kernel hands its stdout and stderr to the evaluator, so
//! the evaluator's log lands where Jupyter reads the kernel's.

use serde_json::Value;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// Longest line accepted: the largest message is a kernel's environment.
const MAX_LINE: usize = 4 << 20;
/// Most descriptors one line may carry.
const MAX_FDS: usize = 8;

/// One end of a message stream.
#[derive(Debug)]
pub struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Descriptors received and not yet handed out, each with the offset in
    /// `buf` of the last byte of the read that brought them. Linux ends a
    /// read right after the sent chunk that carries descriptors, and that
    /// chunk holds the start of the line they were sent with, so they
    /// belong to the line containing that byte (an earlier line may have
    /// arrived in the same read).
    fds: Vec<(usize, Vec<OwnedFd>)>,
}

impl Conn {
    /// Wraps a connected stream.
    pub fn new(stream: UnixStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// The stream underneath (for timeouts, clones and polling).
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// How long a [`recv`](Self::recv) may wait; `None` waits for ever.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sends `msg` as one line, with `fds` attached to it.
    pub fn send(&mut self, msg: &Value, fds: &[RawFd]) -> io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
        line.push(b'\n');
        if fds.is_empty() {
            return self.stream.write_all(&line);
        }
        if fds.len() > MAX_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} descriptors in one message (at most {MAX_FDS})",
                    fds.len()
                ),
            ));
        }
        let sent = send_with_fds(&self.stream, &line, fds)?;
        self.stream.write_all(&line[sent..])
    }

    /// The next line and the descriptors that came with it; `None` when the
    /// other end closed the stream.
    pub fn recv(&mut self) -> io::Result<Option<(Value, Vec<OwnedFd>)>> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                let mut mine = Vec::new();
                let mut later = Vec::new();
                for (at, fds) in self.fds.drain(..) {
                    if at <= end {
                        mine.extend(fds);
                    } else {
                        later.push((at - end - 1, fds));
                    }
                }
                self.fds = later;
                let msg = serde_json::from_slice(&line[..end]).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("not a message: {e}"))
                })?;
                return Ok(Some((msg, mine)));
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a message longer than {MAX_LINE} bytes"),
                ));
            }
            let mut chunk = [0u8; 8192];
            let mut fds = Vec::new();
            let n = recv_with_fds(&self.stream, &mut chunk, &mut fds)?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if !fds.is_empty() {
                self.fds.push((self.buf.len() - 1, fds));
            }
        }
    }
}

/// Room for the control message of [`MAX_FDS`] descriptors, aligned as
/// `cmsghdr` needs.
fn control_buffer() -> Vec<u64> {
    // SAFETY: CMSG_SPACE only computes a size.
    let bytes = unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) } as usize;
    vec![0u64; bytes.div_ceil(8)]
}

fn send_with_fds(stream: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let mut control = control_buffer();
    let payload = std::mem::size_of_val(fds);
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; every pointer in it refers to a live
    // local (`iov`, `control`) for the duration of the call, and the
    // control buffer is large enough for one header with `fds`
    // (CMSG_SPACE of MAX_FDS descriptors, checked by the caller).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(payload as u32) as _;
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(header).cast(), fds.len());
        loop {
            let n = libc::sendmsg(stream.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

fn recv_with_fds(stream: &UnixStream, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    let mut control = control_buffer();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: as in send_with_fds; the kernel writes at most msg_controllen
    // bytes of control data, and each descriptor read out of it is new to
    // this process (received), so owning it is sound.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = (control.len() * 8) as _;
        let n = loop {
            let n = libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        let mut header = libc::CMSG_FIRSTHDR(&msg);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let count =
                    ((*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                let data: *const RawFd = libc::CMSG_DATA(header).cast();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            header = libc::CMSG_NXTHDR(&msg, header);
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {MAX_FDS} descriptors in one message"),
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{Read, Seek};

    #[test]
    fn lines_and_descriptors_arrive_together() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Conn::new(a), Conn::new(b));
        let mut file = tempfile_with("hello");
        a.send(&json!({"first": 1}), &[]).unwrap();
        a.send(&json!({"second": [2]}), &[file.as_raw_fd()])
            .unwrap();
        let (first, none) = b.recv().unwrap().unwrap();
        assert_eq!((first, none.len()), (json!({"first": 1}), 0));
        let (second, fds) = b.recv().unwrap().unwrap();
        assert_eq!(second, json!({"second": [2]}));
        assert_eq!(fds.len(), 1);
        // The received descriptor is the same open file.
        let mut received = std::fs::File::from(fds.into_iter().next().unwrap());
        received.rewind().unwrap();
        let mut text = String::new();
        received.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello");
        file.rewind().unwrap();
        drop(a);
        assert!(b.recv().unwrap().is_none(), "a closed end reads as None");
    }

    #[test]
    fn each_line_gets_its_own_descriptors() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (Conn::new(a), Conn::new(b));
        let one = tempfile_with("one");
        let two = tempfile_with("two");
        a.send(&json!(0), &[]).unwrap();
        a.send(&json!(1), &[one.as_raw_fd()]).unwrap();
        a.send(&json!(2), &[two.as_raw_fd(), one.as_raw_fd()])
            .unwrap();
        a.send(&json!(3), &[]).unwrap();
        let counts: Vec<(Value, usize)> = (0..4)
            .map(|_| {
                let (msg, fds) = b.recv().unwrap().unwrap();
                (msg, fds.len())
            })
            .collect();
        assert_eq!(
            counts,
            vec![(json!(0), 0), (json!(1), 1), (json!(2), 2), (json!(3), 0)]
        );
    }

    #[test]
    fn garbage_and_oversized_lines_are_errors() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let mut b = Conn::new(b);
        a.write_all(b"not json\n").unwrap();
        assert_eq!(b.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        let writer = std::thread::spawn(move || {
            let big = vec![b'x'; MAX_LINE + 10_000];
            let _ = a.write_all(&big);
        });
        assert_eq!(b.recv().unwrap_err().kind(), io::ErrorKind::InvalidData);
        drop(b);
        writer.join().unwrap();
    }

    fn tempfile_with(text: &str) -> std::fs::File {
        let path = std::env::temp_dir().join(format!("ds-conn-{}", uuid::Uuid::new_v4()));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }
}
