//! Redis glob patterns for `KEYS`: `*`, `?`, `[abc]`, `[^a-z]`, and `\` to quote a character.

/// True if `text` matches the glob `pattern`, byte by byte (case-sensitive).
///
/// Backtracks only to the most recent `*`, so a match takes O(pattern × text) steps at worst.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the text position it has
    // consumed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            let (matched, next) = match_one(pattern, p, text[t]);
            if matched {
                p = next;
                t += 1;
                continue;
            }
        }
        match star {
            Some((after_star, consumed)) => {
                p = after_star;
                t = consumed + 1;
                star = Some((after_star, t));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

/// Matches the single-character token at `pattern[p]` (not `*`) against `c`; returns whether
/// it matched and where the next token starts.
fn match_one(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c, p + 2),
        b'[' => {
            let mut q = p + 1;
            let negate = pattern.get(q) == Some(&b'^');
            if negate {
                q += 1;
            }
            let mut matched = false;
            // An unterminated class runs to the end of the pattern, as in Redis.
            while q < pattern.len() {
                match pattern[q] {
                    b']' => {
                        q += 1;
                        break;
                    }
                    b'\\' if q + 1 < pattern.len() => {
                        matched |= pattern[q + 1] == c;
                        q += 2;
                    }
                    lo if q + 2 < pattern.len() && pattern[q + 1] == b'-' => {
                        let hi = pattern[q + 2];
                        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                        matched |= (lo..=hi).contains(&c);
                        q += 3;
                    }
                    other => {
                        matched |= other == c;
                        q += 1;
                    }
                }
            }
            (matched != negate, q)
        }
        literal => (literal == c, p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("user:**", "user:1"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(m("*a", "banana"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("x[ab", "xb"));
    }

    #[test]
    fn escapes() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\?", "a?"));
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let text = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(30));
        assert!(!m(&pattern, &text));
    }
}
