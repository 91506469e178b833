//! Byte offsets to line and column, and the places diagnostics point at.

use super::Diagnostic;
use std::cell::RefCell;
use std::ops::Range;

/// Where something sits in the file: 1-based line and column (in characters), and its field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The field path, such as `training[2].gang`; empty for the whole file.
    pub path: String,
}

/// A value read from the file, with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    /// The value.
    pub v: T,
    /// Where it was written.
    pub at: Loc,
}

/// The start of each line, to turn byte offsets into line and column.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the line starts of `src`.
    pub fn new(src: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// 1-based line and column of byte `offset`. Columns count characters, not bytes. An offset
    /// past the end points just after the last character.
    pub fn line_col(&self, src: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(src.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        // Snap to a char boundary so slicing cannot panic.
        let mut end = offset;
        while !src.is_char_boundary(end) {
            end -= 1;
        }
        (line + 1, src[start..end].chars().count() + 1)
    }
}

/// What the reader and the checks share: the source, its line index, and the problems found.
pub struct Ctx<'s> {
    /// The whole source text.
    pub src: &'s str,
    /// The file's name, for the diagnostics.
    pub file: &'s str,
    lines: LineIndex,
    diags: RefCell<Vec<Diagnostic>>,
}

impl<'s> Ctx<'s> {
    /// A context for `src`, read from `file`, with no problems yet.
    pub fn new(src: &'s str, file: &'s str) -> Self {
        Self {
            src,
            file,
            lines: LineIndex::new(src),
            diags: RefCell::new(Vec::new()),
        }
    }

    /// The source parsed as TOML, with the span of every key and value kept. A syntax error is
    /// reported (`malformed TOML: ...`, at its place) and gives `None`.
    pub fn parse_toml(&self) -> Option<toml::Spanned<toml::de::DeTable<'s>>> {
        match toml::de::DeTable::parse(self.src) {
            Ok(doc) => Some(doc),
            Err(e) => {
                let at = self.loc(e.span().unwrap_or(0..0), "");
                self.error(&at, format!("malformed TOML: {}", e.message().trim()));
                None
            }
        }
    }

    /// Where `span` starts, with the field path `path`.
    pub fn loc(&self, span: Range<usize>, path: impl Into<String>) -> Loc {
        let (line, column) = self.lines.line_col(self.src, span.start);
        Loc {
            line,
            column,
            path: path.into(),
        }
    }

    /// The source text of `span`, shortened for messages.
    pub fn snippet(&self, span: Range<usize>) -> String {
        let s = self.src.get(span).unwrap_or("").trim();
        let first = s.lines().next().unwrap_or("");
        if first.chars().count() > 40 || first.len() < s.len() {
            format!("{}...", first.chars().take(40).collect::<String>())
        } else {
            first.to_string()
        }
    }

    /// Reports a problem at `at`.
    pub fn error(&self, at: &Loc, message: impl Into<String>) {
        self.diags.borrow_mut().push(Diagnostic {
            file: self.file.to_string(),
            line: at.line,
            column: at.column,
            path: at.path.clone(),
            message: message.into(),
        });
    }

    /// How many problems have been reported so far.
    pub fn error_count(&self) -> usize {
        self.diags.borrow().len()
    }

    /// Whether any problem was reported under one of these top-level sections.
    pub fn any_under(&self, sections: &[&str]) -> bool {
        self.diags.borrow().iter().any(|d| {
            let head = d.path.split(['.', '[']).next().unwrap_or("");
            sections.contains(&head)
        })
    }

    /// The problems, in file order (in the order reported where they share a place), each once.
    pub fn into_diagnostics(self) -> Vec<Diagnostic> {
        let mut d = self.diags.into_inner();
        d.sort_by_key(|x| (x.line, x.column));
        d.dedup();
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let src = "a = 1\nbé = 2\n\nc";
        let ix = LineIndex::new(src);
        assert_eq!(ix.line_col(src, 0), (1, 1));
        assert_eq!(ix.line_col(src, 4), (1, 5));
        assert_eq!(ix.line_col(src, 5), (1, 6)); // the newline itself
        assert_eq!(ix.line_col(src, 6), (2, 1));
        // 'é' is two bytes: the '=' after it is the 4th character of line 2.
        assert_eq!(ix.line_col(src, 6 + 4), (2, 4));
        assert_eq!(ix.line_col(src, 14), (3, 1));
        assert_eq!(ix.line_col(src, 15), (4, 1));
        assert_eq!(ix.line_col(src, 999), (4, 2));
    }

    #[test]
    fn offset_inside_a_character_does_not_panic() {
        let src = "é";
        assert_eq!(LineIndex::new(src).line_col(src, 1), (1, 1));
    }

    #[test]
    fn diagnostics_come_out_in_file_order() {
        let ctx = Ctx::new("x\ny\n", "f.toml");
        ctx.error(&ctx.loc(2..3, "b"), "second");
        ctx.error(&ctx.loc(0..1, "a"), "first");
        ctx.error(&ctx.loc(0..1, "a"), "first");
        let d = ctx.into_diagnostics();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].line, d[1].line), (1, 2));
    }
}
