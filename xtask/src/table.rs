//! Tables for the reports of `chaos` and `soak`: Markdown, padded so that they read as well in
//! a terminal as quoted in a note or committed under `docs/`.

/// A Markdown table with its columns padded to a common width. Numbers are right-aligned.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([headers[column].chars().count(), 3])
            .max()
            .unwrap_or(3)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let numeric: Vec<bool> = (0..headers.len())
        .map(|column| {
            !rows.is_empty()
                && rows.iter().all(|row| {
                    row[column]
                        .trim_end_matches('%')
                        .replace(['.', ',', '-', '+'], "")
                        .chars()
                        .all(|c| c.is_ascii_digit())
                })
        })
        .collect();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let pad = |text: &str, column: usize| {
        let fill = " ".repeat(widths[column] - text.chars().count());
        if numeric[column] {
            format!("{fill}{text}")
        } else {
            format!("{text}{fill}")
        }
    };
    let mut text = line(
        headers
            .iter()
            .enumerate()
            .map(|(column, header)| pad(header, column))
            .collect(),
    );
    text.push_str(&line(
        widths
            .iter()
            .zip(&numeric)
            .map(|(width, numeric)| {
                if *numeric {
                    format!("{}:", "-".repeat(width - 1))
                } else {
                    "-".repeat(*width)
                }
            })
            .collect(),
    ));
    for row in rows {
        text.push_str(&line(
            row.iter()
                .enumerate()
                .map(|(column, cell)| pad(cell, column))
                .collect(),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_padded_markdown() {
        let table = markdown_table(
            &["name", "n"],
            &[
                vec!["long name".to_owned(), "7".to_owned()],
                vec!["x".to_owned(), "12".to_owned()],
            ],
        );
        assert_eq!(
            table,
            "| name      |   n |\n\
             | --------- | --: |\n\
             | long name |   7 |\n\
             | x         |  12 |\n"
        );
    }
}
