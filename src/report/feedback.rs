//! What one feedback issue says for the reports: its `ARR at stake`, any field of the Customer
//! Feedback template, and the row open feedback without a theme counts in. The PM review's
//! figures and the ARR Driver ranking both read issues this way.

/// The `ARR at stake` field of the Customer Feedback template, in USD ("250000", "$250,000",
/// "250k" and "1.2M" all read).
pub fn arr_at_stake(description: &str) -> Option<u64> {
    let value = field(description, "arr at stake")?;
    let value: String = value
        .split("<!--")
        .next()
        .unwrap_or_default()
        .trim()
        .replace([',', '$', ' '], "")
        .to_lowercase();
    let (digits, factor) = match value.chars().last()? {
        'k' => (&value[..value.len() - 1], 1_000.0),
        'm' => (&value[..value.len() - 1], 1_000_000.0),
        _ => (value.as_str(), 1.0),
    };
    // Digits and one decimal point only: f64's own parser also takes "inf", "NaN" and "1e300".
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let usd = (digits.parse::<f64>().ok()? * factor).round();
    (0.0..=MAX_ARR_USD).contains(&usd).then_some(usd as u64)
}

/// The text after `name:` on the first line of the Customer Feedback template's field `name`
/// (`**ARR at stake:** 250k`, any case, bold or not), hint comments included.
pub fn field(description: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_lowercase());
    let line = description.lines().find(|l| {
        l.replace("**", "")
            .trim_start()
            .to_lowercase()
            .starts_with(&prefix)
    })?;
    Some(line.replace("**", "").split_once(':')?.1.to_string())
}

/// The largest ARR at stake smeflow reads: a trillion dollars, more than any company's yearly
/// revenue, so a larger figure is a typo and unreadable like an empty field. Sums of up to
/// ~18 million such values still fit in a u64, and they are added with saturation anyway.
pub const MAX_ARR_USD: f64 = 1e12;

/// The theme table's row for open feedback without a `Theme::` label.
pub const NO_THEME: &str = "(no theme)";
