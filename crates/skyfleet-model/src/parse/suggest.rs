//! "Did you mean ...?" for unknown names.

/// The known name closest to `word`, if one is close enough to be an obvious typo: the same up
/// to case, or within an edit distance of about a third of the word (counted in lowercase, as the
/// distance is). Of equally close names, the first in `known`'s order.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for k in known {
        let d = if k.to_lowercase() == lower {
            0
        } else {
            distance(&lower, &k.to_lowercase())
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    let limit = (lower.chars().count() / 3).max(1);
    best.filter(|&(d, _)| d <= limit).map(|(_, k)| k)
}

/// Edit distance in characters, counting a swap of two neighbours as one edit (optimal string
/// alignment), so that `widht` is one edit from `width`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// " (did you mean `x`?)" or nothing, to append to a message.
pub fn hint<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_obvious_names() {
        let known = ["H100", "H200", "GB200", "MI300X"];
        assert_eq!(did_you_mean("h100", known), Some("H100"));
        assert_eq!(did_you_mean("GB20", known), Some("GB200"));
        assert_eq!(did_you_mean("TPU", known), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("widht", "width"), 1);
    }

    #[test]
    fn the_limit_counts_the_lowercased_word() {
        // 'İ' lowercases to two characters, so "azurİ" is six long: two edits are allowed.
        assert_eq!(did_you_mean("azurİ", ["aws", "azure"]), Some("azure"));
        // Of equally close names, the first given.
        assert_eq!(
            did_you_mean("x_months", ["months", "max_months"]),
            Some("months")
        );
        assert_eq!(
            did_you_mean("x_months", ["max_months", "months"]),
            Some("max_months")
        );
    }
}
