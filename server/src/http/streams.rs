//! Caps on long-lived streams (a service's live rollout, a followed log): at most
//! [`PER_CALLER`] open per person or token and [`TOTAL`] in all. Over a cap the request is
//! answered 429 saying which cap and what to do; a stream gives its place back when it ends.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use app::api::{auth::Principal, AppError};

/// Open streams one person (or token) may have.
pub const PER_CALLER: usize = 20;
/// Open streams in all.
pub const TOTAL: usize = 2_000;

#[derive(Default)]
struct Open {
    by_caller: HashMap<String, usize>,
    total: usize,
}

#[derive(Clone)]
pub struct StreamLimits {
    per_caller: usize,
    total: usize,
    open: Arc<Mutex<Open>>,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self::new(PER_CALLER, TOTAL)
    }
}

/// One open stream's place; dropping it (with the stream) frees the place.
pub struct StreamPermit {
    open: Arc<Mutex<Open>>,
    caller: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_caller.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_caller.remove(&self.caller);
            }
        }
    }
}

impl StreamLimits {
    pub fn new(per_caller: usize, total: usize) -> Self {
        Self {
            per_caller,
            total,
            open: Arc::default(),
        }
    }

    /// A place for one more stream of `who`, or why not.
    pub fn acquire(&self, who: &Principal) -> Result<StreamPermit, AppError> {
        let caller = match who.token_scope {
            Some(_) => format!("token of {}", who.username),
            None => who.username.clone(),
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.total {
            return Err(AppError::TooManyRequests {
                message: format!(
                    "Canopy has {} live streams open, its limit; try again in a minute",
                    self.total
                ),
            });
        }
        let mine = open.by_caller.get(&caller).copied().unwrap_or(0);
        if mine >= self.per_caller {
            return Err(AppError::TooManyRequests {
                message: format!(
                    "{} has {mine} live streams open (at most {}); close some tabs or log views \
                     and try again",
                    who.username, self.per_caller
                ),
            });
        }
        open.total += 1;
        *open.by_caller.entry(caller.clone()).or_default() += 1;
        Ok(StreamPermit {
            open: self.open.clone(),
            caller,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str) -> Principal {
        Principal {
            user_id: 1,
            username: name.to_owned(),
            org_admin: false,
            teams: Default::default(),
            token_scope: None,
            address: None,
        }
    }

    #[test]
    fn each_caller_and_everyone_together_have_a_cap_and_ended_streams_give_places_back() {
        let limits = StreamLimits::new(2, 3);
        let (ann, bob) = (person("ann"), person("bob"));
        let first = limits.acquire(&ann).unwrap();
        let _second = limits.acquire(&ann).unwrap();
        let refused = limits.acquire(&ann).err().unwrap();
        assert!(
            refused.to_string().contains("ann has 2 live streams open"),
            "{refused}"
        );
        let _third = limits.acquire(&bob).unwrap();
        let full = limits.acquire(&bob).err().unwrap();
        assert!(
            full.to_string().contains("3 live streams open, its limit"),
            "{full}"
        );
        drop(first);
        assert!(limits.acquire(&ann).is_ok());
    }
}
