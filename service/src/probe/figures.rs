//! The load's figures, computed from wall-clock times in unix milliseconds
//! (the drivers compare them with their own fault times): outage windows,
//! recovery after a fault, registrations just before a fault.

use serde::Serialize;

/// A window without any success, and where it lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from_ms: u64,
    pub to_ms: u64,
}

impl Gap {
    pub fn ms(&self) -> u64 {
        self.to_ms.saturating_sub(self.from_ms)
    }
}

/// The longest window of the load `[start_ms, end_ms]` without a success:
/// from the start to the first success, between two successes, and from the
/// last success to the end. A window still open when the load ends counts
/// up to the end, and a load without a single success is one whole window.
/// A slow request that finally succeeds leaves its wait in the window too.
pub fn longest_gap(start_ms: u64, end_ms: u64, successes_ms: &[u64]) -> Gap {
    let mut times: Vec<u64> = successes_ms
        .iter()
        .copied()
        .filter(|&t| t >= start_ms && t <= end_ms)
        .collect();
    times.sort_unstable();
    let mut longest = Gap {
        from_ms: start_ms,
        to_ms: start_ms,
    };
    let mut last = start_ms;
    for t in times.into_iter().chain(std::iter::once(end_ms)) {
        let gap = Gap {
            from_ms: last,
            to_ms: t,
        };
        if gap.ms() > longest.ms() {
            longest = gap;
        }
        last = t;
    }
    longest
}

/// Windows in which a request failed: from the last success before the
/// failure to the first success after it (or the end of the load, when
/// none came). Returns the windows longer than `over_ms`.
pub fn failure_windows(
    start_ms: u64,
    end_ms: u64,
    events: &[(u64, bool)],
    over_ms: u64,
) -> Vec<Gap> {
    let mut ev = events.to_vec();
    ev.sort_unstable();
    let mut last_ok = start_ms;
    let mut open: Option<u64> = None;
    let mut out = Vec::new();
    for (t, ok) in ev {
        if ok {
            if let Some(from) = open.take() {
                out.push(Gap {
                    from_ms: from,
                    to_ms: t,
                });
            }
            last_ok = t;
        } else if open.is_none() {
            open = Some(last_ok);
        }
    }
    if let Some(from) = open {
        out.push(Gap {
            from_ms: from,
            to_ms: end_ms.max(from),
        });
    }
    out.retain(|g| g.ms() > over_ms);
    out
}

/// How long after `fault_ms` the first success came; None when none came
/// before the end of the load (the caller reports the open window).
pub fn recovery_ms(fault_ms: u64, successes_ms: &[u64]) -> Option<u64> {
    successes_ms
        .iter()
        .filter(|&&t| t >= fault_ms)
        .min()
        .map(|t| t - fault_ms)
}

/// Acknowledgements in the second before `fault_ms`.
pub fn in_second_before(fault_ms: u64, acknowledged_ms: &[u64]) -> usize {
    acknowledged_ms
        .iter()
        .filter(|&&t| t < fault_ms && t + 1000 >= fault_ms)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_gap_is_between_two_successes() {
        let g = longest_gap(1000, 5000, &[1100, 1300, 3300, 3400, 4900]);
        assert_eq!(
            g,
            Gap {
                from_ms: 1300,
                to_ms: 3300
            }
        );
        assert_eq!(g.ms(), 2000);
    }

    #[test]
    fn a_gap_still_open_at_the_end_counts_up_to_the_end() {
        // The old figure counted this as zero: no success closed the window.
        let g = longest_gap(1000, 9000, &[1100, 1200, 1300]);
        assert_eq!(
            g,
            Gap {
                from_ms: 1300,
                to_ms: 9000
            }
        );
        assert_eq!(g.ms(), 7700);
    }

    #[test]
    fn a_load_without_success_is_one_window() {
        assert_eq!(longest_gap(1000, 4000, &[]).ms(), 3000);
    }

    #[test]
    fn the_wait_before_the_first_success_counts() {
        let g = longest_gap(1000, 2000, &[1800, 1900]);
        assert_eq!(
            g,
            Gap {
                from_ms: 1000,
                to_ms: 1800
            }
        );
    }

    #[test]
    fn unsorted_successes_outside_the_load_are_ignored() {
        let g = longest_gap(1000, 2000, &[1500, 500, 1200, 2500]);
        assert_eq!(
            g,
            Gap {
                from_ms: 1500,
                to_ms: 2000
            }
        );
    }

    #[test]
    fn failure_windows_close_on_the_next_success_or_at_the_end() {
        let ev = [
            (1100, true),
            (1200, false),
            (1250, false),
            (1700, true),
            (1800, true),
            (1900, false),
        ];
        let w = failure_windows(1000, 3000, &ev, 100);
        assert_eq!(
            w,
            vec![
                Gap {
                    from_ms: 1100,
                    to_ms: 1700
                },
                Gap {
                    from_ms: 1800,
                    to_ms: 3000
                }
            ]
        );
        // A short window is not an outage over 100 ms.
        let short = failure_windows(
            1000,
            3000,
            &[(1100, true), (1150, false), (1160, true)],
            100,
        );
        assert!(short.is_empty());
    }

    #[test]
    fn recovery_is_the_first_success_after_the_fault() {
        assert_eq!(recovery_ms(2000, &[1000, 1999, 24000, 2500]), Some(500));
        // Nothing after the fault: not recovered, never zero.
        assert_eq!(recovery_ms(2000, &[1000, 1999]), None);
    }

    #[test]
    fn registrations_in_the_second_before_a_fault() {
        let acks = [800, 1000, 1500, 1999, 2000, 2100];
        // [1000, 2000): 1000, 1500 and 1999; not the one at the fault.
        assert_eq!(in_second_before(2000, &acks), 3);
        assert_eq!(in_second_before(500, &acks), 0);
    }
}
