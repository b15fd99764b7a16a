//! `is_complete_request`: whether a cell's code is finished, so a console
//! knows whether Enter runs it or opens a new line. Rust has no statement
//! terminator that settles this, so the test is lexical: every bracket
//! closed, no string, character literal or block comment left open.

/// The verdict on a piece of code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// Ready to run.
    Complete,
    /// Needs more lines; the string is the indent for the next one.
    Incomplete(String),
    /// Cannot become valid by adding lines (a closing bracket that does not
    /// match).
    Invalid,
}

/// Judges `code`.
pub fn judge(code: &str) -> Completeness {
    let chars: Vec<char> = code.chars().collect();
    let mut stack: Vec<char> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => return incomplete(&stack),
                        (Some('/'), Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some('*'), Some('/')) => {
                            depth -= 1;
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                continue;
            }
            'r' if matches!(next, Some('"') | Some('#')) && !ident_before(&chars, i) => {
                // Raw string r"…" or r#"…"#: ends at a quote followed by as many #.
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    i += 1;
                    continue;
                }
                j += 1;
                loop {
                    match chars.get(j) {
                        None => return incomplete(&stack),
                        Some('"') if (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) => {
                            i = j + 1 + hashes;
                            break;
                        }
                        _ => j += 1,
                    }
                }
                continue;
            }
            '"' => {
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return incomplete(&stack),
                        Some('\\') => i += 2,
                        Some('"') => break,
                        _ => i += 1,
                    }
                }
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
                if next == Some('\\') {
                    let mut j = i + 2;
                    while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                        j += 1;
                    }
                    if j >= chars.len() {
                        return incomplete(&stack);
                    }
                    i = j;
                } else if chars.get(i + 2) == Some(&'\'') {
                    i += 2;
                }
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if stack.pop() != Some(open) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        incomplete(&stack)
    }
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

fn incomplete(stack: &[char]) -> Completeness {
    Completeness::Incomplete("    ".repeat(stack.len().max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(judge("let x = 1;"), Completeness::Complete);
        assert_eq!(judge("fn f() {\n  1\n}"), Completeness::Complete);
        assert_eq!(judge("fn f() {"), Completeness::Incomplete("    ".into()));
        assert_eq!(
            judge("fn f() { if x {"),
            Completeness::Incomplete("        ".into())
        );
        assert_eq!(
            judge("let v = vec![1, 2"),
            Completeness::Incomplete("    ".into())
        );
        assert_eq!(judge("let x = (1]"), Completeness::Invalid);
        assert_eq!(judge("}"), Completeness::Invalid);
        assert_eq!(judge(r#"let s = "{ not a brace";"#), Completeness::Complete);
        assert_eq!(
            judge(r#"let s = "open"#),
            Completeness::Incomplete("    ".into())
        );
        assert_eq!(
            judge(r##"let s = r#"a "quote" {"#;"##),
            Completeness::Complete
        );
        assert_eq!(judge("let c = '{';"), Completeness::Complete);
        assert_eq!(judge("let c = '\\'';"), Completeness::Complete);
        assert_eq!(judge("fn f<'a>(x: &'a str) {}"), Completeness::Complete);
        assert_eq!(judge("// {\nlet x = 1;"), Completeness::Complete);
        assert_eq!(
            judge("/* { /* } */"),
            Completeness::Incomplete("    ".into())
        );
        assert_eq!(judge(":dep rand = \"0.8\""), Completeness::Complete);
        assert_eq!(judge("let r = for_each(x);"), Completeness::Complete);
    }
}
