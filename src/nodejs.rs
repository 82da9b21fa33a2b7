//! The Node.js release schedule, embedded and dated, and the support status of a version on a
//! given day. Status comes from the dates alone, never from whether a major is odd or even.
//!
//! Source: the Node.js Release Working Group schedule (github.com/nodejs/Release, README and
//! schedule.json), copied on [`TABLE_AS_OF`]. Lines up to 26 follow the old scheme (odd lines
//! never become LTS); from 27 on every line becomes LTS and has no maintenance phase.

use jiff::civil::{Date, date};

/// The day the table below was last checked against the published schedule.
pub const TABLE_AS_OF: Date = date(2026, 12, 4);

/// Days before end of life from which a release counts as ending soon.
pub const EOL_WARNING_DAYS: i32 = 90;

/// One release line (`cycle`) of Node.js.
#[derive(Clone, Copy, Debug)]
pub struct ReleaseLine {
    pub major: u32,
    pub codename: Option<&'static str>,
    pub released: Date,
    /// Start of Active LTS; `None` for lines that never became LTS.
    pub lts_start: Option<Date>,
    /// Start of maintenance; `None` when the line has no maintenance phase.
    pub maintenance_start: Option<Date>,
    pub end_of_life: Date,
}

const fn line(
    major: u32,
    codename: Option<&'static str>,
    released: Date,
    lts_start: Option<Date>,
    maintenance_start: Option<Date>,
    end_of_life: Date,
) -> ReleaseLine {
    ReleaseLine {
        major,
        codename,
        released,
        lts_start,
        maintenance_start,
        end_of_life,
    }
}

/// Release lines from 12 on; anything older is long past end of life.
pub const RELEASES: &[ReleaseLine] = &[
    line(
        12,
        Some("Erbium"),
        date(2019, 4, 23),
        Some(date(2019, 10, 21)),
        Some(date(2020, 11, 30)),
        date(2022, 4, 30),
    ),
    line(13, None, date(2019, 10, 22), None, None, date(2020, 6, 1)),
    line(
        14,
        Some("Fermium"),
        date(2020, 4, 21),
        Some(date(2020, 10, 27)),
        Some(date(2021, 10, 19)),
        date(2023, 4, 30),
    ),
    line(15, None, date(2020, 10, 20), None, None, date(2021, 6, 1)),
    line(
        16,
        Some("Gallium"),
        date(2021, 4, 20),
        Some(date(2021, 10, 26)),
        Some(date(2022, 10, 18)),
        date(2023, 9, 11),
    ),
    line(17, None, date(2021, 10, 19), None, None, date(2022, 6, 1)),
    line(
        18,
        Some("Hydrogen"),
        date(2022, 4, 19),
        Some(date(2022, 10, 25)),
        Some(date(2023, 10, 18)),
        date(2025, 4, 30),
    ),
    line(19, None, date(2022, 10, 18), None, None, date(2023, 6, 1)),
    line(
        20,
        Some("Iron"),
        date(2023, 4, 18),
        Some(date(2023, 10, 24)),
        Some(date(2024, 10, 22)),
        date(2026, 4, 30),
    ),
    line(21, None, date(2023, 10, 17), None, None, date(2024, 6, 1)),
    line(
        22,
        Some("Jod"),
        date(2024, 4, 24),
        Some(date(2024, 10, 29)),
        Some(date(2025, 10, 21)),
        date(2027, 4, 30),
    ),
    line(23, None, date(2024, 10, 16), None, None, date(2025, 6, 1)),
    line(
        24,
        Some("Krypton"),
        date(2025, 5, 6),
        Some(date(2025, 10, 28)),
        Some(date(2026, 10, 20)),
        date(2028, 4, 30),
    ),
    line(25, None, date(2025, 10, 15), None, None, date(2026, 6, 1)),
    line(
        26,
        Some("Lithium"),
        date(2026, 5, 5),
        Some(date(2026, 10, 28)),
        Some(date(2027, 10, 20)),
        date(2029, 4, 30),
    ),
    // From 27 on: Alpha from 2026-10-28, Current from 2027-04-22, LTS for 30 months.
    line(
        27,
        None,
        date(2027, 4, 22),
        Some(date(2027, 10, 20)),
        None,
        date(2030, 4, 30),
    ),
];

/// Support status of a release line on one day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Before its first release (a pre-release build).
    Prerelease,
    /// Released, not (yet) LTS: gets features and fixes, short-lived unless it becomes LTS.
    Current,
    ActiveLts,
    Maintenance,
    EndOfLife,
    /// Newer than the table knows.
    Unknown,
}

