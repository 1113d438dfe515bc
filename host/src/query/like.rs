//! SQL Server's `LIKE`, as the platform's `like` and `not-like` conditions match text.

/// One character a `LIKE` pattern accepts: one in (or, negated, not in) these ranges. `_` is an empty
/// negated set; a plain character, a set of itself.
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
}

/// SQL Server's `LIKE` on lower-cased text: `%` any run of characters, `_` any one, `[…]` one of a set (so
/// `[%]` is a literal `%`). Linear backtracking on the last `%`, never exponential.
pub(super) fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let tokens = like_tokens(pattern);
    let (mut t, mut p) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(None) => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(Some(class)) if class.accepts(text[t]) => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                Some((after, from)) => {
                    (p, t) = (after, from + 1);
                    retry = Some((after, from + 1));
                }
                None => return false,
            },
        }
    }
    tokens.iter().skip(p).all(Option::is_none)
}

/// The pattern as tokens: `None` for `%`, a class for every other position.
fn like_tokens(pattern: &str) -> Vec<Option<Class>> {
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
                    let set = like_set(&chars[i..i + len]);
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

fn like_set(body: &[char]) -> Class {
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
    use super::*;

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
            ("abc", "", false),
            ("axbxc", "a%b%c", true),
            ("axbx", "a%b%c", false),
        ] {
            assert_eq!(like(text, pattern), expected, "{text:?} like {pattern:?}");
        }
        // Backtracking only to the last `%`: a pattern that must fail does so at once on long text.
        assert!(!like(&"a".repeat(20_000), &format!("{}b", "%a".repeat(50))));
    }
}
