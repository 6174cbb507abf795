//! What a Lua pattern match will cost, before Lua runs it.
//!
//! Lua's `string.find`, `match`, `gmatch` and `gsub` run in C, where no hook
//! fires: a pattern that backtracks (`("a"):rep(30000):find(("a*"):rep(20) .. "b")`)
//! would hold a sandboxed call far past its quota. This module walks the same
//! backtracking search as Lua's matcher (`lstrlib.c`), counting steps, and
//! stops at a budget, so the sandbox can refuse a match it cannot afford and
//! charge the plugin for one it can. It decides cost only: the match itself is
//! still Lua's.

/// Lua's limits: nested matcher calls (`MAXCCALLS`) and captures (`LUA_MAXCAPTURES`).
const MAX_DEPTH: usize = 200;
const MAX_CAPTURES: usize = 32;
const CAP_UNFINISHED: isize = -1;
const CAP_POSITION: isize = -2;

/// Why a walk stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// More steps than the budget.
    Exceeded,
    /// Lua would raise an error (malformed pattern, too complex): let it.
    Malformed,
}

/// Which function's search: one search from `init`, or the repeated
/// searches of `gsub` (at most `max` matches) and `gmatch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    Once { init: i64 },
    Each { max: u64 },
}

struct Matcher<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    depth: usize,
    level: usize,
    captures: [(usize, isize); MAX_CAPTURES],
    steps: u64,
    limit: u64,
}

type Step = Result<Option<usize>, Stop>;

fn class_matches(c: u8, class: u8) -> bool {
    let result = match class.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => c == b' ' || (b'\t'..=b'\r').contains(&c),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        _ => return class == c,
    };
    if class.is_ascii_uppercase() {
        !result
    } else {
        result
    }
}

