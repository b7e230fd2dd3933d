//! Result tables in Markdown. ZiggyDB is the first column; the last column is its ratio to
//! the best peer of the row, oriented so that above 1 means ZiggyDB is ahead (for a time or
//! a size, where less is better, it is best peer ÷ ZiggyDB).

use std::fmt::Write as _;

/// One measurement of one engine.
#[derive(Debug, Clone)]
pub enum Cell {
    Value(f64),
    /// Not measured: the text says why ("no range API", "refused", …).
    Text(String),
}

impl Cell {
    fn value(&self) -> Option<f64> {
        match self {
            Cell::Value(v) if v.is_finite() => Some(*v),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub better: Better,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone)]
pub struct Table {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    pub fn new(title: &str, columns: Vec<String>) -> Self {
        Self {
            title: title.to_string(),
            columns,
            rows: Vec::new(),
        }
    }

    /// The row called `name`, created (with every cell "–") when missing.
    pub fn row(&mut self, name: &str, unit: &'static str, better: Better) -> &mut Row {
        if let Some(i) = self.rows.iter().position(|r| r.name == name) {
            return &mut self.rows[i];
        }
        self.rows.push(Row {
            name: name.to_string(),
            unit,
            better,
            cells: vec![Cell::Text("–".into()); self.columns.len()],
        });
        self.rows.last_mut().expect("just pushed")
    }

    /// Sets the cell of `column` in row `name`.
    pub fn set(&mut self, name: &str, unit: &'static str, better: Better, column: &str, c: Cell) {
        let col = self
            .columns
            .iter()
            .position(|c| c == column)
            .unwrap_or_else(|| panic!("no column {column}"));
        self.row(name, unit, better).cells[col] = c;
    }

    /// The value of `column` in row `name`, if measured.
    pub fn get(&self, name: &str, column: &str) -> Option<f64> {
        let col = self.columns.iter().position(|c| c == column)?;
        self.rows
            .iter()
            .find(|r| r.name == name)?
            .cells
            .get(col)?
            .value()
    }

    pub fn to_markdown(&self) -> String {
        let mut s = format!("### {}\n\n| measurement | unit |", self.title);
        for c in &self.columns {
            let _ = write!(s, " {c} |");
        }
        s.push_str(" ZiggyDB ÷ best peer |\n|---|---|");
        for _ in &self.columns {
            s.push_str("---:|");
        }
        s.push_str("---:|\n");
        for r in &self.rows {
            let _ = write!(s, "| {} | {} |", r.name, r.unit);
            for c in &r.cells {
                let _ = write!(s, " {} |", fmt_cell(c));
            }
            let _ = writeln!(s, " {} |", fmt_ratio(ratio(r)));
        }
        s
    }
}

/// ZiggyDB (column 0) against the best of the other columns.
pub fn ratio(r: &Row) -> Option<f64> {
    let zig = r.cells.first()?.value()?;
    let peers = r.cells.iter().skip(1).filter_map(Cell::value);
    match r.better {
        Better::Higher => {
            let best = peers.fold(f64::NAN, f64::max);
            (best > 0.0).then(|| zig / best)
        }
        Better::Lower => {
            let best = peers.fold(f64::NAN, f64::min);
            (zig > 0.0 && best.is_finite()).then(|| best / zig)
        }
    }
}

pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{r:.2}×"))
}

pub fn fmt_num(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1_000.0 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_cell(c: &Cell) -> String {
    match c {
        Cell::Value(v) => fmt_num(*v),
        Cell::Text(t) => t.clone(),
    }
}

/// One row of the targets table.
pub struct Target {
    pub work: &'static str,
    pub target: &'static str,
    pub measured: String,
    /// `None`: not measured in this run.
    pub met: Option<bool>,
}

pub fn targets_markdown(targets: &[Target]) -> String {
    let mut s = String::from(
        "### Targets (issue 5)\n\n| work | target | measured | result |\n|---|---|---|---|\n",
    );
    for t in targets {
        let result = match t.met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {result} |",
            t.work, t.target, t.measured
        );
    }
    s
}
