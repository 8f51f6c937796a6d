//! System-call fault injection for a child process, with a seccomp-BPF filter installed between
//! `fork` and `exec` (Linux, x86_64 and aarch64).
//!
//! Two kinds of fault:
//!
//! * [`Fault`]: every call of the chosen system calls fails with an errno (optionally only
//!   when the first argument, a file descriptor, is 3 or more, so that stdout and stderr still
//!   work). The filter alone does it.
//! * [`NthCall`]: only the n-th call (counted over a set of system calls) fails. BPF cannot
//!   count, so the filter hands those calls to this process (`SECCOMP_RET_USER_NOTIF`); a
//!   supervisor thread counts them, fails the n-th and lets every other one go through.
//!
//! `unsafe` is confined to this file: the `pre_exec` hook and the raw system calls around it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: u32 = 0; // not supported: the filter matches nothing

/// Whether this architecture is supported (otherwise the tests say SKIPPED).
pub const SUPPORTED: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// System calls that flush a file to disk.
pub fn sync_calls() -> Vec<i64> {
    vec![libc::SYS_fsync, libc::SYS_fdatasync]
}

/// System calls that rename a file.
pub fn rename_calls() -> Vec<i64> {
    let mut v = vec![libc::SYS_renameat, libc::SYS_renameat2];
    #[cfg(target_arch = "x86_64")]
    v.push(libc::SYS_rename);
    v
}

/// System calls that write to a file descriptor.
pub fn write_calls() -> Vec<i64> {
    vec![
        libc::SYS_write,
        libc::SYS_pwrite64,
        libc::SYS_writev,
        libc::SYS_pwritev,
        libc::SYS_pwritev2,
    ]
}

/// Every call of `calls` fails with `errno`; every call of `fd_calls` whose first argument is
/// a file descriptor of 3 or more fails with `errno`.
#[derive(Clone, Debug, Default)]
pub struct Fault {
    pub errno: i32,
    pub calls: Vec<i64>,
    pub fd_calls: Vec<i64>,
}

/// The n-th call (from 1) counted over `calls` and over the calls of `fd_calls` whose first
/// argument is a file descriptor of 3 or more fails with `errno`; the others succeed.
#[derive(Clone, Debug, Default)]
pub struct NthCall {
    pub calls: Vec<i64>,
    pub fd_calls: Vec<i64>,
    pub n: usize,
    pub errno: i32,
}

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
/// The low 32 bits of `args[0]` (`struct seccomp_data` is in native byte order).
const OFF_ARG0_LO: u32 = if cfg!(target_endian = "little") {
    16
} else {
    20
};

/// A filter: on another architecture allow; if the call is one of `calls` return `action`; if
/// one of `fd_calls` return `action` when args\[0\] >= 3; otherwise allow.
fn program(calls: &[i64], fd_calls: &[i64], action: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_ABS, BPF_JEQ, BPF_JGE, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W, SECCOMP_RET_ALLOW,
    };
    assert!(calls.len() + fd_calls.len() < 200, "jump offsets fit in u8");
    let mut p = Vec::new();
    p.push(stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARCH));
    // Wrong architecture: skip to the final ALLOW (patched below).
    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 0, 0));
    let arch_jump = p.len() - 1;
    p.push(stmt(BPF_LD | BPF_W | BPF_ABS, OFF_NR));
    // Layout after the comparisons: [ALLOW] [action] [ld arg0] [jge 3] [ALLOW] [action]
    let n = calls.len() + fd_calls.len();
    for (i, &nr) in calls.iter().chain(fd_calls).enumerate() {
        let left = (n - i - 1) as u8; // comparisons after this one
        let is_fd = i >= calls.len();
        // Offsets are relative to the next instruction.
        let target = if is_fd { left + 2 } else { left + 1 };
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr as u32, target, 0));
    }
    p.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    let allow_at = p.len() - 1;
    p.push(stmt(BPF_RET | BPF_K, action));
    p.push(stmt(BPF_LD | BPF_W | BPF_ABS, OFF_ARG0_LO));
    p.push(jump(BPF_JMP | BPF_JGE | BPF_K, 3, 1, 0));
    p.push(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    p.push(stmt(BPF_RET | BPF_K, action));
    p[arch_jump].jf = (allow_at - arch_jump - 1) as u8;
    p
}

/// Set no_new_privs and install `prog`; returns the seccomp() result (a listener fd with
/// `flags` = `SECCOMP_FILTER_FLAG_NEW_LISTENER`). Only async-signal-safe system calls.
///
/// # Safety
/// `prog` must point to a valid filter for the duration of the call.
unsafe fn install(prog: &libc::sock_fprog, flags: libc::c_ulong) -> io::Result<RawFd> {
    // SAFETY: plain system calls with valid arguments; no allocation, no locks.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        let r = libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            prog as *const libc::sock_fprog,
        );
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as RawFd)
    }
}

