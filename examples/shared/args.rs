//! Command-line helpers of the benchmark examples (`pipeline_bench`, `cli_bench`): lists
//! and sizes with `k`/`M` suffixes. Included by path (`#[path = ...] mod args;`), not
//! through `shared/mod.rs`, so that examples without options do not compile it.

/// `10k` → 10 000, `1M` → 1 000 000, `123` → 123.
pub fn parse_size(s: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let s = s.trim();
    let (digits, scale) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1_000),
        Some('M' | 'm') => (&s[..s.len() - 1], 1_000_000),
        _ => (s, 1),
    };
    Ok(digits.parse::<usize>()? * scale)
}

/// The non-empty, trimmed items of a comma-separated list.
pub fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

/// A comma-separated list of sizes (see [`parse_size`]).
pub fn sizes(s: &str) -> Result<Vec<usize>, Box<dyn std::error::Error>> {
    list(s).iter().map(|x| parse_size(x)).collect()
}

/// `1000000` → `1M`, `100000` → `100k`, others as they are.
pub fn human(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}
