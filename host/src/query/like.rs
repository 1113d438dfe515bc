//! SQL Server's `LIKE`, as the platform's `like` and `not-like` conditions match text: `%` any run of
//! characters, `_` any one, `[…]` one of a set (`[^…]` one not in it, `a-c` a range; `[%]` is a literal `%`).
//!
//! The cost is linear in text and pattern, never a backtracking search (a plug-in controls both, BOX-5): the
//! pattern is split at its `%` into segments, and each segment is found at its leftmost place after the one
//! before it, which is the right answer for `%`-separated patterns. A segment of plain characters is found by
//! Knuth-Morris-Pratt in O(text + segment); one with `_` or sets by the bit-parallel Shift-And search in
//! O(text × segment / 64). Long searches count against the execution's deadline.

use std::collections::HashMap;

use xrm_model::Fault;

use crate::deadline::Meter;

/// One character a pattern accepts: one in (or, negated, not in) these ranges. `_` is an empty negated set; a
/// plain character, a set of itself.
#[derive(Debug, Clone, PartialEq)]
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
}

impl Class {
    fn of(c: char) -> Self {
        Class { negated: false, ranges: vec![(c, c)] }
    }

    fn accepts(&self, c: char) -> bool {
        self.ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != self.negated
    }

    /// The one character this class is, if it is a plain character.
    fn literal(&self) -> Option<char> {
        match self.ranges.as_slice() {
            [(lo, hi)] if lo == hi && !self.negated => Some(*lo),
            _ => None,
        }
    }
}

/// A compiled pattern, lower-cased as the text it is matched against.
#[derive(Debug)]
pub struct Pattern {
    /// The runs of classes between `%`s, empty runs left out.
    segments: Vec<Segment>,
    /// Whether the pattern starts (ends) with `%`: the first (last) segment may then start (end) anywhere.
    open_start: bool,
    open_end: bool,
    /// Whether the pattern has a `%` at all: without one it matches the whole text.
    has_any: bool,
}

#[derive(Debug)]
struct Segment {
    classes: Vec<Class>,
    /// The characters, when every class is a plain character (the KMP search).
    literal: Option<Vec<char>>,
}

impl Pattern {
    pub fn new(pattern: &str) -> Pattern {
        let tokens = tokens(pattern);
        let open_start = matches!(tokens.first(), Some(None));
        let open_end = matches!(tokens.last(), Some(None));
        let has_any = tokens.iter().any(Option::is_none);
        let segments = tokens
            .split(Option::is_none)
            .filter(|run| !run.is_empty())
            .map(|run| {
                let classes: Vec<Class> = run.iter().flatten().cloned().collect();
                let literal = classes.iter().map(Class::literal).collect();
                Segment { classes, literal }
            })
            .collect();
        Pattern { segments, open_start, open_end, has_any }
    }

    /// Whether `text` (lower-cased, as the pattern) matches.
    pub fn matches(&self, text: &str, meter: &mut Meter) -> Result<bool, Fault> {
        let text: Vec<char> = text.chars().collect();
        meter.work(text.len() / 64)?;
        let segments = &self.segments;
        let Some(last) = segments.len().checked_sub(1) else {
            // Only `%`s (anything matches) or nothing at all (only the empty text matches).
            return Ok(self.has_any || text.is_empty());
        };
        if !self.has_any {
            return Ok(text.len() == segments[0].classes.len() && segments[0].matches_at(&text, 0));
        }
        let mut pos = 0;
        let mut middle = 0..segments.len();
        if !self.open_start {
            if !segments[0].matches_at(&text, 0) {
                return Ok(false);
            }
            pos = segments[0].classes.len();
            middle.start = 1;
        }
        if !self.open_end {
            middle.end = last;
        }
        // With a `%` and both ends anchored there are at least two segments, so the range is never reversed.
        for segment in segments.get(middle.clone()).unwrap_or_default() {
            match segment.find(&text, pos, meter)? {
                Some(at) => pos = at + segment.classes.len(),
                None => return Ok(false),
            }
        }
        if self.open_end || middle.start > last {
            return Ok(true);
        }
        // The last segment ends the text, after everything before it.
        let end = &segments[last];
        Ok(text.len().checked_sub(end.classes.len()).is_some_and(|start| start >= pos && end.matches_at(&text, start)))
    }
}

impl Segment {
    fn matches_at(&self, text: &[char], start: usize) -> bool {
        text.get(start..start + self.classes.len())
            .is_some_and(|chars| chars.iter().zip(&self.classes).all(|(c, class)| class.accepts(*c)))
    }

    /// Where the segment first occurs in `text` at or after `from`.
    fn find(&self, text: &[char], from: usize, meter: &mut Meter) -> Result<Option<usize>, Fault> {
        let text = text.get(from..).unwrap_or_default();
        let found = match &self.literal {
            Some(chars) => kmp(text, chars, meter)?,
            None => shift_and(text, &self.classes, meter)?,
        };
        Ok(found.map(|at| at + from))
    }
}

/// Knuth-Morris-Pratt: the first occurrence of `needle` in `text`, in O(text + needle).
fn kmp(text: &[char], needle: &[char], meter: &mut Meter) -> Result<Option<usize>, Fault> {
    if needle.is_empty() {
        return Ok(Some(0));
    }
    // `border[i]`: the length of the longest proper prefix of needle[..=i] that is also its suffix.
    let mut border = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = border[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        border[i] = k;
    }
    let mut k = 0;
    for (i, c) in text.iter().enumerate() {
        meter.tick()?;
        while k > 0 && *c != needle[k] {
            k = border[k - 1];
        }
        if *c == needle[k] {
            k += 1;
        }
        if k == needle.len() {
            return Ok(Some(i + 1 - k));
        }
    }
    Ok(None)
}

