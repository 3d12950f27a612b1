//! Traffic to each protected network, per protocol, against its usual rate: the rule that
//! catches what carries no evidence of its own (a flood of well-formed requests, a vector
//! levee has no name for) by its rise alone.
//!
//! Every packet to a protected network ([`crate::networks`]) is counted by the second, per
//! protocol (TCP, UDP, ICMP, other). The usual rate of each is learnt as a moving average
//! over about ten minutes ([`USUAL_SECONDS`]), from the first minute ([`LEARN_SECONDS`]) on.
//! A rise is a rate at least the analysis's `baseline_factor` times the usual one and at
//! least the network's threshold, held for [`HOLD_SECONDS`]: seconds of a rise are not
//! learnt, so an attack never becomes the usual. It ends once the rate has been back for the
//! quiet period.
//!
//! Memory is a few counters per network and protocol, whatever the traffic.

use std::collections::VecDeque;

/// The protocols traffic is learnt by.
pub const PROTOCOLS: [&str; 4] = ["tcp", "udp", "icmp", "other"];

/// Seconds of traffic learnt before a rise can be told: with fewer, "usual" means nothing.
pub const LEARN_SECONDS: u32 = 60;

/// The moving average's time constant, seconds: a usual rate is the last ten minutes'.
pub const USUAL_SECONDS: f64 = 600.0;

/// Seconds a rise must hold: one second over is a burst, two a change (and gives the
/// evidence-led detection, which decides within a second, the first word).
pub const HOLD_SECONDS: u32 = 2;

/// Seconds of silence learnt one by one after a gap in the traffic; past them the usual
/// rate has decayed to nothing that matters.
const GAP_SECONDS: i64 = 3 * USUAL_SECONDS as i64;

const SECOND: i64 = 1_000_000_000;

/// The index in [`PROTOCOLS`] of an IP protocol number.
#[inline]
pub fn protocol_index(proto: u8) -> usize {
    match proto {
        6 => 0,
        17 => 1,
        1 | 58 => 2,
        _ => 3,
    }
}

/// A rise of one network's traffic of one protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct Rise {
    /// The network's index in the networks' list.
    pub network: usize,
    /// The protocol's index in [`PROTOCOLS`].
    pub protocol: usize,
    /// The first second of it, ns since the Unix epoch.
    pub start_ns: i64,
    /// The end of its last second over the usual rate.
    pub end_ns: i64,
    /// Its highest rate, packets a second.
    pub peak_pps: f64,
    /// The usual rate it rose over, packets a second.
    pub usual_pps: f64,
    /// The moment this was decided (a second's end).
    pub at_ns: i64,
}

/// What the baselines tell.
#[derive(Debug, Clone, PartialEq)]
pub enum RiseEvent {
    /// A rise held for [`HOLD_SECONDS`].
    Started(Rise),
    /// Its peak grew by a tenth.
    Updated(Rise),
    /// Its rate has been back under the rise for the quiet period (or the input ended).
    Ended(Rise),
}

#[derive(Debug, Clone, Default)]
struct Counter {
    /// Packets in the second being counted.
    packets: u64,
    /// The usual rate, packets a second.
    usual: f64,
    /// Seconds learnt.
    learnt: u32,
    /// Consecutive seconds over the rise.
    rising: u32,
    /// The rise going on (told or about to be).
    rise: Option<Rise>,
    /// The peak last told.
    told_pps: f64,
}

/// The per-network, per-protocol counters (see the module's overview).
pub struct Baselines {
    counters: Vec<[Counter; 4]>,
    /// Each network's threshold, packets a second.
    thresholds: Vec<f64>,
    factor: f64,
    quiet_ns: i64,
    /// The second being counted (its start, in seconds since the epoch); `i64::MIN` before
    /// the first packet.
    second: i64,
    events: VecDeque<RiseEvent>,
}

impl Baselines {
    /// Counters for networks whose thresholds are `thresholds`; a rise is `factor` times the
    /// usual rate, and ends after `quiet_ns` back under it.
    pub fn new(thresholds: Vec<f64>, factor: f64, quiet_ns: i64) -> Baselines {
        Baselines {
            counters: vec![Default::default(); thresholds.len()],
            thresholds,
            factor: factor.max(1.0),
            quiet_ns,
            second: i64::MIN,
            events: VecDeque::new(),
        }
    }

