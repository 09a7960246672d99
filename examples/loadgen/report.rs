//! Turns measurements into two outputs: lines for people, and one `RESULT key=value ...` line per
//! run for scripts (bench/compare.sh greps it).

use std::fmt::Write as _;
use std::time::Duration;

/// An ordered list of key=value fields; values never contain spaces.
#[derive(Default)]
pub struct ResultLine {
    fields: Vec<(String, String)>,
}

impl ResultLine {
    pub fn set(&mut self, key: &str, value: impl ToString) -> &mut Self {
        let value = value.to_string().replace(char::is_whitespace, "_");
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some(field) => field.1 = value,
            None => self.fields.push((key.to_string(), value)),
        }
        self
    }

    pub fn set_opt(&mut self, key: &str, value: Option<f64>, decimals: usize) -> &mut Self {
        match value {
            Some(v) => self.set(key, format!("{v:.decimals$}")),
            None => self.set(key, "na"),
        }
    }

    pub fn render(&self) -> String {
        let mut line = String::from("RESULT");
        for (k, v) in &self.fields {
            let _ = write!(line, " {k}={v}");
        }
        line
    }
}

/// Nearest-rank percentile of sorted nanosecond samples, in microseconds.
pub fn percentile_us(sorted_ns: &[u64], fraction: f64) -> Option<f64> {
    if sorted_ns.is_empty() {
        return None;
    }
    let rank = ((fraction * sorted_ns.len() as f64).ceil() as usize).clamp(1, sorted_ns.len());
    Some(sorted_ns[rank - 1] as f64 / 1000.0)
}

pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// CPU microseconds per unit of work, when anything was done.
pub fn micros_per(cpu: Duration, count: u64) -> Option<f64> {
    (count > 0).then(|| cpu.as_secs_f64() * 1e6 / count as f64)
}
