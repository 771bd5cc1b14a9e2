//! Who the customer of a feedback issue is: the template's `Customer:` field, else the title's
//! "<Customer>:" prefix. The rules, the epics, similar feedback and the reports all ask this.

use crate::gitlab::label;
use crate::text::strip_comments;

/// The customer named in the Customer Feedback template (`**Customer:** ACME` or
/// `Customer: ACME`), if filled in.
pub fn customer_field(description: &str) -> Option<String> {
    for line in description.lines() {
        let plain = line.replace("**", "");
        let plain = plain.trim().trim_start_matches(['-', '*', ' ']);
        if let Some(rest) = plain
            .strip_prefix("Customer:")
            .or_else(|| plain.strip_prefix("Customer :"))
        {
            // The value as typed: smeflow writes customers escaped (see `markdown`).
            let value = crate::markdown::unescape(strip_comments(rest).trim());
            return (!value.is_empty() && value != "_" && !value.starts_with('<')).then_some(value);
        }
    }
    None
}

/// The customer of a feedback issue: the template's field, else the title's "<Customer>:" prefix.
pub fn customer_of(title: &str, description: &str) -> Option<String> {
    customer_field(description).or_else(|| {
        let (prefix, rest) = title.split_once(':')?;
        let prefix = prefix.trim();
        (!prefix.is_empty()
            && !rest.trim().is_empty()
            && prefix.split_whitespace().count() <= 4
            && label::scope_of(title).is_none())
        .then(|| prefix.to_string())
    })
}
