//! "Did you mean …?": the nearest known name to a misspelt one, for the errors of every loader.
//!
//! A name that differs from a known one only in case is the likeliest mistake (`update`, `AccountNumber`),
//! so it is found first; otherwise the known name at the smallest edit distance, if it is close enough to be
//! a typo rather than another word.

/// The known name `wrong` most likely meant: one equal but for case, else the nearest within a third of its
/// length (at least one edit); ties go to the first candidate.
pub fn nearest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> Option<&'a str> {
    if let Some(same) = candidates.clone().into_iter().find(|c| c.eq_ignore_ascii_case(wrong)) {
        return Some(same);
    }
    let limit = (wrong.chars().count() / 3).max(1);
    let lower = wrong.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates.clone() {
        let d = distance(&lower, &candidate.to_lowercase(), limit);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    // A name cut short (`owner` for `ownerid`) is further than a typo, and as likely.
    let extended = || {
        let longer = candidates.into_iter().filter(|c| lower.len() >= 3 && c.to_lowercase().starts_with(&lower));
        longer.min_by_key(|c| c.len()).filter(|c| c.len() <= lower.len() + 4)
    };
    best.map(|(_, c)| c).or_else(extended)
}

/// `: did you mean `X`?`, or `: logical names are lower case: `x`` for a name off only in case; empty
/// when nothing is near. Meant to follow "unknown … `wrong`".
pub fn hint<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str> + Clone) -> String {
    match nearest(wrong, candidates) {
        Some(near) if near == near.to_lowercase() && near.eq_ignore_ascii_case(wrong) => {
            format!(": logical names are lower case: `{near}`")
        }
        Some(near) if near.eq_ignore_ascii_case(wrong) => format!(": names are case-sensitive: `{near}`"),
        Some(near) => format!(": did you mean `{near}`?"),
        None => String::new(),
    }
}

/// `unknown <what> `wrong`` with the name meant, or, when none is near, the names expected.
pub fn unknown<'a>(what: &str, wrong: &str, known: impl IntoIterator<Item = &'a str> + Clone) -> String {
    unknown_in(what, wrong, "", known)
}

/// As [`unknown`], naming where the name was looked for: `unknown column `subjct` of `task``.
pub fn unknown_in<'a>(
    what: &str,
    wrong: &str,
    owner: &str,
    known: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    let owner = if owner.is_empty() { String::new() } else { format!(" of `{owner}`") };
    let hint = hint(wrong, known.clone());
    if hint.is_empty() {
        format!("unknown {what} `{wrong}`{owner} (expected one of {})", listing(known, 8))
    } else {
        format!("unknown {what} `{wrong}`{owner}{hint}")
    }
}

/// Adds the name meant to serde's "unknown field `x`, expected one of `a`, `b`" (and "unknown variant").
pub fn serde_hint(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `").or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_owned();
    };
    let Some((wrong, expected)) = rest.split_once('`') else { return message.to_owned() };
    let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match nearest(wrong, known.iter().copied()) {
        Some(near) => format!("{message}: did you mean `{near}`?"),
        None => message.to_owned(),
    }
}

/// Known names for a message: all of them when few, else the first `shown` and how many more.
pub fn listing<'a>(names: impl IntoIterator<Item = &'a str>, shown: usize) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    if names.len() <= shown {
        return names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
    }
    let first: Vec<String> = names[..shown].iter().map(|n| format!("`{n}`")).collect();
    format!("{}, … ({} more)", first.join(", "), names.len() - shown)
}

/// Optimal string alignment distance (edits, with adjacent swaps as one), giving up past `limit`: names are
/// short, and a name further away than the limit is not suggested anyway.
fn distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    // Three rows: two back (for swaps), one back, and the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut current = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1).min(current[j - 1] + 1).min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        if current.iter().min().is_some_and(|m| *m > limit) {
            return limit + 1;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &[&str] = &["Create", "Retrieve", "Update", "Delete", "RetrieveMultiple", "Associate"];

    #[test]
    fn typos_and_wrong_case_find_the_name_meant() {
        assert_eq!(nearest("Craete", MESSAGES.iter().copied()), Some("Create"));
        assert_eq!(nearest("update", MESSAGES.iter().copied()), Some("Update"));
        assert_eq!(nearest("RetreiveMultiple", MESSAGES.iter().copied()), Some("RetrieveMultiple"));
        assert_eq!(nearest("Frobnicate", MESSAGES.iter().copied()), None);
        assert_eq!(nearest("statuscod", ["statuscode", "statecode"]), Some("statuscode"));
        assert_eq!(nearest("nmae", ["name", "revenue"]), Some("name"));
        assert_eq!(nearest("owner", ["owningteam", "ownerid"]), Some("ownerid"));
    }

    #[test]
    fn hints_say_why() {
        assert_eq!(hint("AccountNumber", ["accountnumber", "name"]), ": logical names are lower case: `accountnumber`");
        assert_eq!(hint("Craete", MESSAGES.iter().copied()), ": did you mean `Create`?");
        assert_eq!(hint("create", MESSAGES.iter().copied()), ": names are case-sensitive: `Create`");
        assert_eq!(hint("zzz", MESSAGES.iter().copied()), "");
    }

    #[test]
    fn serde_messages_get_the_name_meant() {
        assert_eq!(
            serde_hint("unknown field `case`, expected one of `name`, `org`, `cases`"),
            "unknown field `case`, expected one of `name`, `org`, `cases`: did you mean `cases`?"
        );
        assert_eq!(
            serde_hint("unknown variant `Glboal`, expected `Basic` or `Global`"),
            "unknown variant `Glboal`, expected `Basic` or `Global`: did you mean `Global`?"
        );
        assert_eq!(serde_hint("missing field `name`"), "missing field `name`");
    }

    #[test]
    fn unknown_names_say_what_was_expected() {
        assert_eq!(
            unknown("table", "accont", ["account", "contact"]),
            "unknown table `accont`: did you mean `account`?"
        );
        assert_eq!(
            unknown("table", "zzz", ["account", "contact"]),
            "unknown table `zzz` (expected one of `account`, `contact`)"
        );
    }

    #[test]
    fn long_lists_are_cut() {
        assert_eq!(listing(["a", "b"], 3), "`a`, `b`");
        assert_eq!(listing(["a", "b", "c", "d"], 2), "`a`, `b`, … (2 more)");
    }

    #[test]
    fn distance_counts_edits_and_swaps() {
        assert_eq!(distance("kitten", "sitting", 5), 3);
        assert_eq!(distance("ab", "ba", 5), 1);
        assert_eq!(distance("abc", "abc", 0), 0);
        assert_eq!(distance("a", "abcdef", 2), 3, "gives up past the limit");
    }
}
