//! Tables for people to read in a terminal (`--list`, `--status`).

/// The header and rows as lines of text: each column as wide as its widest
/// cell (in characters), two spaces between columns, none at a line's end.
pub fn aligned<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(str::to_owned);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = [
            ["gpt".to_owned(), "running".to_owned(), String::new()],
            ["a_longer_flag".to_owned(), "–".to_owned(), "x".to_owned()],
        ];
        assert_eq!(
            aligned(["FLAG", "STATE", "NOTE"], &rows),
            "FLAG           STATE    NOTE\ngpt            running\na_longer_flag  –        x\n"
        );
    }
}
