//! How smeflow's notes open: the people they address, then the sentence. With nobody to
//! address (an issue smeflow opened itself, an area without PMs) the sentence starts the line
//! and so starts with a capital.

/// `mentions` ("@a @b ", or empty) followed by `sentence`, written to follow a mention.
pub fn addressed(mentions: &str, sentence: &str) -> String {
    if !mentions.trim().is_empty() {
        return format!("{} {sentence}", mentions.trim_end());
    }
    let mut chars = sentence.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::addressed;

    #[test]
    fn a_sentence_with_nobody_to_address_starts_with_a_capital() {
        assert_eq!(addressed("@jdoe ", "thanks!"), "@jdoe thanks!");
        assert_eq!(
            addressed("@a @b ", "this is closed"),
            "@a @b this is closed"
        );
        assert_eq!(
            addressed("", "thanks for this feedback!"),
            "Thanks for this feedback!"
        );
    }
}