/// How many characters' masks [`shift_and`] keeps: enough for any real text, little enough that text of many
/// distinct characters cannot make the cache large.
const MASK_CACHE: usize = 256;

/// Shift-And: the first place where every class accepts its character, in O(text × classes / 64). Bit `j` of
/// the state says that the last `j + 1` characters match the first `j + 1` classes.
fn shift_and(text: &[char], classes: &[Class], meter: &mut Meter) -> Result<Option<usize>, Fault> {
    let words = classes.len().div_ceil(64);
    let top = (classes.len() - 1) % 64;
    let mask_of = |c: char| {
        let mut mask = vec![0u64; words];
        for (j, class) in classes.iter().enumerate() {
            if class.accepts(c) {
                mask[j / 64] |= 1 << (j % 64);
            }
        }
        mask
    };
    let mut cache: HashMap<char, Vec<u64>> = HashMap::new();
    let mut state = vec![0u64; words];
    for (i, c) in text.iter().enumerate() {
        meter.work(1 + words)?;
        let computed;
        let mask = match cache.get(c) {
            Some(mask) => mask,
            None if cache.len() < MASK_CACHE => cache.entry(*c).or_insert_with(|| mask_of(*c)),
            None => {
                computed = mask_of(*c);
                &computed
            }
        };
        // state = ((state << 1) | 1) & mask, across words.
        let mut carry = 1;
        for (word, m) in state.iter_mut().zip(mask) {
            let next_carry = *word >> 63;
            *word = ((*word << 1) | carry) & m;
            carry = next_carry;
        }
        if state[words - 1] >> top & 1 == 1 {
            return Ok(Some(i + 1 - classes.len()));
        }
    }
    Ok(None)
}

/// The pattern as tokens: `None` for `%`, a class for every other position.
fn tokens(pattern: &str) -> Vec<Option<Class>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        tokens.push(match c {
            '%' => None,
            '_' => Some(Class { negated: true, ranges: Vec::new() }),
            '[' => match chars[i..].iter().position(|&x| x == ']') {
                Some(len) => {
                    let set = set(&chars[i..i + len]);
                    i += len + 1;
                    Some(set)
                }
                None => Some(Class::of('[')),
            },
            c => Some(Class::of(c)),
        });
    }
    tokens
}

fn set(body: &[char]) -> Class {
    let (negated, body) = match body.split_first() {
        Some(('^', rest)) if !rest.is_empty() => (true, rest),
        _ => (false, body),
    };
    let mut ranges = Vec::new();
    let mut i = 0;
    while let Some(&lo) = body.get(i) {
        match (body.get(i + 1), body.get(i + 2)) {
            (Some('-'), Some(&hi)) => {
                ranges.push((lo, hi));
                i += 3;
            }
            _ => {
                ranges.push((lo, lo));
                i += 1;
            }
        }
    }
    Class { negated, ranges }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        Pattern::new(pattern).matches(text, &mut Meter::new()).unwrap()
    }

    #[test]
    fn like_follows_sql_server() {
        for (text, pattern, expected) in [
            ("contoso", "c%", true),
            ("contoso", "%so", true),
            ("contoso", "c_ntoso", true),
            ("contoso", "c_toso", false),
            ("50% off", "%[%]%", true),
            ("50 off", "%[%]%", false),
            ("b", "[a-c]", true),
            ("d", "[^a-c]", true),
            ("b", "[^a-c]", false),
            ("[x", "[x", true),
            ("", "%", true),
            ("", "", true),
            ("abc", "", false),
            ("axbxc", "a%b%c", true),
            ("axbx", "a%b%c", false),
            ("abc", "a%%c", true),
            ("ab", "a%b%", true),
            ("aXb", "a_b", true),
            ("ab", "a%_b", false),
            ("aab", "a%_b", true),
            ("abab", "%ab", true),
            ("aba", "ab%ba", false),
            ("abba", "ab%ba", true),
            ("xabcabd", "%ab[c-d]", true),
            ("xabcabe", "%ab[c-d]", false),
            ("mississippi", "%iss_pp%", true),
            ("mississippi", "m%s_i%i", true),
            ("mississippi", "%s_s%", true),
            ("mississippi", "%p_s%", false),
        ] {
            assert_eq!(like(text, pattern), expected, "{text:?} like {pattern:?}");
        }
    }

    #[test]
    fn a_segment_longer_than_a_word_is_found_by_the_bit_parallel_search() {
        let segment = format!("{}_b", "a".repeat(100));
        let text = format!("x{}yb", "a".repeat(150));
        assert!(like(&text, &format!("%{segment}")));
        assert!(!like(&text, &format!("%{segment}c")));
        assert!(like(&format!("{text}z"), &format!("%{segment}%")));
    }

    #[test]
    fn long_text_against_a_long_pattern_takes_linear_time() {
        // The attack of issue 12: 40,000 characters of pattern over 400,000 of text, both of one letter.
        let text = "a".repeat(400_000);
        let start = Instant::now();
        assert!(!like(&text, &format!("%{}b", "a".repeat(40_000))));
        // With `_` the bit-parallel search: text × pattern / 64, here at a tenth of the size.
        assert!(!like(&text[..40_000], &format!("%{}_b", "a".repeat(4_000))));
        assert!(!like(&text, &format!("{}b", "%a".repeat(20_000))));
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    }

    #[test]
    fn a_search_stops_at_the_deadline() {
        let _scope = crate::deadline::Scope::enter(Instant::now());
        let text = "a".repeat(100_000);
        let fault = Pattern::new("%a_b").matches(&text, &mut Meter::new()).unwrap_err();
        assert_eq!(fault.code, xrm_model::codes::PLUGIN_TIMEOUT);
    }
}
