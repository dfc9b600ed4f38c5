//! GeneralizedTime (RFC 5280 4.1.2.5.2) to and from seconds since the Unix epoch.

use std::fmt;

use rustls_pki_types::UnixTime;

/// Reads the contents of a GeneralizedTime: `YYYYMMDDHHMMSS[.fraction]Z`. The fraction, which
/// RFC 5280 forbids but some responders write, is accepted and dropped. `None` on anything
/// else, including dates before 1970.
pub(crate) fn parse_generalized(contents: &[u8]) -> Option<UnixTime> {
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let bytes = contents.get(range)?;
        bytes.iter().try_fold(0u64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    };
    let (&last, body) = contents.split_last()?;
    if last != b'Z' || body.len() < 14 {
        return None;
    }
    if let Some(fraction) = body.get(14..) {
        match fraction.split_first() {
            None => {}
            Some((b'.', rest)) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => {}
            Some(_) => return None,
        }
    }
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(8..10)?, digits(10..12)?, digits(12..14)?);
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        days * 86_400 + hour * 3_600 + minute * 60 + second,
    )))
}

fn is_leap(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given date (a date on or after it).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let leap_days = |y: u64| y / 4 - y / 100 + y / 400;
    let years = year - 1970;
    let mut days = years * 365 + leap_days(year - 1) - leap_days(1969);
    days += (1..month).map(|m| days_in_month(year, m)).sum::<u64>();
    days + day - 1
}

/// Displays a time as RFC 3339 (`2026-12-06T12:00:00Z`).
#[derive(Clone, Copy)]
pub(crate) struct Rfc3339(pub(crate) UnixTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// 9999-12-31T23:59:59Z: later times are shown as seconds since the epoch.
        const LAST: u64 = 253_402_300_799;
        let secs = self.0.as_secs();
        if secs > LAST {
            return write!(f, "{secs} s after the Unix epoch");
        }
        let (mut days, rem) = (secs / 86_400, secs % 86_400);
        let mut year = 1970;
        loop {
            let len = if is_leap(year) { 366 } else { 365 };
            if days < len {
                break;
            }
            days -= len;
            year += 1;
        }
        let mut month = 1;
        while days >= days_in_month(year, month) {
            days -= days_in_month(year, month);
            month += 1;
        }
        write!(
            f,
            "{year:04}-{month:02}-{:02}T{:02}:{:02}:{:02}Z",
            days + 1,
            rem / 3_600,
            rem % 3_600 / 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Option<u64> {
        parse_generalized(s.as_bytes()).map(|t| t.as_secs())
    }

    #[test]
    fn reads_generalized_time() {
        assert_eq!(secs("19700101000000Z"), Some(0));
        assert_eq!(secs("20000229235959Z"), Some(951_868_799));
        assert_eq!(secs("20261206120000Z"), Some(1_796_558_400));
        assert_eq!(secs("20261206120000.123Z"), Some(1_796_558_400));
    }

    #[test]
    fn refuses_what_is_not_one() {
        for bad in [
            "",
            "Z",
            "2026120612000Z",
            "20261206120000",
            "20261206120000+0100",
            "20261306120000Z",
            "20250229120000Z",
            "20261206246000Z",
            "19691231235959Z",
            "20261206120000.Z",
            "2026120612000aZ",
        ] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn displays_rfc_3339() {
        let t = parse_generalized(b"20240229075906Z").expect("valid");
        assert_eq!(Rfc3339(t).to_string(), "2024-02-29T07:59:06Z");
        let last = parse_generalized(b"99991231235959Z").expect("valid");
        assert_eq!(Rfc3339(last).to_string(), "9999-12-31T23:59:59Z");
        let far = UnixTime::since_unix_epoch(std::time::Duration::from_secs(u64::MAX));
        assert_eq!(
            Rfc3339(far).to_string(),
            "18446744073709551615 s after the Unix epoch"
        );
    }
}
