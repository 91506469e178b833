//! Aligned plain-text tables: text columns to the left, numbers to the right.

use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table built row by row, rendered with two spaces between columns and a rule under the
/// header. The last column is never padded, so long free text (a reason, a source) can run on.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as `(title, alignment)`.
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            header: columns.iter().map(|(t, _)| t.to_string()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// The table, each line indented by `indent` spaces and ending in a newline.
    pub fn render(&self, indent: usize) -> String {
        let n = self.header.len();
        let mut width = vec![0; n];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let mut s = " ".repeat(indent);
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str("  ");
                }
                let pad = width[i] - c.chars().count();
                let last = i + 1 == n;
                match self.align[i] {
                    Align::Left if last => s.push_str(c),
                    Align::Left => {
                        s.push_str(c);
                        s.push_str(&" ".repeat(pad));
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(c);
                    }
                }
            }
            let _ = writeln!(out, "{}", s.trim_end());
        };
        line(&mut out, &self.header);
        // Under a last column that runs on unpadded, the rule spans only its title.
        let rule: Vec<String> = width
            .iter()
            .enumerate()
            .map(|(i, w)| match (i + 1 == n, self.align[i]) {
                (true, Align::Left) => "-".repeat(self.header[i].chars().count()),
                _ => "-".repeat(*w),
            })
            .collect();
        line(&mut out, &rule);
        for r in &self.rows {
            line(&mut out, r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_text_left_and_numbers_right() {
        let mut t = Table::new(&[("name", Align::Left), ("cost", Align::Right)]);
        t.row(vec!["aws".into(), "$14.28B".into()]);
        t.row(vec!["lambda".into(), "$1.0M".into()]);
        assert_eq!(
            t.render(2),
            "  name       cost\n  ------  -------\n  aws     $14.28B\n  lambda    $1.0M\n"
        );
    }

    #[test]
    fn last_text_column_runs_on_unpadded() {
        let mut t = Table::new(&[("a", Align::Right), ("why", Align::Left)]);
        t.row(vec!["1".into(), "short".into()]);
        t.row(vec!["2".into(), "a longer reason".into()]);
        let out = t.render(0);
        assert!(out.lines().all(|l| !l.ends_with(' ')));
        assert!(out.contains("1  short\n"));
        assert!(out.contains("-  ---\n"));
    }
}
