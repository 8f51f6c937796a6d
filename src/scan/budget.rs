//! The memory that decompression may hold, shared by every scanning thread: a counter of
//! bytes in flight, so that more threads never mean proportionally more memory.
//!
//! A thread reserves what it will hold before it holds it (a grant), and gives it back when
//! it is done. A reservation waits for its turn (first come, first served) and for room:
//! `held + bytes <= limit`, or nothing held at all, so that one request larger than the whole
//! budget (a module whose decoder alone needs more) still runs, alone. A thread never waits
//! while it holds a grant: it can only try to grow one ([`Grant::try_grow`]: there is room,
//! or it holds all that is held), and when that fails it gives everything back before it
//! waits. So a wait always ends.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The budget of decompressed bytes held by all threads together (images decoded whole,
/// the kept ranges of sparse images, decoder windows).
pub static DECODED: Budget = Budget::new(DECODED_LIMIT);

/// The limit of [`DECODED`].
pub const DECODED_LIMIT: u64 = 256 << 20;

/// A counter of bytes held, with a limit.
pub struct Budget {
    limit: u64,
    state: Mutex<State>,
    turn: Condvar,
}

struct State {
    /// Bytes granted and not yet given back.
    held: u64,
    /// The next ticket handed out, and the ticket whose turn it is.
    next: u64,
    serving: u64,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub const fn new(limit: u64) -> Budget {
        Budget {
            limit,
            state: Mutex::new(State {
                held: 0,
                next: 0,
                serving: 0,
            }),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserve `bytes`, waiting for the earlier requests and for room. The caller must hold
    /// no other grant of this budget (else two threads could wait for each other).
    pub fn acquire(&self, bytes: u64) -> Grant<'_> {
        let mut s = self.lock();
        let ticket = s.next;
        s.next += 1;
        while !(s.serving == ticket && (s.held == 0 || s.held.saturating_add(bytes) <= self.limit))
        {
            s = self.turn.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.serving += 1;
        s.held += bytes;
        drop(s);
        // The next ticket may fit too.
        self.turn.notify_all();
        Grant {
            budget: self,
            bytes,
        }
    }

    /// Bytes currently granted.
    pub fn held(&self) -> u64 {
        self.lock().held
    }

    /// The limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

/// Bytes reserved from a [`Budget`], given back when dropped.
pub struct Grant<'b> {
    budget: &'b Budget,
    bytes: u64,
}

impl Grant<'_> {
    /// The bytes this grant holds.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Grow the grant to `total` bytes if there is room now (or nothing else is held),
    /// without waiting; `false` (and the grant unchanged) when there is not.
    pub fn try_grow(&mut self, total: u64) -> bool {
        if total <= self.bytes {
            return true;
        }
        let extra = total - self.bytes;
        let mut s = self.budget.lock();
        let alone = s.held == self.bytes;
        if !alone && s.held.saturating_add(extra) > self.budget.limit {
            return false;
        }
        s.held += extra;
        self.bytes = total;
        true
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        if self.bytes == 0 {
            return;
        }
        let mut s = self.budget.lock();
        s.held -= self.bytes;
        drop(s);
        self.budget.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    #[test]
    fn grants_add_up_and_are_given_back() {
        let b = Budget::new(100);
        let g1 = b.acquire(60);
        let mut g2 = b.acquire(40);
        assert_eq!(b.held(), 100);
        assert!(!g2.try_grow(41));
        assert_eq!(g2.bytes(), 40);
        drop(g1);
        assert!(g2.try_grow(100));
        assert_eq!(b.held(), 100);
        // Alone, a grant may grow past the limit.
        assert!(g2.try_grow(150));
        assert_eq!(b.held(), 150);
        drop(g2);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn a_request_larger_than_the_budget_runs_alone() {
        let b = Budget::new(100);
        let big = b.acquire(1000);
        assert_eq!(b.held(), 1000);
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let g = b.acquire(1);
                g.bytes()
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                !t.is_finished(),
                "granted while the big one holds everything"
            );
            drop(big);
            assert_eq!(t.join().unwrap(), 1);
        });
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn what_is_held_never_exceeds_the_limit() {
        let b = Budget::new(1000);
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (b, peak) = (&b, &peak);
                s.spawn(move || {
                    for i in 0..200u64 {
                        let want = 1 + (t * 131 + i * 17) % 400;
                        let mut g = b.acquire(want);
                        peak.fetch_max(b.held(), Ordering::Relaxed);
                        if g.try_grow(want * 2) {
                            peak.fetch_max(b.held(), Ordering::Relaxed);
                        }
                        std::thread::yield_now();
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 1000);
        assert_eq!(b.held(), 0);
    }

    #[test]
    fn requests_are_served_in_order() {
        // A large request queued first is not overtaken by a small one that would fit.
        let b = Budget::new(100);
        let first = b.acquire(80);
        let order = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let (b, order) = (&b, &order);
            s.spawn(move || {
                let _g = b.acquire(95);
                order.lock().unwrap().push("big");
            });
            std::thread::sleep(Duration::from_millis(50));
            s.spawn(move || {
                let _g = b.acquire(10);
                order.lock().unwrap().push("small");
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(order.lock().unwrap().is_empty());
            drop(first);
        });
        assert_eq!(*order.lock().unwrap(), ["big", "small"]);
    }
}