impl Status {
    pub fn describe(self) -> &'static str {
        match self {
            Status::Prerelease => "a pre-release",
            Status::Current => "a Current (non-LTS) release",
            Status::ActiveLts => "in Active LTS",
            Status::Maintenance => "in maintenance (critical fixes only)",
            Status::EndOfLife => "past end of life",
            Status::Unknown => "newer than the release table",
        }
    }
}

/// Looks up the release line of a major version.
pub fn release_line(major: u32) -> Option<&'static ReleaseLine> {
    RELEASES.iter().find(|l| l.major == major)
}

/// Status of `major` on `today`.
pub fn status(major: u32, today: Date) -> Status {
    let Some(line) = release_line(major) else {
        let oldest = RELEASES.first().map_or(0, |l| l.major);
        return if major < oldest {
            Status::EndOfLife
        } else {
            Status::Unknown
        };
    };
    if today >= line.end_of_life {
        Status::EndOfLife
    } else if line.maintenance_start.is_some_and(|d| today >= d) {
        Status::Maintenance
    } else if line.lts_start.is_some_and(|d| today >= d) {
        Status::ActiveLts
    } else if today >= line.released {
        Status::Current
    } else {
        Status::Prerelease
    }
}

/// Days from `today` until end of life of `major`, negative once past it.
pub fn days_until_eol(major: u32, today: Date) -> Option<i32> {
    let line = release_line(major)?;
    let span = today.until(line.end_of_life).ok()?;
    Some(span.get_days())
}

/// Parses `v20.20.2`, `20.20.2`, `18.19.0+dfsg-6~deb12u2` or `20.15.1-r0` into its numeric
/// `major.minor.patch` form.
pub fn normalize_version(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_start_matches('v');
    let raw = raw.split_once(':').map_or(raw, |(_, rest)| rest); // Debian epoch
    let end = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let numeric = raw[..end].trim_end_matches('.');
    let parts: Vec<&str> = numeric.split('.').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    parts[0].parse::<u32>().ok()?;
    Some(numeric.to_owned())
}

/// Major version of a normalised version string.
pub fn major_of(version: &str) -> Option<u32> {
    version.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = date(2026, 12, 4);

    #[test]
    fn status_on_reference_day() {
        assert_eq!(status(18, TODAY), Status::EndOfLife);
        assert_eq!(status(20, TODAY), Status::EndOfLife);
        assert_eq!(status(22, TODAY), Status::Maintenance);
        assert_eq!(status(24, TODAY), Status::Maintenance);
        assert_eq!(status(26, TODAY), Status::ActiveLts);
        assert_eq!(status(25, TODAY), Status::EndOfLife);
        assert_eq!(status(27, TODAY), Status::Prerelease);
        assert_eq!(status(8, TODAY), Status::EndOfLife);
        assert_eq!(status(40, TODAY), Status::Unknown);
    }

    #[test]
    fn status_follows_dates_not_parity() {
        // 24 was Current until its LTS start, then Active LTS until maintenance.
        assert_eq!(status(24, date(2025, 6, 1)), Status::Current);
        assert_eq!(status(24, date(2025, 10, 28)), Status::ActiveLts);
        assert_eq!(status(24, date(2026, 10, 19)), Status::ActiveLts);
        assert_eq!(status(24, date(2026, 10, 20)), Status::Maintenance);
        // 27 is LTS without a maintenance phase.
        assert_eq!(status(27, date(2029, 1, 1)), Status::ActiveLts);
    }

    #[test]
    fn eol_boundary_is_inclusive() {
        assert_eq!(status(20, date(2026, 4, 29)), Status::Maintenance);
        assert_eq!(status(20, date(2026, 4, 30)), Status::EndOfLife);
        assert_eq!(days_until_eol(20, date(2026, 4, 20)), Some(10));
    }

    #[test]
    fn normalize_handles_packaging_suffixes() {
        assert_eq!(normalize_version("v20.20.2").unwrap(), "20.20.2");
        assert_eq!(
            normalize_version("18.19.0+dfsg-6~deb12u2").unwrap(),
            "18.19.0"
        );
        assert_eq!(normalize_version("20.15.1-r0").unwrap(), "20.15.1");
        assert_eq!(normalize_version("1:12.22.12~dfsg-1").unwrap(), "12.22.12");
        assert_eq!(normalize_version("22").unwrap(), "22");
        assert!(normalize_version("latest").is_none());
    }

    #[test]
    fn table_is_sorted_and_consistent() {
        for pair in RELEASES.windows(2) {
            assert!(pair[0].major < pair[1].major);
        }
        for line in RELEASES {
            assert!(line.released < line.end_of_life, "{}", line.major);
            if let (Some(lts), Some(maintenance)) = (line.lts_start, line.maintenance_start) {
                assert!(
                    lts < maintenance && maintenance < line.end_of_life,
                    "{}",
                    line.major
                );
            }
        }
    }
}
