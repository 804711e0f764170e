//! Aligned text tables for the terminal: numbers right-aligned, text left-aligned, no
//! trailing spaces.

use std::fmt::Write as _;

/// A table under construction.
#[derive(Debug, Clone)]
pub struct Table {
    header: Vec<&'static str>,
    /// Which columns hold numbers (right-aligned).
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns named by `header`; a name starting with `#` marks a numeric column (the `#` is
    /// not shown).
    pub fn new(header: &[&'static str]) -> Self {
        Self {
            header: header
                .iter()
                .map(|name| name.strip_prefix('#').unwrap_or(name))
                .collect(),
            numeric: header.iter().map(|name| name.starts_with('#')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in cells.iter().enumerate() {
                let width = widths.get(index).copied().unwrap_or(0);
                if index > 0 {
                    line.push_str("  ");
                }
                let _ = if self.numeric.get(index).copied().unwrap_or(false) {
                    write!(line, "{cell:>width$}")
                } else {
                    write!(line, "{cell:<width$}")
                };
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_numbers_right_and_text_left_without_trailing_spaces() {
        let mut table = Table::new(&["#ID", "NAME", "#PRICE", "STATE"]);
        table.row(vec![
            "1".into(),
            "Mug".into(),
            "12.50".into(),
            "on sale".into(),
        ]);
        table.row(vec![
            "12".into(),
            "Tea pot".into(),
            "3.00".into(),
            "retired".into(),
        ]);
        assert_eq!(
            table.to_string(),
            "ID  NAME     PRICE  STATE\n 1  Mug      12.50  on sale\n12  Tea pot   3.00  retired\n"
        );
    }
}
