//! Markdown: the `tags` table exactly as Chainguard's image pages print it (the seeds' "Tags
//! History").

use std::io::{self, Write};

use jiff::Timestamp;

use super::last_changed;
use crate::tag_groups::TagGroup;

/// The seed pages' table, byte for byte in their layout: each cell padded to its column's
/// widest, one space inside each bar, every tag in backticks after a space.
///
/// ```text
/// | Tag (s)                       | Last Changed | Digest                                                                    |
/// |-------------------------------|--------------|---------------------------------------------------------------------------|
/// |  `1` `1.77` `1.77.0` `latest` | March 22nd   | `sha256:72bc1c12c021490164a7c20efc17ae14249559c2550edbb00c1583584ef55751` |
/// ```
pub fn tags_markdown(groups: &[TagGroup], now: Timestamp, out: &mut dyn Write) -> io::Result<()> {
    let header = ["Tag (s)", "Last Changed", "Digest"];
    let rows: Vec<[String; 3]> = groups
        .iter()
        .map(|g| {
            [
                g.tags.iter().map(|t| format!(" `{t}`")).collect(),
                last_changed(g, now),
                format!("`{}`", g.digest),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |out: &mut dyn Write, cells: [&str; 3]| -> io::Result<()> {
        for (cell, width) in cells.iter().zip(widths) {
            write!(out, "| {cell:<width$} ")?;
        }
        writeln!(out, "|")
    };
    line(out, header)?;
    for width in widths {
        write!(out, "|{}", "-".repeat(width + 2))?;
    }
    writeln!(out, "|")?;
    for row in &rows {
        line(out, [&row[0], &row[1], &row[2]])?;
    }
    Ok(())
}

#[cfg(test)]
mod tags_tests {
    use super::*;
    use crate::report::tag_rows::{NOW, row};

    fn markdown(groups: &[TagGroup]) -> String {
        let mut out = Vec::new();
        tags_markdown(groups, NOW.parse().unwrap(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The tables of the seed pages, rows and tags given in the seeds' own order.
    #[test]
    fn markdown_reproduces_the_seed_tables_byte_for_byte() {
        let rust = [
            row(
                &["1", "1.77", "1.77.0", "latest"],
                "March 22nd",
                "sha256:72bc1c12c021490164a7c20efc17ae14249559c2550edbb00c1583584ef55751",
            ),
            row(
                &["1.77-dev", "latest-dev", "1.77.0-dev", "1-dev"],
                "March 22nd",
                "sha256:086a9a3c94c68e7098100e4288a63d965094f8b51e807a5473d088a53072c1f9",
            ),
            row(
                &["1.76.0-dev", "1.76-dev"],
                "March 18th",
                "sha256:c1dc5323eeb0bfd3c210b15a69c43ab4d2ec1cbcdc306129904664cb16bbce25",
            ),
            row(
                &["1.76", "1.76.0"],
                "March 18th",
                "sha256:a4b70d32d6f78d2b6c4d2cebaf15dd7a6af8b62b774e558482d93ef48ed06f11",
            ),
        ];
        let want = "\
| Tag (s)                                       | Last Changed | Digest                                                                    |
|-----------------------------------------------|--------------|---------------------------------------------------------------------------|
|  `1` `1.77` `1.77.0` `latest`                 | March 22nd   | `sha256:72bc1c12c021490164a7c20efc17ae14249559c2550edbb00c1583584ef55751` |
|  `1.77-dev` `latest-dev` `1.77.0-dev` `1-dev` | March 22nd   | `sha256:086a9a3c94c68e7098100e4288a63d965094f8b51e807a5473d088a53072c1f9` |
|  `1.76.0-dev` `1.76-dev`                      | March 18th   | `sha256:c1dc5323eeb0bfd3c210b15a69c43ab4d2ec1cbcdc306129904664cb16bbce25` |
|  `1.76` `1.76.0`                              | March 18th   | `sha256:a4b70d32d6f78d2b6c4d2cebaf15dd7a6af8b62b774e558482d93ef48ed06f11` |
";
        assert_eq!(markdown(&rust), want);

        let gptscript = [
            row(
                &["latest-dev"],
                "April 13th",
                "sha256:63253d7ed1bb2cd59af791a3a4711fe0b961024154fbde5f2877de5aa5fa0a42",
            ),
            row(
                &["latest"],
                "April 13th",
                "sha256:66e429588ca01bbb095ed4f930835c3c9f50bcf008c704b2b61855fae9c739a7",
            ),
        ];
        let want = "\
| Tag (s)       | Last Changed | Digest                                                                    |
|---------------|--------------|---------------------------------------------------------------------------|
|  `latest-dev` | April 13th   | `sha256:63253d7ed1bb2cd59af791a3a4711fe0b961024154fbde5f2877de5aa5fa0a42` |
|  `latest`     | April 13th   | `sha256:66e429588ca01bbb095ed4f930835c3c9f50bcf008c704b2b61855fae9c739a7` |
";
        assert_eq!(markdown(&gptscript), want);
    }

    /// Every table of the seed pages (copied verbatim into `fixtures/tags/seed-tables.md`),
    /// rebuilt from its rows in the seed's own order.
    #[test]
    fn markdown_matches_every_seed_table() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tags/seed-tables.md");
        let text = std::fs::read_to_string(fixture).unwrap();
        let mut checked = 0;
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let table: String = block
                .lines()
                .filter(|l| l.starts_with('|'))
                .map(|l| format!("{l}\n"))
                .collect();
            let groups: Vec<TagGroup> = table
                .lines()
                .skip(2)
                .map(|line| {
                    let cells: Vec<&str> =
                        line.trim_matches('|').split('|').map(str::trim).collect();
                    let tags: Vec<&str> = cells[0]
                        .split_whitespace()
                        .map(|t| t.trim_matches('`'))
                        .collect();
                    row(&tags, cells[1], cells[2].trim_matches('`'))
                })
                .collect();
            assert_eq!(markdown(&groups), table);
            checked += 1;
        }
        assert_eq!(checked, 5, "the five tables of seeds 000-002");
    }
}
