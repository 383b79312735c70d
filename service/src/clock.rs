//! The kernel's view of the system clock, for operators.
//!
//! TOTP codes are only as good as the clock: replicas that disagree by more
//! than a time step reject good codes. The kernel keeps what the time daemon
//! (chrony on the images) last told it — whether the clock is synchronised
//! and how large the error may be — and `adjtimex(2)` with no mode bits set
//! reads it without changing anything (no privilege needed). `/metrics`
//! exports it and a background task logs a warning while it is
//! unsynchronised; readiness never depends on it (a drifting clock is a
//! warning, not an outage).

use std::time::Duration;

/// `STA_UNSYNC`: the time daemon has not (or no longer) synchronised the
/// clock; `STA_NANO`: `offset` is in nanoseconds rather than microseconds;
/// `TIME_ERROR`: adjtimex's return value for an unsynchronised clock.
use libc::{STA_NANO, STA_UNSYNC, TIME_ERROR};

/// How often the background task looks at the clock.
const WATCH_EVERY: Duration = Duration::from_secs(60);
/// While the clock stays unsynchronised the warning is repeated after this
/// many looks (an hour), so it is in the recent log whenever someone reads it.
const REMIND_AFTER: u32 = 60;

/// What the kernel says about the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockState {
    /// Synchronised to a time source (neither `STA_UNSYNC` nor `TIME_ERROR`).
    pub synchronized: bool,
    /// Estimated error of the clock, seconds (`esterror`).
    pub estimated_error_s: f64,
    /// Upper bound of the error, seconds (`maxerror`, which grows by 500 ppm
    /// while nothing corrects the clock).
    pub max_error_s: f64,
    /// Offset still being corrected, seconds (`offset`).
    pub offset_s: f64,
    /// The raw `status` bits and the return value, for the log.
    pub status: i32,
    pub state: i32,
}

/// The fields of a `struct timex` that [`ClockState`] needs, as the kernel
/// returned them: kept apart from the system call so the interpretation is
/// unit-tested with chosen values.
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    /// adjtimex's return value: TIME_OK … TIME_ERROR.
    pub state: i32,
    pub status: i32,
    /// Microseconds.
    pub esterror: i64,
    /// Microseconds.
    pub maxerror: i64,
    /// Microseconds, or nanoseconds with `STA_NANO`.
    pub offset: i64,
}

impl ClockState {
    pub fn from_raw(raw: Raw) -> ClockState {
        // Divided by an exact power of ten: the correctly rounded decimal.
        let offset_per_s = if raw.status & STA_NANO != 0 { 1e9 } else { 1e6 };
        ClockState {
            synchronized: raw.state != TIME_ERROR && raw.status & STA_UNSYNC == 0,
            estimated_error_s: raw.esterror as f64 / 1e6,
            max_error_s: raw.maxerror as f64 / 1e6,
            offset_s: raw.offset as f64 / offset_per_s,
            status: raw.status,
            state: raw.state,
        }
    }
}

/// Reads the clock's state with `adjtimex(2)` (modes = 0: read only).
pub fn read_raw() -> std::io::Result<Raw> {
    // SAFETY: an all-zero timex is valid input (modes 0 asks for nothing to
    // change) and adjtimex only writes into the struct it is given.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Raw {
        state,
        status: tx.status,
        esterror: tx.esterror as i64,
        maxerror: tx.maxerror as i64,
        offset: tx.offset as i64,
    })
}

pub fn read() -> std::io::Result<ClockState> {
    read_raw().map(ClockState::from_raw)
}

