//! Page tokens: the rest of a query result, handed out a page at a time
//! (the OMG offer iterator as a resumable token).
//!
//! A page holds offer ids, not offers: each page shows the offers as they
//! are when it is read, and skips those withdrawn or lapsed meanwhile.

use std::sync::{Arc, Mutex};

use dashmap::DashMap;

use crate::query::Desired;

pub struct Page {
    ids: Vec<Arc<str>>,
    next: usize,
    pub desired: Desired,
    expires_ms: u64,
    ttl_ms: u64,
}

#[derive(Default)]
pub struct Pages {
    pages: DashMap<String, Mutex<Page>>,
}

/// One page taken from a token.
pub struct Taken {
    pub ids: Vec<Arc<str>>,
    pub desired: Desired,
    /// Ids left after this page.
    pub remaining: usize,
}

impl Pages {
    /// Stores the rest of a result and returns its token.
    pub fn open(&self, ids: Vec<Arc<str>>, desired: Desired, now_ms: u64, ttl_ms: u64) -> String {
        use rand::Rng;
        let token = format!("{:032x}", rand::rng().random::<u128>());
        let page = Page { ids, next: 0, desired, expires_ms: now_ms.saturating_add(ttl_ms), ttl_ms };
        self.pages.insert(token.clone(), Mutex::new(page));
        token
    }

    /// Takes up to `n` ids from a token, extending its life; the token is
    /// closed when nothing remains. `None` if unknown or expired.
    pub fn take(&self, token: &str, n: usize, now_ms: u64) -> Option<Taken> {
        let taken = {
            let entry = self.pages.get(token)?;
            let mut page = entry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if page.expires_ms <= now_ms {
                None
            } else {
                let end = page.next.saturating_add(n).min(page.ids.len());
                let ids = page.ids[page.next..end].to_vec();
                page.next = end;
                page.expires_ms = now_ms.saturating_add(page.ttl_ms);
                Some(Taken { ids, desired: page.desired.clone(), remaining: page.ids.len() - end })
            }
        };
        match &taken {
            Some(t) if t.remaining > 0 => {}
            _ => {
                self.pages.remove(token);
            }
        }
        taken
    }

    pub fn sweep(&self, now_ms: u64) {
        self.pages.retain(|_, page| page.get_mut().map_or(true, |p| p.expires_ms > now_ms));
    }

    pub fn len(&self) -> usize {
        self.pages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }
}
