//! A budget of file bytes held in memory at once by the parsing threads.
//!
//! A file's bytes — as fetched, then decompressed — are the one thing whose size
//! its author chooses: every parsing thread holding a file of the size cap at
//! once would cost workers × cap. So a thread reserves bytes before it allocates
//! them and waits while the budget is spent. Requests are served in order, and
//! one larger than the whole budget still proceeds, alone, once nothing else is
//! held: a big file waits, it never deadlocks the load.
//!
//! A thread never waits while holding a reservation (growing one releases it
//! first), so no two threads can wait on each other. While it waits, the bytes
//! it already holds (a fetched file) are not counted.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Bytes that may be held at once, shared by the threads of a load.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Bytes reserved now.
    held: u64,
    /// The next ticket to hand out, and the one served next: requests that
    /// wait are served in the order they came.
    next_ticket: u64,
    serving: u64,
}

impl MemoryBudget {
    /// A budget of `total` bytes (at least one).
    pub fn new(total: u64) -> Self {
        Self {
            total: total.max(1),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// A budget that never makes anyone wait.
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// A reservation of nothing yet, released when dropped.
    pub fn reservation(&self) -> Reservation<'_> {
        Reservation {
            budget: self,
            bytes: 0,
        }
    }

    /// Bytes reserved now, by every thread.
    pub fn held(&self) -> u64 {
        self.lock().held
    }

    /// Requests waiting for their turn or for room.
    #[cfg(test)]
    fn waiting(&self) -> u64 {
        let state = self.lock();
        state.next_ticket - state.serving
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few counters, consistent after every statement.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn release(&self, bytes: u64) {
        if bytes > 0 {
            let mut state = self.lock();
            state.held -= bytes;
            drop(state);
            self.changed.notify_all();
        }
    }

    /// Waits for its turn and for `bytes` to fit (or for nothing else to be
    /// held), then takes them.
    fn acquire(&self, bytes: u64) {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        loop {
            let fits = state.held.saturating_add(bytes) <= self.total || state.held == 0;
            if state.serving == ticket && fits {
                break;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.held += bytes;
        state.serving += 1;
        drop(state);
        // The next ticket may fit too.
        self.changed.notify_all();
    }
}

/// Bytes one thread holds of a [`MemoryBudget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl Reservation<'_> {
    /// Makes this reservation `bytes`: shrinking gives back at once; growing
    /// gives back what it holds, then waits for its turn and for the whole
    /// `bytes` to fit (or for nothing else to be held).
    pub fn resize(&mut self, bytes: u64) {
        if bytes <= self.bytes {
            self.budget.release(self.bytes - bytes);
        } else {
            self.budget.release(self.bytes);
            self.bytes = 0;
            self.budget.acquire(bytes);
        }
        self.bytes = bytes;
    }

    /// Bytes held by this reservation.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// Long enough for a thread that could proceed to have done so.
    const SETTLE: Duration = Duration::from_millis(100);

    /// Waits until `count` requests wait.
    fn until_waiting(budget: &MemoryBudget, count: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while budget.waiting() < count {
            assert!(
                std::time::Instant::now() < deadline,
                "{count} requests never waited"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn reservations_wait_while_the_budget_is_spent() {
        let budget = MemoryBudget::new(100);
        let mut first = budget.reservation();
        first.resize(60);
        let (sent, got) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut second = budget.reservation();
                second.resize(50);
                sent.send(budget.held()).expect("send");
            });
            assert!(got.recv_timeout(SETTLE).is_err(), "60 + 50 > 100: waits");
            first.resize(55);
            assert!(got.recv_timeout(SETTLE).is_err(), "55 + 50 > 100: waits");
            first.resize(50);
            assert_eq!(got.recv_timeout(Duration::from_secs(10)).ok(), Some(100));
        });
        drop(first);
        assert_eq!(budget.held(), 0, "everything given back");
    }

    #[test]
    fn a_request_larger_than_the_budget_proceeds_alone() {
        let budget = MemoryBudget::new(100);
        let mut small = budget.reservation();
        small.resize(10);
        let (sent, got) = mpsc::channel();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut large = budget.reservation();
                large.resize(1_000);
                sent.send(budget.held()).expect("send");
            });
            assert!(got.recv_timeout(SETTLE).is_err(), "waits for the others");
            drop(small);
            // Alone, it holds more than the whole budget.
            assert_eq!(got.recv_timeout(Duration::from_secs(10)).ok(), Some(1_000));
        });
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn waiting_requests_are_served_in_order() {
        let budget = MemoryBudget::new(100);
        let mut holder = budget.reservation();
        holder.resize(20);
        let (sent, got) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let budget = &budget;
            let large_sent = sent.clone();
            scope.spawn(move || {
                let mut large = budget.reservation();
                large.resize(90);
                large_sent.send("large").expect("send");
                let _ = released.recv();
            });
            until_waiting(budget, 1);
            scope.spawn(move || {
                let mut small = budget.reservation();
                small.resize(5);
                sent.send("small").expect("send");
            });
            until_waiting(budget, 2);
            std::thread::sleep(SETTLE);
            // 20 + 5 fits, but the large request came first: the small one
            // waits behind it, so a stream of small files cannot starve it.
            assert!(got.try_recv().is_err(), "both wait");
            assert_eq!(budget.held(), 20);
            holder.resize(0);
            let mut served: Vec<_> = got.iter().take(2).collect();
            served.sort_unstable();
            assert_eq!(served, ["large", "small"]);
            release.send(()).expect("release");
        });
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn shrinking_never_waits() {
        let budget = MemoryBudget::new(10);
        let mut a = budget.reservation();
        a.resize(1_000);
        a.resize(5);
        let mut b = budget.reservation();
        b.resize(5);
        assert_eq!((a.bytes(), b.bytes(), budget.held()), (5, 5, 10));
    }
}