    /// Takes new thresholds, factor and quiet period (a reloaded configuration with the same
    /// networks): what was learnt stays.
    pub fn retune(&mut self, thresholds: Vec<f64>, factor: f64, quiet_ns: i64) {
        if thresholds.len() == self.counters.len() {
            self.thresholds = thresholds;
        }
        self.factor = factor.max(1.0);
        self.quiet_ns = quiet_ns;
    }

    /// Counts `packets` at `ts_nanos` to network `network` of protocol `protocol`
    /// ([`protocol_index`]). One a little older than the second being counted counts in it.
    #[inline]
    pub fn count(&mut self, ts_nanos: i64, network: usize, protocol: usize, packets: u64) {
        let s = ts_nanos.div_euclid(SECOND);
        if s > self.second {
            self.roll_to(s);
        }
        if let Some(c) = self.counters.get_mut(network) {
            c[protocol & 3].packets += packets;
        }
    }

    /// Moves time on to `now_ns` with no packet: the seconds passed are judged.
    pub fn advance_to(&mut self, now_ns: i64) {
        let s = now_ns.div_euclid(SECOND);
        if self.second != i64::MIN && s > self.second {
            self.roll_to(s);
        }
    }

    /// The input ended: the second counted is judged, and every rise ends.
    pub fn end_all(&mut self) {
        if self.second == i64::MIN {
            return;
        }
        let at = self.second.saturating_add(1).saturating_mul(SECOND);
        self.judge_second(self.second, false);
        for c in self.counters.iter_mut().flatten() {
            if let Some(mut r) = c.rise.take() {
                if c.told_pps > 0.0 {
                    r.at_ns = at;
                    self.events.push_back(RiseEvent::Ended(r));
                }
            }
            c.rising = 0;
            c.told_pps = 0.0;
        }
        self.second = i64::MIN;
    }

