//! Business hours: is a person at work now, and if not, when will one reply?
//!
//! Only the handoff notice changes outside hours; the case is created all the same, so it waits
//! in the queue for the morning. Time zones come from jiff with its bundled tz database, because
//! `provided.al2023` Lambda images are not guaranteed to ship `/usr/share/zoneinfo`.

use jiff::Timestamp;
use jiff::Zoned;
use jiff::civil::Date;

use super::settings::BusinessHours;

impl BusinessHours {
    fn is_open_day(&self, date: Date) -> bool {
        self.days.contains(&date.weekday())
    }

    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.time_zone.clone());
        let t = local.time();
        self.is_open_day(local.date()) && t >= self.open && t < self.close
    }

    /// The next time the doors open after `now` (which is outside hours).
    pub fn next_opening(&self, now: Timestamp) -> Option<Zoned> {
        let local = now.to_zoned(self.time_zone.clone());
        let mut date = local.date();
        if local.time() >= self.open {
            date = date.tomorrow().ok()?;
        }
        for _ in 0..8 {
            if self.is_open_day(date) {
                return date
                    .to_datetime(self.open)
                    .to_zoned(self.time_zone.clone())
                    .ok();
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// "today at 09:00 (America/New_York)", "tomorrow at …", "on Monday at …".
    pub fn describe_next_opening(&self, now: Timestamp) -> String {
        let Some(next) = self.next_opening(now) else {
            return "as soon as the team is back".into();
        };
        let today = now.to_zoned(self.time_zone.clone()).date();
        let day = if next.date() == today {
            "today".to_owned()
        } else if today.tomorrow().ok() == Some(next.date()) {
            "tomorrow".to_owned()
        } else {
            format!("on {}", next.strftime("%A"))
        };
        format!("{day} at {} ({})", next.strftime("%H:%M"), self.zone_name)
    }
}

#[cfg(test)]
mod tests {
    use crate::assistant::settings::Settings;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn open_and_closed_follow_the_local_clock() {
        // Default: Mon–Fri 09:00–17:00 America/New_York (UTC-5 in January).
        let h = Settings::embedded().business_hours.unwrap();
        assert!(h.is_open(at("2026-01-14T15:00:00Z"))); // Wed 10:00 local
        assert!(!h.is_open(at("2026-01-14T13:59:00Z"))); // Wed 08:59
        assert!(!h.is_open(at("2026-01-14T22:00:00Z"))); // Wed 17:00: closing time
        assert!(!h.is_open(at("2026-01-17T15:00:00Z"))); // Saturday
    }

    #[test]
    fn the_next_opening_is_worded_for_a_person() {
        let h = Settings::embedded().business_hours.unwrap();
        assert_eq!(
            h.describe_next_opening(at("2026-01-14T12:00:00Z")), // Wed 07:00
            "today at 09:00 (America/New_York)"
        );
        assert_eq!(
            h.describe_next_opening(at("2026-01-14T23:30:00Z")), // Wed 18:30
            "tomorrow at 09:00 (America/New_York)"
        );
        assert_eq!(
            h.describe_next_opening(at("2026-01-16T23:30:00Z")), // Fri 18:30
            "on Monday at 09:00 (America/New_York)"
        );
        // Summer time: 09:00 EDT is 13:00Z.
        let next = h.next_opening(at("2026-07-04T12:00:00Z")).unwrap(); // Saturday
        assert_eq!(next.timestamp(), at("2026-07-06T13:00:00Z"));
    }
}
