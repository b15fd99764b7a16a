"""The Jupyter conformance suite (jupyter_kernel_test) against our kernel.

Every test the suite offers gets code samples, except history (the kernel
keeps none and says so) and the pager (Rust has no `?` help). Timeouts are
raised from the suite's 15 s: a cell compiles before it runs, and the first
one waits for the preloaded library.
"""

import unittest

import jupyter_kernel_test as jkt
from jupyter_client.manager import start_new_kernel

CELL_TIMEOUT = 300


class DeepscopeKernelTests(jkt.KernelTests):
    kernel_name = "deepscope"
    language_name = "Rust"
    file_extension = ".rs"

    @classmethod
    def setUpClass(cls):
        cls.km, cls.kc = start_new_kernel(kernel_name=cls.kernel_name, startup_timeout=120)
        # Wait out the preload once, so each test measures its own cell.
        cls.kc.execute_interactive("1", timeout=CELL_TIMEOUT)

    def execute_helper(self, code, timeout=CELL_TIMEOUT, **kwargs):
        return super().execute_helper(code, timeout=timeout, **kwargs)

    code_hello_world = 'println!("hello, world");'
    code_stderr = 'eprintln!("an error line");'

    completion_samples = [
        {"text": "let some_long_name = 1;\nsome_long_n", "matches": {"some_long_name"}},
        # evcxr completes functions as snippets ("swap(x, y)"): only a valid reply is checked.
        {"text": "std::mem::swa"},
    ]

    complete_code_samples = ["let x = 1;", "fn f() -> i32 { 2 }", ":dep rand = \"0.8\""]
    incomplete_code_samples = ["fn f() {", "let v = vec![1, 2,", 'let s = "open']
    invalid_code_samples = ["let x = (1];", "}"]

    code_generate_error = 'panic!("deliberate")'

    code_execute_result = [
        {"code": "6 * 7", "result": "42"},
        {"code": '"text".to_string()', "result": '"text"'},
        {
            "code": "Table::new(&[\"a\", \"b\"]).row(&[1, 2]).unwrap()",
            "mime": "text/html",
        },
    ]

    code_display_data = [
        {"code": 'display(&"shown".to_string())?;', "mime": "text/plain"},
        {"code": 'display(&LinePlot::new().values("y", &[1.0, 2.0, 4.0]))?;', "mime": "image/png"},
    ]

    code_inspect_sample = "std::vec::Vec"

    code_clear_output = 'display(&"gone".to_string())?; deepscope::display::clear_output(false)?;'

    def test_execute_result(self):
        # The suite compares text/plain exactly; for rich results only the MIME type.
        for sample in self.code_execute_result:
            with self.subTest(code=sample["code"]):
                reply, outputs = self.execute_helper(sample["code"])
                self.assertEqual(reply["content"]["status"], "ok")
                results = [m for m in outputs if m["msg_type"] == "execute_result"]
                self.assertEqual(len(results), 1, outputs)
                data = results[0]["content"]["data"]
                mime = sample.get("mime", "text/plain")
                self.assertIn(mime, data)
                if "result" in sample:
                    self.assertEqual(data["text/plain"], sample["result"])


if __name__ == "__main__":
    unittest.main()
