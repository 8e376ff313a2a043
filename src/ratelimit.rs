//! Per-client request rate limiting: a budget per client IP address, kept by `governor`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

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

/// Above this many tracked clients, those whose budget is whole again are forgotten.
const MAX_TRACKED_CLIENTS: usize = 10_000;

type Keyed<C> = governor::RateLimiter<
    IpAddr,
    DefaultKeyedStateStore<IpAddr>,
    C,
    NoOpMiddleware<<C as Clock>::Instant>,
>;

/// A budget per client address (`governor`'s GCRA, equivalent to a token bucket that holds
/// `count` requests and refills over `period`); `None` inside when limiting is off.
pub struct RateLimiter<C: Clock = DefaultClock> {
    limiter: Option<Keyed<C>>,
    clock: C,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self::with_clock(limit, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RateLimiter<C> {
    pub fn with_clock(limit: RateLimit, clock: C) -> Self {
        let quota = NonZeroU32::new(limit.count).and_then(|burst| {
            Quota::with_period(limit.period / burst.get()).map(|q| q.allow_burst(burst))
        });
        Self {
            limiter: quota.map(|q| governor::RateLimiter::dashmap_with_clock(q, clock.clone())),
            clock,
        }
    }

    /// Takes one request from `client`'s budget; `Err(wait)` says how long until one is available.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() >= MAX_TRACKED_CLIENTS {
            limiter.retain_recent();
        }
        limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

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
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(RateLimit::per_minute(3), clock.clone());
        for _ in 0..3 {
            assert!(limiter.check(A).is_ok());
        }
        let wait = limiter.check(A).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20));
        assert!(limiter.check(B).is_ok(), "other clients keep their budget");
        clock.advance(Duration::from_secs(20));
        assert!(limiter.check(A).is_ok());
        assert!(limiter.check(A).is_err(), "one request came back, not more");
    }

    #[test]
    fn a_zero_count_disables_limiting() {
        let limiter = RateLimiter::new(RateLimit::per_minute(0));
        assert!((0..1000).all(|_| limiter.check(A).is_ok()));
    }

    #[test]
    fn many_clients_are_forgotten_once_their_budget_is_whole() {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(RateLimit::per_minute(60), clock.clone());
        for i in 0..MAX_TRACKED_CLIENTS as u32 {
            assert!(limiter.check(IpAddr::V4(i.into())).is_ok());
        }
        clock.advance(Duration::from_secs(2));
        assert!(limiter.check(A).is_ok());
        let tracked = limiter.limiter.as_ref().unwrap().len();
        assert!(tracked < 10, "{tracked} clients still tracked");
    }
}
