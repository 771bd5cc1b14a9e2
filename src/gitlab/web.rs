//! Links into GitLab's web pages for people (the dashboard's counts and themes): the only place
//! that knows how GitLab's issue list takes its filters in the page address.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is percent-encoded in a filter's value, so a
/// label like `Theme::Duo Chat` or `Region::DACH/META` (or one with `&`, `#`, `"`) stays one value.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A project's issue list filtered as the dashboard counted: issues with every label in `with`,
/// none of `without`, in `state` (`opened`, `closed` or `all`). GitLab's issue list reads
/// repeated `label_name[]=` and `not[label_name][]=` parameters and `state=` from the address
/// (the filtered-search bar writes them the same way), e.g.
/// `https://gitlab.com/g/p/-/issues?label_name[]=Theme%3A%3ADuo%20Chat&state=opened`.
pub fn issue_list(project_web_url: &str, with: &[&str], without: &[&str], state: &str) -> String {
    let mut url = format!("{}/-/issues?", project_web_url.trim_end_matches('/'));
    for label in with {
        url.push_str("label_name[]=");
        url.extend(utf8_percent_encode(label, VALUE));
        url.push('&');
    }
    for label in without {
        url.push_str("not[label_name][]=");
        url.extend(utf8_percent_encode(label, VALUE));
        url.push('&');
    }
    url.push_str("state=");
    url.extend(utf8_percent_encode(state, VALUE));
    url
}

#[cfg(test)]
mod tests {
    use super::issue_list;

    #[test]
    fn labels_are_encoded_one_value_each() {
        assert_eq!(
            issue_list(
                "https://gitlab.example.com/sme/ai-sme/",
                &["Type::Customer Feedback", "Region::DACH/META"],
                &["Theme::A&B #1"],
                "opened"
            ),
            "https://gitlab.example.com/sme/ai-sme/-/issues?label_name[]=Type%3A%3ACustomer%20Feedback&label_name[]=Region%3A%3ADACH%2FMETA&not[label_name][]=Theme%3A%3AA%26B%20%231&state=opened"
        );
    }
}
