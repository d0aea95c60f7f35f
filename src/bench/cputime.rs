//! CPU time as the kernel accounts it (`getrusage`): of the whole process, and of the calling
//! thread. The bench reports CPU per delivered message because, with every relay sharing the
//! machine's cores (and other processes competing for them), CPU time is what a message costs,
//! independently of how much of the machine the run happened to get.

use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::time::TimeVal;

fn nanos(tv: TimeVal) -> u64 {
    u64::try_from(tv.tv_sec())
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(
            u64::try_from(tv.tv_usec())
                .unwrap_or(0)
                .saturating_mul(1000),
        )
}

fn usage(who: UsageWho) -> u64 {
    getrusage(who).map_or(0, |u| nanos(u.user_time()) + nanos(u.system_time()))
}

/// User + system CPU time of this process so far, nanoseconds (0 if the kernel refuses).
pub fn process_ns() -> u64 {
    usage(UsageWho::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread so far, nanoseconds (0 if the kernel refuses).
pub fn thread_ns() -> u64 {
    usage(UsageWho::RUSAGE_THREAD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_in_both_clocks() {
        let (p0, t0) = (process_ns(), thread_ns());
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert!(thread_ns() > t0, "thread clock moved");
        assert!(process_ns() > p0, "process clock moved");
        assert!(process_ns() >= thread_ns());
    }
}