/// The Prometheus series for `/metrics`; when the kernel refuses to answer
/// (a seccomp filter without `adjtimex`), only `twofa_clock_readable 0`, so
/// an alert on the missing state can fire.
pub fn render(out: &mut String, state: &std::io::Result<ClockState>) {
    use std::fmt::Write;
    out.push_str(
        "# HELP twofa_clock_readable Whether the kernel's clock state could be read (adjtimex).\n\
         # TYPE twofa_clock_readable gauge\n",
    );
    let Ok(s) = state else {
        out.push_str("twofa_clock_readable 0\n");
        return;
    };
    let _ = writeln!(
        out,
        "twofa_clock_readable 1\n\
         # HELP twofa_clock_synchronized Whether the kernel reports the clock synchronised to a time source.\n\
         # TYPE twofa_clock_synchronized gauge\n\
         twofa_clock_synchronized {}\n\
         # HELP twofa_clock_estimated_error_seconds The kernel's estimated error of the clock.\n\
         # TYPE twofa_clock_estimated_error_seconds gauge\n\
         twofa_clock_estimated_error_seconds {}\n\
         # HELP twofa_clock_max_error_seconds The kernel's upper bound on the clock's error.\n\
         # TYPE twofa_clock_max_error_seconds gauge\n\
         twofa_clock_max_error_seconds {}\n\
         # HELP twofa_clock_offset_seconds Offset the kernel is still slewing away.\n\
         # TYPE twofa_clock_offset_seconds gauge\n\
         twofa_clock_offset_seconds {}",
        u8::from(s.synchronized),
        s.estimated_error_s,
        s.max_error_s,
        s.offset_s
    );
}

/// What the watcher logs when the state it sees differs from the last one.
#[derive(Debug, PartialEq)]
pub enum Change {
    Unsynchronized,
    Synchronized,
    Unreadable,
    None,
}

/// Decides what to log: a warning when the clock is (or becomes)
/// unsynchronised or unreadable, a note when it is back in sync; `None` as
/// `previous` is the first reading (or an unreadable one), so a bad start is
/// logged too.
pub fn change(previous: Option<bool>, now: Option<bool>) -> Change {
    match now {
        None => Change::Unreadable,
        Some(false) if previous != Some(false) => Change::Unsynchronized,
        Some(true) if previous == Some(false) => Change::Synchronized,
        _ => Change::None,
    }
}

/// What to log at one look: `last` is the previous look's reading (`None`
/// before the first), `looks_since_warning` counts looks since the last
/// warning, this one included.
pub fn decide(last: Option<Option<bool>>, now: Option<bool>, looks_since_warning: u32) -> Change {
    if last != Some(now) {
        change(last.flatten(), now)
    } else if now == Some(false) && looks_since_warning >= REMIND_AFTER {
        Change::Unsynchronized
    } else {
        Change::None
    }
}

