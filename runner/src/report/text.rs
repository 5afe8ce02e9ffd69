//! Plain-text building blocks for the terminal renderers: width-aware truncation and wrapping, number
//! formatting, optional ANSI colour, and a column table that shrinks or drops columns to fit a width.
//!
//! Widths are counted in `char`s: every character these renderers emit is one terminal column wide, and
//! colour codes are added only after padding, so they never count.

/// ANSI SGR codes used by the terminal renderers.
pub(crate) mod ansi {
    pub const BOLD: &str = "1";
    pub const DIM: &str = "2";
    pub const RED: &str = "31";
    pub const GREEN: &str = "32";
    pub const YELLOW: &str = "33";
    pub const BLUE: &str = "34";
    pub const MAGENTA: &str = "35";
    pub const CYAN: &str = "36";
}

/// Wraps `text` in an ANSI colour when `color` is on; returns it unchanged otherwise.
pub(crate) fn paint(text: &str, code: &str, color: bool) -> String {
    if color && !text.is_empty() { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
}

/// Visible width of `text` (its ANSI escapes excluded).
pub(crate) fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

/// Cuts `text` to at most `width` columns, ending with an ellipsis when anything was cut.
pub(crate) fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let kept: String = text.chars().take(width - 1).collect();
    format!("{kept}…")
}

/// Word-wraps `text` to `width` columns, keeping its leading spaces; continuation lines start with `indent`
/// spaces. Words longer than a line are cut, so no line ever exceeds `width`.
pub(crate) fn wrap(text: &str, width: usize, indent: usize) -> Vec<String> {
    let width = width.max(indent + 8);
    let lead = text.chars().take_while(|c| *c == ' ').count().min(width / 2);
    let mut lines = Vec::new();
    let mut line = " ".repeat(lead);
    let mut used = lead;
    let mut fresh = true;
    for word in text.split_whitespace() {
        if !fresh && used + 1 + word.chars().count() > width {
            lines.push(std::mem::replace(&mut line, " ".repeat(indent)));
            used = indent;
            fresh = true;
        }
        if !fresh {
            line.push(' ');
            used += 1;
        }
        let word = truncate(word, width - used);
        used += word.chars().count();
        line.push_str(&word);
        fresh = false;
    }
    if !fresh {
        lines.push(line);
    }
    lines
}

/// A number with as many decimals as its size deserves: `0.412`, `4.74`, `55.3`, `999.6`, `9577`.
pub(crate) fn num(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1_000.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A number with one decimal: rates, percentages, megabytes.
pub(crate) fn num1(value: f64) -> String {
    format!("{value:.1}")
}

/// Mebibytes, the unit every memory figure in the reports uses.
pub(crate) fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// One column of a [`TextTable`].
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub header: &'static str,
    /// Printed on a second header line (e.g. `ms`); empty for none.
    pub unit: &'static str,
    pub align: Align,
    /// Columns with a drop rank are removed, lowest rank first, when the table is too wide.
    pub drop_rank: Option<u8>,
    /// For the column that gives way (with an ellipsis): `(comfortable, minimum)` widths. It is cut to the
    /// comfortable width before any column is dropped, and below it only once none is left to drop.
    pub shrink_to: Option<(usize, usize)>,
}

impl Column {
    pub fn left(header: &'static str) -> Column {
        Column { header, unit: "", align: Align::Left, drop_rank: None, shrink_to: None }
    }

    pub fn right(header: &'static str, unit: &'static str) -> Column {
        Column { header, unit, align: Align::Right, drop_rank: None, shrink_to: None }
    }

    pub fn droppable(mut self, rank: u8) -> Column {
        self.drop_rank = Some(rank);
        self
    }

    pub fn shrinkable(mut self, comfortable: usize, minimum: usize) -> Column {
        self.shrink_to = Some((comfortable, minimum.min(comfortable)));
        self
    }
}

/// One row: its cells (one per column) and the ANSI colour the whole row gets, if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub cells: Vec<String>,
    pub color: Option<&'static str>,
    /// Extra full-width lines printed under the row (already indented, wrapped by the table).
    pub details: Vec<String>,
}

