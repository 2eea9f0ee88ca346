//! The open-file limit a run works under: a backend raises the soft limit to the hard one
//! (each namespace a run touches holds a socket and a namespace file for the run).
//! In a binary of its own: it changes the process's limit.

// Tests may unwrap, expect and panic; product code may not (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// getrlimit and setrlimit through libc, each call with its SAFETY comment.
#![allow(unsafe_code)]

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct passed.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

#[test]
fn a_backend_raises_the_soft_open_file_limit_to_the_hard_one() {
    let hard = nofile().rlim_max;
    assert!(hard > 64, "hard limit {hard}: nothing to check");
    let low = libc::rlimit {
        rlim_cur: 64,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads only the struct passed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    assert_eq!(nofile().rlim_cur, 64);
    // No root needed: the backend of the own namespace makes its socket without setns.
    let _nl = mvtopo::kernel::Netlink::new().unwrap();
    assert_eq!(nofile().rlim_cur, hard);
}