/// Looks at the clock every minute for the life of the service and logs
/// what [`decide`] says, repeating the warning every hour while the clock
/// stays unsynchronised.
pub async fn watch() {
    let mut last: Option<Option<bool>> = None;
    let mut since_warning = 0u32;
    loop {
        let state = read();
        let now = state.as_ref().ok().map(|s| s.synchronized);
        since_warning = since_warning.saturating_add(1);
        let what = decide(last, now, since_warning);
        if matches!(what, Change::Unsynchronized | Change::Unreadable) {
            since_warning = 0;
        }
        match (what, &state) {
            (Change::Unsynchronized, Ok(s)) => tracing::warn!(
                estimated_error_s = s.estimated_error_s,
                max_error_s = s.max_error_s,
                status = s.status,
                "the system clock is not synchronised: TOTP codes may be refused if the replicas disagree; check the time daemon (chronyc tracking)"
            ),
            (Change::Synchronized, Ok(s)) => tracing::info!(
                estimated_error_s = s.estimated_error_s,
                "the system clock is synchronised again"
            ),
            (Change::Unreadable, Err(e)) => tracing::warn!(
                error = %e,
                "cannot read the clock's state (adjtimex); twofa_clock_synchronized is not exported"
            ),
            _ => {}
        }
        last = Some(now);
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(state: i32, status: i32) -> Raw {
        Raw {
            state,
            status,
            esterror: 1500,
            maxerror: 250_000,
            offset: -2000,
        }
    }

    #[test]
    fn synchronised_only_without_unsync_bit_and_time_error() {
        // TIME_OK, STA_PLL: chrony disciplining the clock.
        assert!(ClockState::from_raw(raw(0, 0x0001)).synchronized);
        // A pending leap second (TIME_INS) is still synchronised.
        assert!(ClockState::from_raw(raw(1, 0x0001 | 0x0010)).synchronized);
        // STA_UNSYNC set: the state after boot until a daemon syncs.
        assert!(!ClockState::from_raw(raw(0, 0x0040)).synchronized);
        assert!(!ClockState::from_raw(raw(5, 0x0041)).synchronized);
        // TIME_ERROR even with the bit clear (e.g. a clock-hardware fault).
        assert!(!ClockState::from_raw(raw(TIME_ERROR, 0x0001)).synchronized);
    }

    #[test]
    fn errors_in_seconds_and_offset_unit_follows_sta_nano() {
        let micro = ClockState::from_raw(raw(0, 0x0001));
        assert_eq!(micro.estimated_error_s, 0.0015);
        assert_eq!(micro.max_error_s, 0.25);
        assert_eq!(micro.offset_s, -0.002);
        let nano = ClockState::from_raw(raw(0, 0x0001 | STA_NANO));
        assert_eq!(nano.offset_s, -0.000002);
        assert_eq!(nano.estimated_error_s, 0.0015, "esterror is always µs");
    }

    #[test]
    fn metrics_text() {
        let mut out = String::new();
        render(&mut out, &Ok(ClockState::from_raw(raw(0, 0x0040))));
        assert!(out.contains("twofa_clock_readable 1\n"), "{out}");
        assert!(out.contains("twofa_clock_synchronized 0\n"), "{out}");
        assert!(out.contains("twofa_clock_estimated_error_seconds 0.0015\n"));
        assert!(out.contains("twofa_clock_max_error_seconds 0.25\n"));
        assert!(out.contains("# TYPE twofa_clock_synchronized gauge\n"));
        let mut out = String::new();
        render(
            &mut out,
            &Err(std::io::Error::from_raw_os_error(libc::EPERM)),
        );
        assert!(out.ends_with("twofa_clock_readable 0\n"), "{out}");
        assert!(!out.contains("twofa_clock_synchronized"));
    }

    #[test]
    fn logs_on_changes_only() {
        assert_eq!(change(None, Some(false)), Change::Unsynchronized);
        assert_eq!(change(None, Some(true)), Change::None);
        assert_eq!(change(Some(true), Some(false)), Change::Unsynchronized);
        assert_eq!(change(Some(false), Some(false)), Change::None);
        assert_eq!(change(Some(false), Some(true)), Change::Synchronized);
        assert_eq!(change(None, None), Change::Unreadable);
        assert_eq!(change(Some(true), None), Change::Unreadable);
    }

    #[test]
    fn repeats_the_warning_hourly_while_unsynchronised() {
        // First look, unsynchronised: warn.
        assert_eq!(decide(None, Some(false), 1), Change::Unsynchronized);
        // Same state a minute later: quiet until an hour of looks passed.
        assert_eq!(decide(Some(Some(false)), Some(false), 2), Change::None);
        assert_eq!(
            decide(Some(Some(false)), Some(false), REMIND_AFTER - 1),
            Change::None
        );
        assert_eq!(
            decide(Some(Some(false)), Some(false), REMIND_AFTER),
            Change::Unsynchronized
        );
        // Synchronised stays quiet however long; the return is noted once.
        assert_eq!(decide(Some(Some(true)), Some(true), 500), Change::None);
        assert_eq!(
            decide(Some(Some(false)), Some(true), 3),
            Change::Synchronized
        );
        // Unreadable is warned once, not every hour.
        assert_eq!(decide(Some(Some(true)), None, 3), Change::Unreadable);
        assert_eq!(decide(Some(None), None, REMIND_AFTER), Change::None);
    }
}
