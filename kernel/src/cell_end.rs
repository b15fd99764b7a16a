//! The value that ends a cell, borrowed when it is a place.
//!
//! The library's prelude gives every `Debug` value an `evcxr_display` on
//! `&mut T` (`deepscope::display::cell_end`), so that evcxr shows a cell's
//! last value after one compilation instead of two. That mutable borrow is
//! refused when the value is a place behind a binding the cell declared
//! without `mut` (`let a = 5; a`, `v[1]`, `p.x`), and evcxr reports the
//! refusal as the cell's error instead of falling back to `{:?}`. So a
//! place that ends a cell is handed to evcxr as `&(place)`: method lookup
//! on the shared reference still finds a type's own `evcxr_display(&self)`
//! (or another trait's) first, reaches the prelude's through a mutable
//! borrow of the temporary reference, and prints the same text.

use ra_ap_syntax::ast::{self, AstNode};
use ra_ap_syntax::{Edition, SourceFile};
use std::borrow::Cow;

/// What evcxr wraps a cell's statements in to parse them (its statement
/// splitter's prelude).
const WRAPPER: &str = "fn f(){";

/// `code` with its final expression written `&(…)` when that expression is
/// a place (a variable, field, index or dereference); any other cell, or
/// one that does not parse, unchanged.
pub fn borrow_place_at_end(code: &str) -> Cow<'_, str> {
    let start = rust_start(code);
    let body = &code[start..];
    let parsed = SourceFile::parse(&format!("{WRAPPER}{body}\n}}"), Edition::Edition2024);
    if !parsed.errors().is_empty() {
        return Cow::Borrowed(code);
    }
    let tail = parsed
        .tree()
        .syntax()
        .children()
        .next()
        .and_then(ast::Fn::cast)
        .and_then(|f| f.body())
        .and_then(|b| b.stmt_list())
        .and_then(|s| s.tail_expr());
    let Some(tail) = tail.filter(is_place) else {
        return Cow::Borrowed(code);
    };
    let range = tail.syntax().text_range();
    let at = |offset| start + usize::from(offset) - WRAPPER.len();
    let (from, to) = (at(range.start()), at(range.end()));
    if to > code.len() {
        return Cow::Borrowed(code);
    }
    Cow::Owned(format!(
        "{}&({}){}",
        &code[..from],
        &code[from..to],
        &code[to..]
    ))
}

/// Where the Rust code of a cell starts: after the leading lines evcxr
/// reads as its commands (`:dep …`), shell commands (`!…`), comments or
/// blank lines.
fn rust_start(code: &str) -> usize {
    let mut start = 0;
    for line in code.split_inclusive('\n') {
        let t = line.trim_start();
        let header =
            t.is_empty() || t.starts_with(':') || t.starts_with('!') || t.starts_with("//");
        if !header {
            break;
        }
        start += line.len();
    }
    start
}

/// Whether an expression names a place (memory a binding owns) rather than
/// a temporary value.
fn is_place(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::PathExpr(_) | ast::Expr::FieldExpr(_) | ast::Expr::IndexExpr(_) => true,
        ast::Expr::PrefixExpr(p) => p.op_kind() == Some(ast::UnaryOp::Deref),
        ast::Expr::ParenExpr(p) => p.expr().is_some_and(|inner| is_place(&inner)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::borrow_place_at_end as b;

    #[test]
    fn places_at_the_end_are_borrowed() {
        assert_eq!(b("let a = 5; a"), "let a = 5; &(a)");
        assert_eq!(b("let a = 5;\na\n"), "let a = 5;\n&(a)\n");
        assert_eq!(
            b("let v = vec![1, 2];\nv[1]"),
            "let v = vec![1, 2];\n&(v[1])"
        );
        assert_eq!(b("let p = (1, 2); p.0"), "let p = (1, 2); &(p.0)");
        assert_eq!(b("let r = &5; *r"), "let r = &5; &(*r)");
        assert_eq!(b("(x)"), "&((x))");
        assert_eq!(b("std::f64::consts::PI"), "&(std::f64::consts::PI)");
    }

    #[test]
    fn commands_before_the_code_are_kept_as_they_are() {
        assert_eq!(
            b(":dep foo = \"1\"\n// note\n\nlet a = 1;\na"),
            ":dep foo = \"1\"\n// note\n\nlet a = 1;\n&(a)"
        );
        assert_eq!(b(":vars"), ":vars");
    }

    #[test]
    fn values_and_statements_are_left_alone() {
        for code in [
            "1 + 1",
            "let a = 5;",
            "f(x)",
            "x.len()",
            "vec![1]",
            "-x",
            "!flag",
            "{ a }",
            "if c { a } else { b }",
            "fn g() {}",
            "",
            // Does not parse: evcxr reports the error on the code as written.
            "let a = ; a",
        ] {
            assert_eq!(b(code), code, "{code:?}");
        }
    }
}
