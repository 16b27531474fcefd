//! Generated sections of hand-written documents: a command's output lands between two marker
//! comments, so rerunning the command replaces its own section and leaves the rest of the file
//! (the prose around it) alone.

use std::path::Path;

/// The begin and end markers of section `name`.
pub fn markers(name: &str) -> (String, String) {
    (
        format!("<!-- spikeq:{name}:begin (generated; rerun the command to update) -->"),
        format!("<!-- spikeq:{name}:end -->"),
    )
}

/// Writes `content` between the markers of section `name` in `text`: replaces the section if the
/// markers are there, else appends a new marked section at the end. Errors if only one marker is
/// present or they are out of order (a hand edit broke them: fix or remove them).
pub fn replace_section(text: &str, name: &str, content: &str) -> Result<String, String> {
    let (begin, end) = markers(name);
    let body = format!("{begin}\n{}\n{end}", content.trim_end());
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => Ok(format!("{}{body}{}", &text[..b], &text[e + end.len()..])),
        (None, None) => {
            let sep = if text.is_empty() || text.ends_with("\n\n") {
                ""
            } else if text.ends_with('\n') {
                "\n"
            } else {
                "\n\n"
            };
            Ok(format!("{text}{sep}{body}\n"))
        }
        _ => Err(format!(
            "the markers of section {name:?} are broken (one missing or out of order): restore both or delete both"
        )),
    }
}

/// [`replace_section`] on a file (created when missing).
pub fn update_file(path: &Path, name: &str, content: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let new = replace_section(&text, name, content)
        .map_err(|m| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {m}", path.display())))?;
    std::fs::write(path, new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_then_replaces_only_its_section() {
        let a = replace_section("# Results\n\nprose\n", "x", "one").unwrap();
        assert!(a.starts_with("# Results\n\nprose\n\n<!-- spikeq:x:begin"), "{a}");
        let b = replace_section(&(a.clone() + "\nafter\n"), "x", "two").unwrap();
        assert!(
            b.contains("two")
                && !b.contains("one")
                && b.ends_with("\nafter\n")
                && b.starts_with("# Results\n\nprose\n"),
            "{b}"
        );
        assert_eq!(replace_section(&b, "x", "two").unwrap(), b, "idempotent");
        let (begin, _) = markers("x");
        assert!(replace_section(&begin, "x", "y").is_err());
    }
}
