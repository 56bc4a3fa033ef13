//! "Did you mean …?": the known word closest to a misspelt one, for messages about an
//! unknown key, op, input or output. Only suggests; never decides what a word means.

/// ` (did you mean `{candidate}`?)` for the candidate closest to `word`, if one is close
/// enough to be a likely typo; otherwise nothing. Messages append it to the unknown word.
pub(super) fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// likely typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| {
            // A word that is the start of a key but for its last letter (`retry` for
            // `retries`, `column` for `columns`) is as close as a typo.
            let shared = word
                .chars()
                .zip(c.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let shortened = shared >= 4 && word.chars().count() <= shared + 1;
            // And so is the last part of a key (`size` for `batch_size`).
            let shortened =
                shortened || (word.chars().count() >= 4 && c.ends_with(&format!("_{word}")));
            (if shortened { 1 } else { edit_distance(word, c) }, c)
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_shortened_keys_and_last_parts_are_close() {
        let keys = ["nodes", "retries", "columns", "batch_size", "sources"];
        let hint = |word: &str| did_you_mean(word, keys.iter().copied());
        assert_eq!(hint("nodez"), " (did you mean `nodes`?)");
        assert_eq!(hint("retry"), " (did you mean `retries`?)");
        assert_eq!(hint("column"), " (did you mean `columns`?)");
        assert_eq!(hint("size"), " (did you mean `batch_size`?)");
        assert_eq!(hint("colour"), "");
    }
}
