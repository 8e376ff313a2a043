//! Per-client request rate limiting: a token bucket per client IP address.

use crate::sync::Locked;
use std::collections::HashMap;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A request budget: `count` requests per `period`. A count of 0 disables limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
}

impl RateLimit {
    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            period: Duration::from_secs(60),
        }
    }
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, period) = match s.trim().split_once('/') {
            None => (s.trim(), "min"),
            Some((c, p)) => (c.trim(), p.trim()),
        };
        let count: u32 = count
            .parse()
            .map_err(|_| format!("rate limit count {count:?} is not a whole number"))?;
        let period = match period {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("rate limit period {other:?} is not s, min or hour")),
        };
        Ok(Self { count, period })
    }
}

/// Above this many tracked clients, full buckets are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by client address; a full bucket holds `count` requests.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill_per_sec(&self) -> f64 {
        f64::from(self.limit.count) / self.limit.period.as_secs_f64()
    }

    /// Takes one request from `client`'s budget; `Err(wait)` says how long until one is available.
    pub fn check(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.limit.count == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.limit.count);
        let rate = self.refill_per_sec();
        let mut buckets = self.buckets.locked();
        if buckets.len() >= MAX_TRACKED_CLIENTS {
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < capacity
            });
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn parses_the_accepted_spellings() {
        assert_eq!("600/min".parse(), Ok(RateLimit::per_minute(600)));
        assert_eq!("600".parse(), Ok(RateLimit::per_minute(600)));
        let per_sec: RateLimit = "10/s".parse().unwrap();
        assert_eq!(per_sec.period, Duration::from_secs(1));
        assert!("ten/min".parse::<RateLimit>().is_err());
        assert!("5/fortnight".parse::<RateLimit>().is_err());
    }

    #[test]
    fn a_client_past_its_budget_is_told_how_long_to_wait() {
        let limiter = RateLimiter::new(RateLimit::per_minute(3));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check(A, t0).is_ok());
        }
        let wait = limiter.check(A, t0).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert!(
            limiter.check(B, t0).is_ok(),
            "other clients keep their budget"
        );
        assert!(limiter.check(A, t0 + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn a_zero_count_disables_limiting() {
        let limiter = RateLimiter::new(RateLimit::per_minute(0));
        let t0 = Instant::now();
        assert!((0..1000).all(|_| limiter.check(A, t0).is_ok()));
    }
}