/// A plain-text table that always fits the width it is given.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextTable {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl TextTable {
    /// Renders header, rule and rows in at most `width` columns, shrinking the shrinkable column and then
    /// dropping droppable ones as needed. Returns the lines and the headers of the dropped columns.
    pub fn render(&self, width: usize, color: bool) -> (Vec<String>, Vec<&'static str>) {
        let (shown, widths) = self.layout(width);
        let dropped = (0..self.columns.len()).filter(|i| !shown.contains(i)).map(|i| self.columns[i].header).collect();
        let mut lines = vec![paint(&self.line(&shown, &widths, |c| c.header.to_owned(), width), ansi::BOLD, color)];
        if self.columns.iter().any(|c| !c.unit.is_empty()) {
            lines.push(self.line(&shown, &widths, |c| c.unit.to_owned(), width));
        }
        let total = Self::total_width(&widths).min(width);
        lines.push("-".repeat(total));
        for row in &self.rows {
            let text = self.row_line(row, &shown, &widths, width);
            lines.push(match row.color {
                Some(code) => paint(&text, code, color),
                None => text,
            });
            for detail in &row.details {
                for piece in wrap(detail, width, 6) {
                    lines.push(paint(&piece, ansi::DIM, color));
                }
            }
        }
        (lines, dropped)
    }

    fn row_line(&self, row: &Row, shown: &[usize], widths: &[usize], width: usize) -> String {
        let cells: Vec<String> = shown
            .iter()
            .zip(widths)
            .map(|(&i, &w)| {
                let text = truncate(row.cells.get(i).map_or("", String::as_str), w);
                align(&text, w, self.columns[i].align)
            })
            .collect();
        truncate(cells.join(" ").trim_end(), width)
    }

    fn line(&self, shown: &[usize], widths: &[usize], text: impl Fn(&Column) -> String, width: usize) -> String {
        let cells: Vec<String> = shown
            .iter()
            .zip(widths)
            .map(|(&i, &w)| {
                let column = &self.columns[i];
                align(&truncate(&text(column), w), w, column.align)
            })
            .collect();
        truncate(cells.join(" ").trim_end(), width)
    }

    /// The natural width of every column: its widest cell, header or unit.
    fn natural_widths(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let cells = self.rows.iter().filter_map(|r| r.cells.get(i)).map(|c| c.chars().count());
                cells.chain([column.header.chars().count(), column.unit.chars().count()]).max().unwrap_or(0)
            })
            .collect()
    }

    /// Chooses the columns to show and their widths for `width`.
    fn layout(&self, width: usize) -> (Vec<usize>, Vec<usize>) {
        let natural = self.natural_widths();
        let mut shown: Vec<usize> = (0..self.columns.len()).collect();
        let mut drop_order: Vec<usize> =
            shown.iter().copied().filter(|&i| self.columns[i].drop_rank.is_some()).collect();
        drop_order.sort_by_key(|&i| self.columns[i].drop_rank);
        let mut drop_order = drop_order.into_iter();
        loop {
            let mut widths: Vec<usize> = shown.iter().map(|&i| natural[i]).collect();
            self.shrink(&shown, &mut widths, width, |(comfortable, _)| comfortable);
            if Self::total_width(&widths) <= width {
                return (shown, widths);
            }
            match drop_order.next() {
                Some(victim) => shown.retain(|&i| i != victim),
                None => {
                    self.shrink(&shown, &mut widths, width, |(_, minimum)| minimum);
                    return (shown, widths);
                }
            }
        }
    }

    /// Cuts shrinkable columns down towards the width `limit` picks, until the table fits `width`.
    fn shrink(&self, shown: &[usize], widths: &mut [usize], width: usize, limit: fn((usize, usize)) -> usize) {
        let mut excess = Self::total_width(widths).saturating_sub(width);
        for (slot, &i) in shown.iter().enumerate() {
            if let Some(bounds) = self.columns[i].shrink_to {
                let give = widths[slot].saturating_sub(limit(bounds)).min(excess);
                widths[slot] -= give;
                excess -= give;
            }
        }
    }

    fn total_width(widths: &[usize]) -> usize {
        widths.iter().sum::<usize>() + widths.len().saturating_sub(1)
    }
}

fn align(text: &str, width: usize, align: Align) -> String {
    match align {
        Align::Left => format!("{text:<width$}"),
        Align::Right => format!("{text:>width$}"),
    }
}

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_with_an_ellipsis_only_when_needed() {
        assert_eq!(truncate("simple_async", 20), "simple_async");
        assert_eq!(truncate("update_item_async_write", 10), "update_it…");
    }

    #[test]
    fn wrapping_never_exceeds_the_width() {
        let text = "a_very_long_word_that_cannot_fit_anywhere_on_a_line and some short words after it";
        for line in wrap(text, 20, 4) {
            assert!(line.chars().count() <= 20, "{line:?}");
        }
    }

    #[test]
    fn numbers_keep_three_significant_digits_or_more() {
        assert_eq!(num(0.4123), "0.412");
        assert_eq!(num(4.741), "4.74");
        assert_eq!(num(55.31), "55.3");
        assert_eq!(num(9577.04), "9577");
    }

    #[test]
    fn tables_drop_columns_to_fit() {
        let table = TextTable {
            columns: vec![
                Column::left("Name").shrinkable(8, 6),
                Column::right("Big", "ms").droppable(1),
                Column::right("Small", ""),
            ],
            rows: vec![Row { cells: vec!["abcdefghijkl".into(), "123456789".into(), "1".into()], ..Row::default() }],
        };
        let (lines, dropped) = table.render(14, false);
        assert_eq!(dropped, vec!["Big"]);
        assert!(lines.iter().all(|l| l.chars().count() <= 14), "{lines:?}");
    }
}
