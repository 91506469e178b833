//! A small XML well-formedness check, for tests of the SVG writer: the unit tests in
//! `sim_svg` and the integration tests (which include this file by path) use the same one.
//! No XML crate is needed for what the SVG writer emits.

/// A small well-formedness check of XML as this module writes it (elements, attributes in double
/// quotes, the five predefined entities; no comments, CDATA or doctype): every tag closes in
/// order, and there is exactly one root element.
pub fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0;
    let mut rest = xml.trim();
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            check_text(rest)?;
            break;
        };
        check_text(&rest[..lt])?;
        if stack.is_empty() && !rest[..lt].trim().is_empty() {
            return Err("text outside the root element".into());
        }
        let gt = rest[lt..].find('>').ok_or("a tag that never ends")? + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match stack.pop() {
                Some(open) if open == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        let empty = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name = body
            .split_whitespace()
            .next()
            .ok_or("a tag without a name")?;
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
        {
            return Err(format!("bad element name {name:?}"));
        }
        check_attributes(&body[name.len()..])?;
        if stack.is_empty() {
            roots += 1;
        }
        if !empty {
            stack.push(name);
        }
    }
    match (stack.last(), roots) {
        (Some(open), _) => Err(format!("<{open}> never closes")),
        (None, 1) => Ok(()),
        (None, n) => Err(format!("{n} root elements")),
    }
}

fn check_attributes(mut s: &str) -> Result<(), String> {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(());
        }
        let eq = s
            .find('=')
            .ok_or_else(|| format!("attribute without a value: {s}"))?;
        let name = s[..eq].trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("bad attribute name {name:?}"));
        }
        let v = s[eq + 1..]
            .strip_prefix('"')
            .ok_or_else(|| format!("attribute {name} is not in double quotes"))?;
        let end = v
            .find('"')
            .ok_or_else(|| format!("attribute {name} never ends"))?;
        check_text(&v[..end])?;
        if v[..end].contains('<') {
            return Err(format!("'<' in attribute {name}"));
        }
        s = &v[end + 1..];
    }
}

fn check_text(s: &str) -> Result<(), String> {
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        let end = rest[i..].find(';').ok_or("a bare '&'")? + i;
        match &rest[i + 1..end] {
            "amp" | "lt" | "gt" | "quot" | "apos" => {}
            e => return Err(format!("unknown entity &{e};")),
        }
        rest = &rest[end + 1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checker_rejects_what_is_not_well_formed() {
        assert!(well_formed("<a><b/></a>").is_ok());
        assert!(well_formed("<a x=\"1 &amp; 2\">t</a>").is_ok());
        assert!(well_formed("<a><b></a>").is_err());
        assert!(well_formed("<a>&</a>").is_err());
        assert!(well_formed("<a x=1/>").is_err());
        assert!(well_formed("<a/><b/>").is_err());
        assert!(well_formed("<a>").is_err());
    }
}
