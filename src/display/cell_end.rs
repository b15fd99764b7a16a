//! The value that ends a notebook cell, shown in one compilation.
//!
//! evcxr shows a cell's final expression by first compiling
//! `(expr).evcxr_display();` and, when the type has no such method, compiling
//! the cell a second time with `{:?}` formatting. Every cell ending in a
//! number, a `Vec` or a `String` paid two compilations (about half of a
//! trivial cell's latency). [`DebugAtCellEnd`], in the prelude, gives every
//! `Debug` type an `evcxr_display` that prints what evcxr's second attempt
//! would have printed, so the first attempt compiles.
//!
//! It is implemented for `&mut T`: method lookup reaches it only after the
//! `T` and `&T` receivers, so an `evcxr_display` of the type's own (the
//! library's figures and tables, a crate's inherent method) or of another
//! trait in scope is always chosen first and never ambiguous. An integer
//! literal (`1 + 1`) reaches it too, as `i32`. A mutable borrow is refused
//! where the value is a place behind a binding declared without `mut` in the
//! same cell (`let a = 5; a`), and evcxr reports that refusal instead of
//! falling back; the kernel therefore hands such a place to evcxr as
//! `&(a)`, which reaches this impl through the temporary reference
//! (`kernel/src/cell_end.rs`).
//!
//! evcxr's `:fmt` setting applies to evcxr's own fallback only: this prints `{:?}`,
//! evcxr's default.

use std::fmt::Debug;

/// The `evcxr_display` of any `Debug` value that ends a cell (see the
/// module's doc). Imported anonymously by the prelude.
pub trait DebugAtCellEnd {
    /// Prints the value as evcxr's `text/plain` result, `{:?}` formatted.
    fn evcxr_display(self);
}

impl<T: Debug + ?Sized> DebugAtCellEnd for &mut T {
    fn evcxr_display(self) {
        super::channel::print_stdout(&text_plain(&*self));
    }
}

/// `value` in evcxr's stdout protocol, as its fallback formats it.
fn text_plain<T: Debug + ?Sized>(value: &T) -> String {
    format!("EVCXR_BEGIN_CONTENT text/plain\n{value:?}\nEVCXR_END_CONTENT\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static CALLED: Cell<&'static str> = const { Cell::new("") };
    }

    #[derive(Debug)]
    struct Inherent;
    impl Inherent {
        fn evcxr_display(&self) {
            CALLED.set("inherent");
        }
    }

    #[derive(Debug)]
    struct ByTrait;
    trait OtherDisplay {
        fn evcxr_display(&self);
    }
    impl OtherDisplay for ByTrait {
        fn evcxr_display(&self) {
            CALLED.set("other trait");
        }
    }

    #[test]
    fn a_types_own_display_and_other_traits_come_first() {
        // Both compile (no ambiguity with the blanket impl in scope) and
        // call the type's own method.
        (Inherent).evcxr_display();
        assert_eq!(CALLED.get(), "inherent");
        (ByTrait).evcxr_display();
        assert_eq!(CALLED.get(), "other trait");
        let kept = Inherent;
        kept.evcxr_display();
        assert_eq!(CALLED.get(), "inherent");
    }

    #[test]
    fn other_values_print_as_evcxrs_fallback_would() {
        assert_eq!(
            text_plain(&vec![1_i64, 2]),
            "EVCXR_BEGIN_CONTENT text/plain\n[1, 2]\nEVCXR_END_CONTENT\n"
        );
        assert_eq!(
            text_plain("late \"value\""),
            "EVCXR_BEGIN_CONTENT text/plain\n\"late \\\"value\\\"\"\nEVCXR_END_CONTENT\n"
        );
        // Through the trait: a typed temporary reaches the blanket impl.
        (7_i64 * 6).evcxr_display();
        String::from("x").evcxr_display();
    }
}