    /// Whether an event is queued.
    #[inline]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<RiseEvent> {
        self.events.pop_front()
    }

    /// A network's usual rate of a protocol, packets a second, once learnt.
    pub fn usual_pps(&self, network: usize, protocol: usize) -> Option<f64> {
        let c = &self.counters.get(network)?[protocol & 3];
        (c.learnt >= LEARN_SECONDS).then_some(c.usual)
    }

    /// Judges the second counted and the silent ones up to second `s`, which is counted next.
    #[cold]
    fn roll_to(&mut self, s: i64) {
        if self.second != i64::MIN {
            self.judge_second(self.second, true);
            let gap = s.saturating_sub(self.second).saturating_sub(1);
            for silent in 1..=gap.min(GAP_SECONDS) {
                self.judge_second(self.second + silent, true);
            }
            if gap > GAP_SECONDS {
                // A long silence: what was usual has decayed away.
                for c in self.counters.iter_mut().flatten() {
                    c.usual = 0.0;
                }
            }
        }
        self.second = s;
    }

    /// Judges second `s` of every counter (and clears its count); `learn`: seconds not in a
    /// rise teach the usual rate.
    fn judge_second(&mut self, s: i64, learn: bool) {
        let (start, end) = (
            s.saturating_mul(SECOND),
            s.saturating_add(1).saturating_mul(SECOND),
        );
        for (network, per) in self.counters.iter_mut().enumerate() {
            let threshold = self.thresholds[network];
            for (protocol, c) in per.iter_mut().enumerate() {
                let rate = std::mem::take(&mut c.packets) as f64;
                let over = c.learnt >= LEARN_SECONDS
                    && rate >= threshold
                    && rate >= self.factor * c.usual.max(1.0);
                if over {
                    c.rising += 1;
                    let rise = c.rise.get_or_insert(Rise {
                        network,
                        protocol,
                        start_ns: start,
                        end_ns: end,
                        peak_pps: rate,
                        usual_pps: c.usual,
                        at_ns: end,
                    });
                    rise.end_ns = end;
                    rise.at_ns = end;
                    rise.peak_pps = rise.peak_pps.max(rate);
                    if c.told_pps == 0.0 && c.rising >= HOLD_SECONDS {
                        c.told_pps = rise.peak_pps;
                        self.events.push_back(RiseEvent::Started(rise.clone()));
                    } else if c.told_pps > 0.0 && rise.peak_pps > c.told_pps * 1.1 {
                        c.told_pps = rise.peak_pps;
                        self.events.push_back(RiseEvent::Updated(rise.clone()));
                    }
                    continue;
                }
                c.rising = 0;
                if learn {
                    c.learnt = c.learnt.saturating_add(1);
                    let weight = if c.learnt <= LEARN_SECONDS {
                        1.0 / f64::from(c.learnt) // the mean of the first minute
                    } else {
                        1.0 / USUAL_SECONDS
                    };
                    c.usual += (rate - c.usual) * weight;
                }
                let done = c.rise.as_ref().is_some_and(|r| {
                    end.saturating_sub(r.end_ns) > self.quiet_ns || c.told_pps == 0.0
                });
                if done {
                    let mut r = c.rise.take().expect("checked above");
                    if c.told_pps > 0.0 {
                        r.at_ns = end;
                        self.events.push_back(RiseEvent::Ended(r));
                    }
                    c.told_pps = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_225_600;

    /// Feeds `pps` packets a second of UDP to network 0 for `seconds` from second `from`.
    fn steady(b: &mut Baselines, from: i64, seconds: i64, pps: u64) {
        for s in from..from + seconds {
            for i in 0..pps {
                b.count(
                    (T0 + s) * SECOND + (i * SECOND as u64 / pps.max(1)) as i64,
                    0,
                    1,
                    1,
                );
            }
        }
    }

    fn events(b: &mut Baselines) -> Vec<RiseEvent> {
        std::iter::from_fn(|| b.next_event()).collect()
    }

    #[test]
    fn a_rise_over_the_learnt_rate_is_told_once_held_and_ends_after_the_quiet_period() {
        let mut b = Baselines::new(vec![500.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 120, 100);
        assert!(events(&mut b).is_empty(), "the usual traffic is no rise");
        assert!((b.usual_pps(0, 1).unwrap() - 100.0).abs() < 1.0);
        // 20 times the usual for 10 s.
        steady(&mut b, 120, 10, 2000);
        let e = events(&mut b);
        assert_eq!(e.len(), 1, "{e:?}");
        let RiseEvent::Started(r) = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!((r.network, r.protocol), (0, 1));
        assert_eq!(r.start_ns, (T0 + 120) * SECOND, "from its first second");
        assert_eq!(
            r.at_ns,
            (T0 + 122) * SECOND,
            "told once held for two seconds"
        );
        assert_eq!(r.peak_pps, 2000.0);
        // Back to usual: ends once the quiet period passed, and the rise was not learnt.
        steady(&mut b, 130, 10, 100);
        let e = events(&mut b);
        let RiseEvent::Ended(r) = &e[..].last().unwrap() else {
            panic!("{e:?}")
        };
        assert_eq!(r.end_ns, (T0 + 130) * SECOND);
        assert!(r.at_ns > r.end_ns + 5 * SECOND);
        assert!(b.usual_pps(0, 1).unwrap() < 110.0);
    }

    #[test]
    fn no_rise_is_told_before_the_rate_is_learnt_below_the_threshold_or_for_one_second() {
        // Not learnt yet.
        let mut b = Baselines::new(vec![500.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 10, 10);
        steady(&mut b, 10, 5, 5000);
        assert!(events(&mut b).is_empty());
        // Learnt, but under the network's threshold.
        let mut b = Baselines::new(vec![5000.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 70, 10);
        steady(&mut b, 70, 5, 4000);
        assert!(events(&mut b).is_empty());
        // One second's burst.
        let mut b = Baselines::new(vec![500.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 70, 10);
        steady(&mut b, 70, 1, 4000);
        steady(&mut b, 71, 5, 10);
        assert!(events(&mut b).is_empty());
    }

    #[test]
    fn a_silent_link_ends_a_rise_and_the_input_ending_ends_every_rise() {
        let mut b = Baselines::new(vec![500.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 70, 10);
        steady(&mut b, 70, 4, 4000);
        assert!(matches!(events(&mut b)[..], [RiseEvent::Started(_)]));
        b.advance_to((T0 + 90) * SECOND);
        assert!(matches!(events(&mut b)[..], [RiseEvent::Ended(_)]));
        steady(&mut b, 90, 70, 10);
        steady(&mut b, 160, 4, 4000);
        assert!(matches!(events(&mut b)[..], [RiseEvent::Started(_)]));
        b.end_all();
        assert!(matches!(events(&mut b)[..], [RiseEvent::Ended(_)]));
        // A day of silence: the usual rate is forgotten, not judged a second at a time.
        let mut b = Baselines::new(vec![500.0], 10.0, 5 * SECOND);
        steady(&mut b, 0, 70, 100);
        b.advance_to((T0 + 86_400) * SECOND);
        assert_eq!(b.usual_pps(0, 1), Some(0.0));
        assert!(events(&mut b).is_empty());
    }
}
