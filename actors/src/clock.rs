//! Run ids, timestamps and waiting out retry backoffs: the core never reads the clock
//! nor sleeps, so its drivers do it here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A wait checks this often whether it should stop early.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Waits `wait` (a retry's backoff) in short slices, giving up as soon as `stopped`
/// says so; true if the whole wait passed, false if it was stopped.
pub fn wait_unless(wait: Duration, stopped: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if stopped() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(WAIT_SLICE));
    }
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// A run id unique in this process and sortable by time (`{unix ms}-{pid}-{counter}`),
/// and the current time in ISO 8601 UTC.
pub fn run_id_and_time() -> (String, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let counter = RUNS.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:013}-{}-{counter}", now.as_millis(), std::process::id());
    (id, iso8601(now.as_secs(), now.subsec_millis()))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from seconds since the epoch (proleptic Gregorian).
fn iso8601(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_795_000_000, 5), "2026-11-18T11:06:40.005Z");
        assert_eq!(iso8601(951_782_400, 0), "2000-02-29T00:00:00.000Z");
    }
}