/// Make `cmd`'s process fail as `fault` says once it is exec'd.
pub fn apply(cmd: &mut Command, fault: &Fault) {
    let action = libc::SECCOMP_RET_ERRNO | (fault.errno as u32 & libc::SECCOMP_RET_DATA);
    // Built before fork: the child must not allocate.
    let filter = program(&fault.calls, &fault.fd_calls, action);
    // SAFETY: pre_exec runs in the child between fork and exec, where only async-signal-safe
    // functions may be called. The hook only reads `filter` (allocated before the fork, owned
    // by the closure, never freed or resized in the child) and makes two system calls, prctl
    // and seccomp; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            install(&prog, 0).map(|_| ())
        });
    }
}

/// Run `cmd` to completion under `fault`, capturing stdout and stderr.
pub fn output_with(mut cmd: Command, fault: &Fault) -> Output {
    apply(&mut cmd, fault);
    cmd.stdin(Stdio::null())
        .env("LC_ALL", "C")
        .output()
        .expect("run under a seccomp filter")
}

/// Send `fd` over the unix socket `sock` (SCM_RIGHTS). Async-signal-safe: stack buffers and
/// one sendmsg.
fn send_fd(sock: RawFd, fd: RawFd) -> io::Result<()> {
    #[repr(C, align(8))]
    struct CmsgBuf([u8; 64]);
    let mut buf = CmsgBuf([0; 64]);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: every pointer refers to a live stack buffer of the stated size; the CMSG macros
    // are pointer arithmetic within `buf`, which is large and aligned enough for one fd.
    unsafe {
        let space = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
        assert!(space <= buf.0.len());
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        if libc::sendmsg(sock, &msg, 0) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Receive one fd sent by [`send_fd`].
fn recv_fd(sock: RawFd) -> io::Result<OwnedFd> {
    #[repr(C, align(8))]
    struct CmsgBuf([u8; 64]);
    let mut buf = CmsgBuf([0; 64]);
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: as in send_fd; the received descriptor is new and owned by nobody else.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = buf.0.len() as _;
        if libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) <= 0 {
            return Err(io::Error::last_os_error());
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("no descriptor received"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>());
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// What an [`NthCall`] run produced.
#[derive(Debug)]
pub struct NthOutput {
    pub output: Output,
    /// How many calls of the set the process made (including the failed one).
    pub calls_seen: usize,
}

/// Answer notifications on `listener` until the process is gone: fail the n-th, continue the
/// others. Returns the number of calls seen.
fn supervise(listener: OwnedFd, n: usize, errno: i32) -> usize {
    let fd = listener.as_raw_fd();
    let mut seen = 0;
    loop {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 60_000) };
        if r <= 0 || pfd.revents & libc::POLLIN == 0 {
            // Timeout, or POLLHUP: every process using the filter has exited.
            return seen;
        }
        // SAFETY: the kernel requires a zeroed seccomp_notif and fills it in.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: `req` is a valid seccomp_notif for the ioctl to fill.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            // ENOENT: the caller was killed before we read the notification.
            continue;
        }
        seen += 1;
        let resp = if seen == n {
            libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: -errno,
                flags: 0,
            }
        } else {
            libc::seccomp_notif_resp {
                id: req.id,
                val: 0,
                error: 0,
                flags: libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            }
        };
        // SAFETY: `resp` is a valid seccomp_notif_resp; a failure (the caller is gone) is fine.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
}

/// Run `cmd` to completion, failing only the n-th call of `nth.calls`.
pub fn output_nth(mut cmd: Command, nth: &NthCall) -> NthOutput {
    let filter = program(&nth.calls, &nth.fd_calls, libc::SECCOMP_RET_USER_NOTIF);
    let mut pair = [0 as RawFd; 2];
    // SAFETY: socketpair fills two descriptors, owned right after.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair: {}", io::Error::last_os_error());
    // SAFETY: fresh descriptors from socketpair.
    let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    let child_sock = theirs.as_raw_fd();
    // SAFETY: pre_exec runs in the child between fork and exec, where only async-signal-safe
    // functions may be called. The hook reads `filter` (allocated before the fork), makes the
    // prctl and seccomp calls, sends the listener descriptor with one sendmsg on a socket
    // inherited from the parent (closed at exec by its CLOEXEC flag) and closes the child's
    // copy of the listener; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            let listener = install(&prog, libc::SECCOMP_FILTER_FLAG_NEW_LISTENER)?;
            let sent = send_fd(child_sock, listener);
            libc::close(listener);
            sent
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C");
    let child = cmd.spawn().expect("spawn under a seccomp filter");
    drop(theirs);
    let listener = recv_fd(ours.as_raw_fd()).expect("receive the seccomp listener");
    let (n, errno) = (nth.n, nth.errno);
    let sup = std::thread::spawn(move || supervise(listener, n, errno));
    let output = child.wait_with_output().expect("wait");
    let calls_seen = sup.join().expect("supervisor");
    NthOutput { output, calls_seen }
}
