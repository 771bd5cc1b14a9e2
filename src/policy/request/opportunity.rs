//! Which Salesforce opportunity an SME request is about: the id in its "Opportunity URL".
//! Salesforce ids are 15 characters, case-sensitive; the 18-character form adds three
//! characters that encode the case of the first 15, so both name the same record and compare
//! on their first 15 characters. Opportunity ids start with the key prefix `006`.

/// The 15-character key of a Salesforce id given in either form; `None` when `id` is not one.
pub fn key(id: &str) -> Option<String> {
    let id = id.trim();
    ((id.len() == 15 || id.len() == 18) && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| id[..15].to_string())
}

/// The opportunity an "Opportunity URL" names — a classic (`https://x.my.salesforce.com/006…`)
/// or Lightning (`…/lightning/r/Opportunity/006…/view`) link, or the bare id — as its
/// 15-character key.
pub fn in_url(url: &str) -> Option<String> {
    url.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| part.starts_with("006"))
        .find_map(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_of_an_id_are_one_opportunity() {
        assert_eq!(key("0065g00000SME01AAA"), key("0065g00000SME01"));
        assert_eq!(key("0065g00000SME01").as_deref(), Some("0065g00000SME01"));
        // Case matters in the first 15 characters.
        assert_ne!(key("0065g00000sme01"), key("0065g00000SME01"));
        assert_eq!(key("006ACME"), None);
        assert_eq!(key("0065g00000SME01AA"), None);
    }

    #[test]
    fn the_id_is_found_in_classic_and_lightning_links() {
        let k = Some("0065g00000SME01".to_string());
        assert_eq!(in_url("https://acme.my.salesforce.com/0065g00000SME01"), k);
        assert_eq!(
            in_url(
                "https://acme.lightning.force.com/lightning/r/Opportunity/0065g00000SME01AAA/view"
            ),
            k
        );
        assert_eq!(
            in_url("[link](https://acme.my.salesforce.com/0065g00000SME01AAA)"),
            k
        );
        assert_eq!(in_url("0065g00000SME01"), k);
        assert_eq!(in_url("https://sf.example.com/006XYZ"), None);
        assert_eq!(in_url("TBD"), None);
    }
}