impl Matcher<'_> {
    fn tick(&mut self, n: u64) -> Result<(), Stop> {
        self.steps += n;
        if self.steps > self.limit {
            Err(Stop::Exceeded)
        } else {
            Ok(())
        }
    }

    /// The pattern byte at `i`; past the end reads as C's terminating 0.
    fn p(&self, i: usize) -> u8 {
        self.pat.get(i).copied().unwrap_or(0)
    }

    fn s(&self, i: usize) -> u8 {
        self.src.get(i).copied().unwrap_or(0)
    }

    /// Where the single-character class starting at `p` ends.
    fn class_end(&self, mut p: usize) -> Result<usize, Stop> {
        let c = self.p(p);
        p += 1;
        if c == b'%' {
            if p >= self.pat.len() {
                return Err(Stop::Malformed);
            }
            return Ok(p + 1);
        }
        if c == b'[' {
            if self.p(p) == b'^' {
                p += 1;
            }
            loop {
                if p >= self.pat.len() {
                    return Err(Stop::Malformed);
                }
                let c = self.p(p);
                p += 1;
                if c == b'%' && p < self.pat.len() {
                    p += 1;
                }
                if self.p(p) == b']' {
                    break;
                }
            }
            return Ok(p + 1);
        }
        Ok(p)
    }

    /// `[...]` from `p` (at '[') to `end` (at ']').
    fn bracket_matches(&self, c: u8, mut p: usize, end: usize) -> bool {
        let mut matched = true;
        if self.p(p + 1) == b'^' {
            matched = false;
            p += 1;
        }
        p += 1;
        while p < end {
            if self.p(p) == b'%' {
                p += 1;
                if class_matches(c, self.p(p)) {
                    return matched;
                }
            } else if self.p(p + 1) == b'-' && p + 2 < end {
                if self.p(p) <= c && c <= self.p(p + 2) {
                    return matched;
                }
                p += 2;
            } else if self.p(p) == c {
                return matched;
            }
            p += 1;
        }
        !matched
    }

    fn single_matches(&self, s: usize, p: usize, ep: usize) -> bool {
        if s >= self.src.len() {
            return false;
        }
        let c = self.src[s];
        match self.p(p) {
            b'.' => true,
            b'%' => class_matches(c, self.p(p + 1)),
            b'[' => self.bracket_matches(c, p, ep - 1),
            other => other == c,
        }
    }

    fn balance(&mut self, s: usize, p: usize) -> Step {
        if p + 1 >= self.pat.len() {
            return Err(Stop::Malformed);
        }
        if s >= self.src.len() || self.src[s] != self.p(p) {
            return Ok(None);
        }
        let (open, close) = (self.p(p), self.p(p + 1));
        let mut depth = 1;
        let mut s = s + 1;
        while s < self.src.len() {
            self.tick(1)?;
            let c = self.src[s];
            if c == close {
                depth -= 1;
                if depth == 0 {
                    return Ok(Some(s + 1));
                }
            } else if c == open {
                depth += 1;
            }
            s += 1;
        }
        Ok(None)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Step {
        let mut i = 0;
        while self.single_matches(s + i, p, ep) {
            i += 1;
        }
        self.tick(i as u64)?;
        loop {
            self.tick(1)?;
            if let Some(end) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(end));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Step {
        loop {
            self.tick(1)?;
            if let Some(end) = self.do_match(s, ep + 1)? {
                return Ok(Some(end));
            }
            if self.single_matches(s, p, ep) {
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: isize) -> Step {
        if self.level >= MAX_CAPTURES {
            return Err(Stop::Malformed);
        }
        self.captures[self.level] = (s, what);
        self.level += 1;
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.level -= 1;
        }
        Ok(result)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Step {
        let open = (0..self.level)
            .rev()
            .find(|&l| self.captures[l].1 == CAP_UNFINISHED)
            .ok_or(Stop::Malformed)?;
        self.captures[open].1 = (s - self.captures[open].0) as isize;
        let result = self.do_match(s, p)?;
        if result.is_none() {
            self.captures[open].1 = CAP_UNFINISHED;
        }
        Ok(result)
    }

    fn back_reference(&mut self, s: usize, index: u8) -> Step {
        let l = index.wrapping_sub(b'1') as usize;
        if l >= self.level || self.captures[l].1 < 0 {
            return Err(Stop::Malformed);
        }
        let (start, len) = (self.captures[l].0, self.captures[l].1 as usize);
        self.tick(len as u64 / 16)?;
        let same = self.src.get(start..start + len) == self.src.get(s..s + len);
        Ok(if s + len <= self.src.len() && same {
            Some(s + len)
        } else {
            None
        })
    }

    fn do_match(&mut self, mut s: usize, mut p: usize) -> Step {
        if self.depth == 0 {
            return Err(Stop::Malformed);
        }
        self.depth -= 1;
        let result = loop {
            self.tick(1)?;
            if p >= self.pat.len() {
                break Some(s);
            }
            match self.p(p) {
                b'(' => {
                    break if self.p(p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)?
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)?
                    };
                }
                b')' => break self.end_capture(s, p + 1)?,
                b'$' if p + 1 == self.pat.len() => {
                    break (s == self.src.len()).then_some(s);
                }
                b'%' if self.p(p + 1) == b'b' => match self.balance(s, p + 2)? {
                    Some(end) => {
                        s = end;
                        p += 4;
                    }
                    None => break None,
                },
                b'%' if self.p(p + 1) == b'f' => {
                    p += 2;
                    if self.p(p) != b'[' {
                        return Err(Stop::Malformed);
                    }
                    let ep = self.class_end(p)?;
                    let previous = if s == 0 { 0 } else { self.s(s - 1) };
                    if !self.bracket_matches(previous, p, ep - 1)
                        && self.bracket_matches(self.s(s), p, ep - 1)
                    {
                        p = ep;
                    } else {
                        break None;
                    }
                }
                b'%' if self.p(p + 1).is_ascii_digit() => {
                    match self.back_reference(s, self.p(p + 1))? {
                        Some(end) => {
                            s = end;
                            p += 2;
                        }
                        None => break None,
                    }
                }
                _ => {
                    let ep = self.class_end(p)?;
                    let suffix = self.p(ep);
                    if !self.single_matches(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        break None;
                    }
                    match suffix {
                        b'?' => {
                            if let Some(end) = self.do_match(s + 1, ep + 1)? {
                                break Some(end);
                            }
                            p = ep + 1;
                        }
                        b'+' => break self.max_expand(s + 1, p, ep)?,
                        b'*' => break self.max_expand(s, p, ep)?,
                        b'-' => break self.min_expand(s, p, ep)?,
                        _ => {
                            s += 1;
                            p = ep;
                        }
                    }
                }
            }
        };
        self.depth += 1;
        Ok(result)
    }

    /// One match attempt at `s`, with fresh captures.
    fn attempt(&mut self, s: usize, p: usize) -> Step {
        self.level = 0;
        self.depth = MAX_DEPTH;
        self.do_match(s, p)
    }
}

/// The steps Lua's matcher takes for `search` of `pattern` in `subject`, or
/// why it stopped: more than `limit` steps, or a pattern Lua will refuse.
pub fn cost(subject: &[u8], pattern: &[u8], search: Search, limit: u64) -> Result<u64, Stop> {
    let anchor = pattern.first() == Some(&b'^');
    let mut m = Matcher {
        src: subject,
        pat: pattern,
        depth: MAX_DEPTH,
        level: 0,
        captures: [(0, 0); MAX_CAPTURES],
        steps: 0,
        limit,
    };
    let p = usize::from(anchor);
    let len = subject.len();
    match search {
        Search::Once { init } => {
            // string.find's posrelat: 1-based, negative from the end
            let start = match init {
                i if i > 0 => i as u64 - 1,
                i if i == 0 || i.unsigned_abs() > len as u64 => 0,
                i => len as u64 - i.unsigned_abs(),
            };
            if start > len as u64 {
                return Ok(0);
            }
            let mut s = start as usize;
            loop {
                if m.attempt(s, p)?.is_some() || anchor || s >= len {
                    return Ok(m.steps);
                }
                s += 1;
            }
        }
        Search::Each { max } => {
            let (mut s, mut found, mut last) = (0usize, 0u64, None);
            while found < max {
                match m.attempt(s, p)? {
                    Some(end) if Some(end) != last => {
                        found += 1;
                        s = end;
                        last = Some(end);
                    }
                    _ if s < len => s += 1,
                    _ => break,
                }
                if anchor {
                    break;
                }
            }
            Ok(m.steps)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once(s: &str, p: &str) -> Result<u64, Stop> {
        cost(
            s.as_bytes(),
            p.as_bytes(),
            Search::Once { init: 1 },
            1_000_000,
        )
    }

    #[test]
    fn everyday_patterns_are_cheap() {
        for (s, p) in [
            ("  hello world  ", "^%s*(.-)%s*$"),
            ("key = value", "^(%w+)%s*=%s*(.-)%s*$"),
            ("a,b,c", "[^,]+"),
            ("THE (quick) fox", "%((%a+)%)"),
            ("f(a(b)c)", "%b()"),
            ("hello", "%f[%w]%w+"),
            ("abcabc", "(abc)%1"),
            ("x", "()x()"),
        ] {
            let steps = once(s, p).unwrap();
            assert!(steps < 500, "{s:?} {p:?}: {steps}");
        }
    }

    #[test]
    fn backtracking_blows_the_budget() {
        let subject = "a".repeat(2000);
        let pattern = "a*".repeat(6) + "b";
        assert_eq!(
            cost(
                subject.as_bytes(),
                pattern.as_bytes(),
                Search::Once { init: 1 },
                10_000_000
            ),
            Err(Stop::Exceeded)
        );
        // the same search of a short subject fits
        assert!(once("aaaa", &pattern).is_ok());
    }

    #[test]
    fn steps_grow_with_the_work() {
        let steps = |n: usize| {
            cost(
                "a".repeat(n).as_bytes(),
                b"a*b",
                Search::Once { init: 1 },
                u64::MAX,
            )
            .unwrap()
        };
        let (small, large) = (steps(100), steps(1000));
        // a*b on n a's: n starts, each expanding and backing off: quadratic
        assert!(large > small * 50, "{small} {large}");
    }

    #[test]
    fn malformed_patterns_are_left_to_lua() {
        // ("(a" is Lua's error only once the match is over: its cost is known)
        for p in ["%", "[a", "a)", "%b", "%f", "%1", "%fx"] {
            assert_eq!(once("abc", p), Err(Stop::Malformed), "{p:?}");
        }
        let deep = "(".repeat(40) + &")".repeat(40);
        assert_eq!(once("x", &deep), Err(Stop::Malformed));
    }

    #[test]
    fn each_counts_every_match_of_gsub_and_gmatch() {
        let one = cost(b"a b c", b"%a", Search::Each { max: 1 }, 1000).unwrap();
        let all = cost(b"a b c", b"%a", Search::Each { max: u64::MAX }, 1000).unwrap();
        assert!(all > one);
        // an empty match advances one byte at a time and ends
        assert!(cost(b"abc", b"x*", Search::Each { max: u64::MAX }, 1000).is_ok());
    }

    #[test]
    fn init_follows_string_find() {
        assert_eq!(cost(b"abc", b"z", Search::Once { init: 10 }, 100), Ok(0));
        assert!(cost(b"abc", b"c", Search::Once { init: -1 }, 100).is_ok());
        assert!(cost(b"abc", b"c", Search::Once { init: -100 }, 100).is_ok());
        assert!(cost(b"abc", b"c", Search::Once { init: 0 }, 100).is_ok());
    }

    #[test]
    fn classes_follow_the_c_locale() {
        assert!(class_matches(b'\x0b', b's'));
        assert!(class_matches(b'a', b'S'));
        assert!(!class_matches(b' ', b'S'));
        assert!(class_matches(b'_', b'p'));
        assert!(class_matches(b'%', b'%'));
    }
}
