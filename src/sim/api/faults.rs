//! Faults a test switched on (`Simulator::set_fault`): which one the next request meets, and
//! when a counted fault is used up.

use crate::sim::state::SimState;
use crate::sim::{Fault, Match};

pub(super) enum FaultHit {
    RateLimit(u64),
    Server,
    NotFound,
    AfterApply,
    Slow(std::time::Duration),
    LandsLate(std::time::Duration),
}

pub(super) fn take_fault(s: &mut SimState, method: &str, path: &str) -> Option<FaultHit> {
    let fault = s.fault.as_mut()?;
    let applies = |only: &Option<Match>| only.as_ref().is_none_or(|m| m.matches(method, path));
    let (hit, exhausted) = match fault {
        Fault::RateLimit {
            count,
            retry_after_secs,
            only,
        } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::RateLimit(*retry_after_secs)), *count == 0)
        }
        Fault::ServerError { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::Server), *count == 0)
        }
        Fault::NotFound { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::NotFound), *count == 0)
        }
        Fault::ErrorAfterApply { count, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::AfterApply), *count == 0)
        }
        Fault::Slow { delay, only } if applies(only) => (Some(FaultHit::Slow(*delay)), false),
        Fault::LandsLate { count, delay, only } if applies(only) && *count > 0 => {
            *count -= 1;
            (Some(FaultHit::LandsLate(*delay)), *count == 0)
        }
        _ => (None, false),
    };
    if exhausted {
        s.fault = None;
    }
    hit
}
