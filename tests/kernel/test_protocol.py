"""Our own protocol tests: signatures, malformed messages, interrupts, live
displays, two kernels at once. They drive the kernel with jupyter_client
and, where a message must be wrong on purpose, with raw ZeroMQ frames.
"""

import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

import zmq
from jupyter_client.manager import KernelManager, start_new_kernel
from jupyter_client.session import Session

CELL_TIMEOUT = 300


def run(kc, code, timeout=CELL_TIMEOUT):
    """Executes code; returns (reply content, [iopub messages])."""
    outputs = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=outputs.append)
    return reply["content"], outputs


def of_type(outputs, kind):
    return [m for m in outputs if m["msg_type"] == kind]


class KernelFixture(unittest.TestCase):
    env = {}
    # The kernel's log (stderr) thrown away, for tests that make it log
    # thousands of lines.
    quiet = False

    @classmethod
    def setUpClass(cls):
        env = dict(os.environ, **cls.env)
        extra = {"stderr": subprocess.DEVNULL} if cls.quiet else {}
        cls.km, cls.kc = start_new_kernel(kernel_name="deepscope", startup_timeout=120, env=env, **extra)
        run(cls.kc, "1")  # wait for the preload

    @classmethod
    def tearDownClass(cls):
        cls.kc.stop_channels()
        cls.km.shutdown_kernel(now=True)


class RawShell:
    """A DEALER on the kernel's shell port, for messages jupyter_client would
    never send."""

    def __init__(self, km, key):
        info = km.get_connection_info()
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
        self.sock.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
        self.session = Session(key=key, signature_scheme="hmac-sha256")

    def send_frames(self, frames):
        self.sock.send_multipart(frames)

    def send(self, msg_type, content):
        msg = self.session.msg(msg_type, content)
        self.session.send(self.sock, msg)
        return msg["header"]["msg_id"]

    def recv(self, timeout=5.0):
        if not self.sock.poll(timeout * 1000):
            return None
        frames = self.sock.recv_multipart()
        _, rest = self.session.feed_identities(frames)
        return self.session.deserialize(rest)

    def close(self):
        self.sock.close(linger=0)


class SignatureAndMalformedMessages(KernelFixture):
    def test_forged_signature_gets_no_reply_and_changes_nothing(self):
        forger = RawShell(self.km, key=b"not-the-key")
        try:
            forger.send("kernel_info_request", {})
            forger.send(
                "execute_request",
                {"code": "let forged = 1;", "silent": False, "store_history": True,
                 "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
            )
            self.assertIsNone(forger.recv(timeout=3), "a forged message was answered")
        finally:
            forger.close()
        reply, outputs = run(self.kc, "forged")
        self.assertEqual(reply["status"], "error")
        self.assertIn("cannot find value `forged`", reply["evalue"])

    def test_missing_signature_is_dropped(self):
        raw = RawShell(self.km, key=self.km.session.key)
        try:
            header = json.dumps(raw.session.msg_header("kernel_info_request"), default=str).encode()
            raw.send_frames([b"<IDS|MSG>", b"", header, b"{}", b"{}", b"{}"])
            self.assertIsNone(raw.recv(timeout=3))
        finally:
            raw.close()

    def test_malformed_stream_leaves_the_kernel_answering(self):
        raw = RawShell(self.km, key=self.km.session.key)
        key = self.km.session.key
        try:
            sign = raw.session.sign
            good_header = raw.session.msg_header("execute_request")
            bad = [
                [b"no delimiter at all"],
                [b"<IDS|MSG>"],
                [b"<IDS|MSG>", b"abc"],
                [b"<IDS|MSG>", b"zz", b"{", b"{}", b"{}", b"{}"],
            ]
            # Correctly signed but wrong inside.
            for parts in [
                [b"{not json", b"{}", b"{}", b"{}"],
                [json.dumps({"msg_type": "execute_request"}).encode(), b"{}", b"{}", b"{}"],
                [json.dumps(good_header, default=str).encode(), b"{}", b"{}", b"[1, 2]"],
                [json.dumps(good_header, default=str).encode(), b"{}", b"{}",
                 json.dumps({"code": 123, "silent": "no"}).encode()],
                [json.dumps(good_header, default=str).encode(), b"{}", b"{}", b"\xff\xfe"],
            ]:
                bad.append([b"<IDS|MSG>", sign(parts)] + parts)
            huge = b"x" * (64 << 20)
            bad.append([b"<IDS|MSG>", b"00", huge, b"{}", b"{}", b"{}"])
            for frames in bad:
                raw.send_frames(frames)
            # The three signed execute_requests with a valid header (content
            # a list, wrongly typed, not UTF-8) are each answered with an
            # error reply; the rest cannot be answered and are dropped.
            answers = []
            while (m := raw.recv(timeout=3)) is not None:
                answers.append(m)
            self.assertEqual(len(answers), 3, [m["content"] for m in answers])
            for m in answers:
                self.assertEqual(m["msg_type"], "execute_reply")
                self.assertEqual(m["content"]["status"], "error")
                self.assertEqual(m["parent_header"]["msg_id"], good_header["msg_id"])
            msg_id = raw.send("kernel_info_request", {})
            reply = raw.recv(timeout=10)
            self.assertIsNotNone(reply, "the kernel stopped answering")
            self.assertEqual(reply["parent_header"]["msg_id"], msg_id)
        finally:
            raw.close()
        reply, _ = run(self.kc, "2 + 2")
        self.assertEqual(reply["status"], "ok")
        self.assertTrue(key)


class Fuzz(KernelFixture):
    """Random and mutated frames on the shell and control sockets."""

    FRAMES = 10_000
    quiet = True  # each dropped frame is a line of the kernel's log

    # Requests whose valid forms answer at once (no cell, no completion is
    # queued behind which the last check would wait), never shutdown.
    SHELL = [("kernel_info_request", {}), ("is_complete_request", {"code": "let x = ("}),
             ("history_request", {"hist_access_type": "tail", "n": 3}),
             ("comm_info_request", {}), ("comm_open", {"comm_id": "c", "target_name": "t", "data": {}}),
             ("comm_msg", {"comm_id": "c", "data": {}}), ("made_up_request", {}),
             ("execute_request", {"code": 7, "silent": "no"})]
    CONTROL = [("kernel_info_request", {}), ("interrupt_request", {}), ("made_up_request", {})]

    def mutate(self, rng, frames):
        frames = list(frames)
        for _ in range(rng.randint(1, 4)):
            kind = rng.randrange(6)
            i = rng.randrange(len(frames)) if frames else 0
            if kind == 0 and frames and frames[i]:
                b = bytearray(frames[i])
                b[rng.randrange(len(b))] = rng.randrange(256)
                frames[i] = bytes(b)
            elif kind == 1 and frames:
                frames[i] = frames[i][: rng.randrange(len(frames[i]) + 1)]
            elif kind == 2 and len(frames) > 1:
                del frames[i]
            elif kind == 3 and frames:
                frames.insert(i, frames[i])
            elif kind == 4:
                frames.insert(i, rng.randbytes(rng.randrange(64)))
            else:
                frames = [rng.randbytes(rng.randrange(1, 200)) for _ in range(rng.randrange(1, 8))]
        return frames

    def test_ten_thousand_random_and_mutated_frames_leave_the_kernel_working(self):
        rng = random.Random(20261202)
        info = self.km.get_connection_info()
        session = Session(key=self.km.session.key, signature_scheme="hmac-sha256")
        ctx = zmq.Context.instance()
        sockets = {}
        for port in ("shell_port", "control_port"):
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(f"{info['transport']}://{info['ip']}:{info[port]}")
            sockets[port] = sock
        try:
            for n in range(self.FRAMES):
                port = "shell_port" if n % 3 else "control_port"
                msg_type, content = rng.choice(self.SHELL if port == "shell_port" else self.CONTROL)
                msg = session.msg(msg_type, content)
                parts = [json.dumps(msg[k], default=str).encode() for k in ("header", "parent_header", "metadata", "content")]
                frames = self.mutate(rng, parts)
                if rng.random() < 0.5:
                    # Signed after the mutation: reaches the parsing behind the signature check.
                    body = [f for f in frames][:4]
                    frames = [b"<IDS|MSG>", session.sign(body)] + frames
                else:
                    frames = self.mutate(rng, [b"<IDS|MSG>", session.sign(parts)] + parts)
                if not frames:
                    frames = [b""]
                sockets[port].send_multipart(frames)
            for sock in sockets.values():
                while sock.poll(2000):
                    sock.recv_multipart()
        finally:
            for sock in sockets.values():
                sock.close(linger=0)
        reply = self.kc.kernel_info(reply=True, timeout=30)
        self.assertEqual(reply["content"]["status"], "ok")
        reply, outputs = run(self.kc, "40 + 2")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "42")


class Interrupts(KernelFixture):
    env = {"DEEPSCOPE_INTERRUPT_GRACE": "3"}

    def interrupt_after(self, seconds):
        timer = threading.Timer(seconds, self.km.interrupt_kernel)
        timer.start()
        return timer

    def test_library_loop_stops_and_earlier_variables_survive(self):
        run(self.kc, "let keep = 7;")
        self.interrupt_after(3)
        started = time.time()
        reply, outputs = run(
            self.kc,
            "let mut steps = 0u64;\n"
            "while !deepscope::train::interrupt::take() { steps += 1; std::thread::sleep(std::time::Duration::from_millis(5)); }",
        )
        self.assertLess(time.time() - started, 3 + 2.5, "stopped by the grace kill, not the flag")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Interrupted")
        reply, outputs = run(self.kc, "keep")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "7")
        # The flag was cleared: a new loop runs until its own end.
        reply, _ = run(self.kc, "deepscope::train::interrupt::requested()")
        self.assertEqual(reply["status"], "ok")

    def test_training_stops_at_the_interrupt_and_keeps_the_model(self):
        run(self.kc, "let data = deepscope::data::digits()?;\n"
                     "let mut model = zoo::mlp(&data.train.image_shape(), &[32], 10, zoo::Activation::Relu).build(Device::Cpu)?;")
        self.interrupt_after(4)
        started = time.time()
        reply, outputs = run(self.kc, "let report = fit(&mut model, &data, &FitConfig::new(100_000, 64, Optimizer::sgd(0.1)))?;")
        self.assertLess(time.time() - started, 4 + 2.5)
        self.assertEqual(reply["ename"], "Interrupted")
        final = of_type(outputs, "update_display_data")[-1]["content"]["data"]["text/plain"]
        self.assertTrue(final.startswith("interrupted"), final[:80])
        reply, outputs = run(self.kc, "(report.interrupted, report.history.epochs.len() > 0, model.summary().to_string().is_empty())")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "(true, true, false)")

    def test_ignored_interrupt_kills_and_names_lost_variables(self):
        run(self.kc, "let doomed = String::from(\"x\");")
        self.interrupt_after(2)
        reply, outputs = run(self.kc, "loop { std::thread::sleep(std::time::Duration::from_millis(10)); }")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Interrupted")
        self.assertIn("doomed: String", reply["evalue"])
        reply, _ = run(self.kc, "doomed")
        self.assertEqual(reply["status"], "error")
        # The restarted process works, with the library.
        reply, outputs = run(self.kc, "tch::Tensor::from_slice(&[1.0f32, 2.0]).sum(tch::Kind::Float).double_value(&[])")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "3.0")

    def test_a_cell_waiting_for_input_stops_at_the_interrupt(self):
        # What evcxr_input::get_string does: a request line on stdout, the
        # answer read from stdin.
        ask = ('let mut line = String::new();\n'
               'println!("EVCXR_INPUT_REQUEST:your name?");\n'
               'std::io::stdin().read_line(&mut line).unwrap();\n'
               'println!("got [{}]", line.trim());')
        run(self.kc, "let before_input = 3;")
        requests = []
        self.interrupt_after(3)
        started = time.time()
        reply = self.kc.execute_interactive(
            ask, timeout=60, allow_stdin=True, stdin_hook=requests.append)["content"]
        # Nobody answered: the interrupt gave the cell an empty line rather
        # than leaving the kernel waiting for the frontend.
        self.assertEqual(len(requests), 1)
        self.assertEqual(requests[0]["content"]["prompt"], "your name?")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Interrupted")
        self.assertLess(time.time() - started, 3 + 2.5, "stopped by the grace kill, not the cancel")
        reply, outputs = run(self.kc, "before_input + 1")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "4")
        # The next request is answered as usual.
        answered = []
        reply = self.kc.execute_interactive(
            ask, timeout=60, allow_stdin=True,
            stdin_hook=lambda m: (answered.append(m), self.kc.input("Ada")),
            output_hook=answered.append)["content"]
        self.assertEqual(reply["status"], "ok", reply)
        self.assertTrue(any("got [Ada]" in m["content"].get("text", "") for m in answered))

    def test_panic_is_an_error_and_keeps_variables(self):
        run(self.kc, "let kept = 5;")
        reply, outputs = run(self.kc, 'let lost = 1; panic!("on purpose {}", kept);')
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Panic")
        self.assertIn("on purpose 5", reply["evalue"])
        self.assertFalse(any("stack backtrace" in m["content"].get("text", "") for m in outputs))
        reply, _ = run(self.kc, "kept * 2")
        self.assertEqual(reply["status"], "ok")

    def test_a_panic_the_cell_catches_in_a_joined_thread_is_output_not_the_cells_panic(self):
        run(self.kc, "let kept_too = 6;")
        reply, outputs = run(
            self.kc,
            'let worker = std::thread::spawn(|| -> i32 { panic!("inside the worker") });\n'
            'let failed = worker.join().is_err();\n'
            'println!("joined: failed {failed}");\n'
            'eprintln!("stderr after the panic");\n'
            "kept_too + 1")
        self.assertEqual(reply["status"], "ok", reply)
        printed = {name: "".join(m["content"]["text"] for m in of_type(outputs, "stream")
                                 if m["content"]["name"] == name) for name in ("stdout", "stderr")}
        self.assertIn("joined: failed true", printed["stdout"])
        self.assertIn("panicked at", printed["stderr"])
        self.assertIn("inside the worker", printed["stderr"])
        self.assertIn("stderr after the panic", printed["stderr"])
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "7")
        # The cell's own panic is still the cell's error.
        reply, _ = run(self.kc, 'panic!("the cell itself")')
        self.assertEqual(reply["ename"], "Panic")
        self.assertIn("the cell itself", reply["evalue"])

    def test_error_at_a_question_mark_fails_the_cell_so_notebooks_stop(self):
        run(self.kc, "let before = 7;")
        code = ("let during = 1;\n"
                "let t = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));\n"
                "data::Split::new(t.shallow_clone(), t)?;\n"
                'println!("not reached");')
        reply, outputs = run(self.kc, code)
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["ename"], "Error")
        self.assertIn("expected a batch of images [N, C, H, W], got [2, 3]", reply["evalue"])
        self.assertIn("variables it defined are not kept", reply["evalue"])
        printed = "".join(m["content"].get("text", "") for m in of_type(outputs, "stream"))
        self.assertNotIn("not reached", printed)
        self.assertNotIn("DEEPSCOPE_CELL_RETURNED_ERROR", printed)
        self.assertEqual(len(of_type(outputs, "error")), 1)
        reply, outputs = run(self.kc, "before + 1")
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "8")
        reply, _ = run(self.kc, "during")
        self.assertEqual(reply["status"], "error", "the failed cell's variables are gone")
        # The next cell that succeeds is not mistaken for a failure.
        reply, _ = run(self.kc, 'let r: Result<i32> = Ok(2); r? + before')
        self.assertEqual(reply["status"], "ok")


def memory_mb(pid, field):
    """A /proc/PID/status field (VmRSS, VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


class RichOutput(KernelFixture):
    def test_a_flood_of_output_arrives_whole_without_growing_the_kernel(self):
        # 2,000,000 lines of 100 digits (202 MB) printed as fast as the
        # process can, read only after the cell's reply: the lines travel in
        # batches and the kernel process does not hold them (it grew by 24
        # MB for this when measured; the bound leaves room for the allocator).
        pid = self.km.provisioner.process.pid
        before = memory_mb(pid, "VmRSS")
        msg_id = self.kc.execute('for i in 0..2_000_000u64 { println!("{i:0>100}"); }')
        peak = before
        while True:
            try:
                reply = self.kc.get_shell_msg(timeout=0.5)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            except Exception:
                pass
            peak = max(peak, memory_mb(pid, "VmRSS"))
        self.assertEqual(reply["content"]["status"], "ok")
        chars = 0
        while True:
            try:
                m = self.kc.get_iopub_msg(timeout=5)
            except Exception:
                break
            if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id:
                chars += len(m["content"]["text"])
        self.assertEqual(chars, 2_000_000 * 101)
        self.assertLess(peak - before, 150, f"the kernel grew from {before} to {peak} MB")

    def test_several_displays_arrive_while_the_cell_runs(self):
        code = (
            'display(&"first".to_string())?;\n'
            "std::thread::sleep(std::time::Duration::from_millis(1500));\n"
            'display(&LinePlot::new().values("y", &[1.0, 3.0]))?;'
        )
        arrivals = []
        started = time.time()
        self.kc.execute_interactive(
            code, timeout=CELL_TIMEOUT,
            output_hook=lambda m: arrivals.append((time.time(), m)),
        )
        ended = time.time()
        shown = [(t, m) for t, m in arrivals if m["msg_type"] == "display_data"]
        self.assertEqual(len(shown), 2)
        self.assertEqual(shown[0][1]["content"]["data"]["text/plain"], "first")
        self.assertIn("image/png", shown[1][1]["content"]["data"])
        self.assertIn("text/plain", shown[1][1]["content"]["data"])
        # The first arrived while the cell was still sleeping.
        self.assertLess(shown[0][0], ended - 1.0)
        self.assertGreater(shown[0][0], started)

    def test_display_handle_updates_in_place(self):
        code = (
            'let h = deepscope::display::DisplayHandle::show(&"v1".to_string())?;\n'
            'h.update(&"v2".to_string())?;\n'
            "h.id().to_string()"
        )
        reply, outputs = run(self.kc, code)
        self.assertEqual(reply["status"], "ok")
        shown = of_type(outputs, "display_data")
        updated = of_type(outputs, "update_display_data")
        self.assertEqual(len(shown), 1)
        self.assertEqual(len(updated), 1)
        shown_id = shown[0]["content"]["transient"]["display_id"]
        self.assertEqual(updated[0]["content"]["transient"]["display_id"], shown_id)
        self.assertEqual(updated[0]["content"]["data"]["text/plain"], "v2")
        result = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
        self.assertEqual(json.loads(result), shown_id)

    def test_table_is_html_with_text(self):
        reply, outputs = run(self.kc, 'display(&Table::new(&["k", "v"]).row(&["a", "1"])?)?;')
        data = of_type(outputs, "display_data")[0]["content"]["data"]
        self.assertIn("<table", data["text/html"])
        self.assertIn("text/plain", data)

    def test_training_shows_one_live_display(self):
        code = (
            "let data = deepscope::data::digits()?;\n"
            "let mut model = zoo::mlp(&data.train.image_shape(), &[32], 10, zoo::Activation::Relu).build(Device::Cpu)?;\n"
            "let cfg = FitConfig::new(3, 64, Optimizer::sgd(0.1));\n"
            "let report = fit(&mut model, &data, &cfg)?;\n"
            "report.history.epochs.len()"
        )
        reply, outputs = run(self.kc, code)
        self.assertEqual(reply["status"], "ok", reply)
        shown = of_type(outputs, "display_data")
        updated = of_type(outputs, "update_display_data")
        self.assertEqual(len(shown), 1, "one display for the whole run")
        self.assertGreaterEqual(len(updated), 1)
        final = updated[-1]["content"]["data"]
        self.assertIn("image/png", final)
        self.assertTrue(final["text/plain"].startswith("done"), final["text/plain"][:80])
        self.assertIn("epoch 3/3", final["text/plain"])


    def test_results_at_the_end_of_a_cell_show_a_table_and_a_figure(self):
        run(self.kc, "let data = deepscope::data::digits()?;\n"
                     "let mut model = zoo::mlp(&data.train.image_shape(), &[16], 10, zoo::Activation::Relu).build(Device::Cpu)?;")
        for code, text, figures in [
            ("evaluate(&mut model, &data.test, 256)?", r"^loss \d+\.\d{4}, accuracy \d+\.\d{2}% on 359 examples$", 1),
            ("let mut cfg = FitConfig::new(1, 64, Optimizer::sgd(0.1));\ncfg.progress = ProgressMode::Silent;\nfit(&mut model, &data, &cfg)?",
             r"^training run: 1 of 1 epochs, 23 steps, train loss \d+\.\d{4}, test accuracy", 1),
            ("model", r"^layer +kind", 0),
        ]:
            reply, outputs = run(self.kc, code)
            self.assertEqual(reply["status"], "ok", reply)
            data = of_type(outputs, "execute_result")[0]["content"]["data"]
            self.assertIn("<table>", data["text/html"], code)
            self.assertEqual(data["text/html"].count('<img src="data:image/png;base64,'), figures, code)
            self.assertRegex(data["text/plain"], text)
            self.assertNotIn("confusion: [[", data["text/plain"], "no Debug dump")

    def test_a_place_the_cell_declared_immutable_ends_it(self):
        # The prelude's evcxr_display borrows the value mutably; the kernel
        # hands a place at the end of a cell to evcxr as a shared borrow, so
        # these show their value (they were borrow errors) and a result
        # bound in the same cell still shows its table and figure.
        for code, text in [
            ("let a = 5; a", "5"),
            ('let s = String::from("x");\ns', '"x"'),
            ("let v = vec![1, 2]; v[1]", "2"),
            ("let p = (1, 2); p.0", "1"),
            ("let b = Box::new(5); *b", "5"),
        ]:
            reply, outputs = run(self.kc, code)
            self.assertEqual(reply["status"], "ok", (code, reply))
            data = of_type(outputs, "execute_result")[0]["content"]["data"]
            self.assertEqual(data["text/plain"], text, code)
        reply, outputs = run(self.kc, "let data = deepscope::data::digits()?;\n"
                                      "let mut model = zoo::mlp(&data.train.image_shape(), &[16], 10, zoo::Activation::Relu).build(Device::Cpu)?;\n"
                                      "let scores = evaluate(&mut model, &data.test, 256)?;\nscores")
        self.assertEqual(reply["status"], "ok", reply)
        data = of_type(outputs, "execute_result")[0]["content"]["data"]
        self.assertEqual(data["text/html"].count('<img src="data:image/png;base64,'), 1)
        self.assertRegex(data["text/plain"], r"^loss \d+\.\d{4}, accuracy")

class BoundedBacklog(KernelFixture):
    # A backlog of 64 KB instead of 64 MB, so that a flood overruns it.
    env = {"DEEPSCOPE_KERNEL_BACKLOG_BYTES": "65536"}

    def test_output_beyond_the_backlog_is_dropped_counted_and_said(self):
        # Every line either arrives or is counted in a notice on stderr, and
        # the kernel runs the next cell.
        total = 2_000_000
        msg_id = self.kc.execute(f'for i in 0..{total}u64 {{ println!("{{i:0>100}}"); }}')
        while True:
            reply = self.kc.get_shell_msg(timeout=CELL_TIMEOUT)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        self.assertEqual(reply["content"]["status"], "ok")
        received, dropped, notices = 0, 0, 0
        while True:
            try:
                m = self.kc.get_iopub_msg(timeout=5)
            except Exception:
                break
            if m["msg_type"] != "stream" or m["parent_header"].get("msg_id") != msg_id:
                continue
            text = m["content"]["text"]
            if m["content"]["name"] == "stdout":
                received += text.count("\n")
            else:
                for line in text.splitlines():
                    if line.startswith("[deepscope: ") and "dropped here" in line:
                        notices += 1
                        dropped += int(line.split()[1])
        self.assertEqual(received + dropped, total, f"{received} received, {dropped} dropped")
        self.assertGreater(dropped, 0, "a 64 KB backlog under 202 MB of output dropped nothing")
        self.assertGreaterEqual(notices, 1)
        content, outputs = run(self.kc, 'println!("after");')
        self.assertEqual(content["status"], "ok")
        self.assertIn("after", "".join(m["content"]["text"] for m in of_type(outputs, "stream")))


class Dependencies(KernelFixture):
    def test_cells_share_one_loaded_copy_of_the_library(self):
        # Each cell links the library's shared object (kernel/cells) rather
        # than its own static copy: every cell's map of the process shows
        # that one file, and only it.
        count = ('std::fs::read_to_string("/proc/self/maps").unwrap().lines()'
                 '.filter(|l| l.ends_with("/libdeepscope_cells.so"))'
                 '.map(|l| l.split_whitespace().last().unwrap().to_string())'
                 '.collect::<std::collections::BTreeSet<_>>().len()')
        for _ in range(2):
            reply, outputs = run(self.kc, count)
            self.assertEqual(reply["status"], "ok", reply)
            self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "1")

    def test_cells_after_the_first_are_compiled_by_rustc_alone(self):
        reply, outputs = run(self.kc, 'std::env::var("EVCXR_TMPDIR").unwrap()')
        self.assertEqual(reply["status"], "ok", reply)
        build = Path(json.loads(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]))
        state = json.loads((build / "target" / "deepscope-cell-build.json").read_text())
        self.assertIn("--crate-name", state["rustc"]["args"])
        self.assertTrue(any(path.endswith("/src/lib.rs") and "/kernel/cells/" not in path
                            for path, _ in state["watched"]), "the library's sources are watched")

        def stamps():
            # cargo's record of the cell crate (it writes it on every build
            # it runs) and the cell's shared object (rustc writes it).
            fingerprints = sorted(build.glob("target/*/debug/.fingerprint/ctx-*/*"))
            built = next(build.glob("target/*/debug/deps/libctx.so"))
            return [f.stat().st_mtime_ns for f in fingerprints], built.stat().st_mtime_ns

        before = stamps()
        reply, outputs = run(self.kc, "6 * 7")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "42")
        after = stamps()
        self.assertEqual(after[0], before[0], "cargo did not run")
        self.assertGreater(after[1], before[1], "rustc did")

    def test_libtorch_errors_reach_the_cell_that_caused_them(self):
        # tch's code compiled into the cell calls libtorch's C functions in
        # the shared object and reads the error back from the same copy.
        reply, outputs = run(
            self.kc,
            "let a = Tensor::zeros([2, 3], (Kind::Float, Device::Cpu));\n"
            "a.f_matmul(&Tensor::zeros([4, 5], (Kind::Float, Device::Cpu))).unwrap_err().to_string()")
        self.assertEqual(reply["status"], "ok", reply)
        text = of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"]
        self.assertIn("cannot be multiplied (2x3 and 4x5)", text)
        reply, outputs = run(self.kc, "a.f_matmul(&a.tr()).map(|m| m.size())")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "Ok([2, 2])")

    def test_dep_adds_another_crate_beside_the_preloaded_library(self):
        crate = Path(tempfile.mkdtemp(prefix="tinydep-"))
        # Every later cell of this kernel builds against it: removed with the kernel.
        type(self).addClassCleanup(shutil.rmtree, crate, ignore_errors=True)
        (crate / "src").mkdir()
        (crate / "Cargo.toml").write_text(
            '[package]\nname = "tinydep"\nversion = "0.1.0"\nedition = "2021"\n')
        (crate / "src" / "lib.rs").write_text("pub fn answer() -> i32 { 42 }\n")
        reply, _ = run(self.kc, f':dep tinydep = {{ path = "{crate}" }}')
        self.assertEqual(reply["status"], "ok", reply)
        reply, outputs = run(self.kc, "(tinydep::answer(), LinePlot::new().series().len())")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "(42, 0)")
        # Cells after the first skip cargo while nothing but the cell
        # changed (kernel/src/cell_build.rs); a dependency's source that
        # changes is rebuilt all the same.
        reply, outputs = run(self.kc, "tinydep::answer() + 1")
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "43")
        source = crate / "src" / "lib.rs"
        source.write_text("pub fn answer() -> i32 { 50 }\n")
        later = time.time() + 2
        os.utime(source, (later, later))
        reply, outputs = run(self.kc, "tinydep::answer() + 1")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"], "51")


class FreedBuffers(KernelFixture):
    FAULTS_PER_PASS = """{
    fn minor_faults() -> i64 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        rest.split(' ').nth(7).unwrap().parse().unwrap()
    }
    let _guard = tch::no_grad_guard();
    let mut m = zoo::resnet20([1, 14, 14], 10, true).seed(0).build(tch::Device::Cpu).unwrap();
    m.set_train(false);
    let x = tch::Tensor::rand([500, 1, 14, 14], (tch::Kind::Float, tch::Device::Cpu));
    for _ in 0..2 { let _ = m.forward(&x).unwrap(); }
    let mut fewest = i64::MAX;
    for _ in 0..5 {
        let before = minor_faults();
        let _ = m.forward(&x).unwrap();
        fewest = fewest.min(minor_faults() - before);
    }
    println!("faults per pass: {}", fewest);
}"""

    def test_cells_keep_the_buffers_a_forward_pass_frees(self):
        # With glibc's defaults each ResNet-20 pass over 500 images faults
        # its activations in again (15,000-27,000 faults, tests/runtime_allocator.rs);
        # the evaluation process keeps them (a handful in the steady pass; the
        # fewest of five passes is read, since a pass in which the heap
        # grows to a new peak faults a few thousand).
        reply, outputs = run(self.kc, self.FAULTS_PER_PASS)
        self.assertEqual(reply["status"], "ok", reply)
        text = "".join(m["content"].get("text", "") for m in of_type(outputs, "stream"))
        faults = int(text.split("faults per pass:")[1].split()[0])
        self.assertLess(faults, 3000, text)


class SavedNotebook(unittest.TestCase):
    def test_nbclient_keeps_the_final_state_of_the_live_display(self):
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "deepscope", "display_name": "Rust (deepscope)", "language": "rust"}
        nb.cells = [nbformat.v4.new_code_cell(
            "let data = deepscope::data::digits()?;\n"
            "let mut model = zoo::mlp(&data.train.image_shape(), &[16], 10, zoo::Activation::Relu).build(Device::Cpu)?;\n"
            "let report = fit(&mut model, &data, &FitConfig::new(2, 64, Optimizer::sgd(0.1)))?;"
        )]
        NotebookClient(nb, kernel_name="deepscope", timeout=CELL_TIMEOUT, startup_timeout=120).execute()
        outputs = [o for o in nb.cells[0].outputs if o.output_type == "display_data"]
        self.assertEqual(len(outputs), 1, nb.cells[0].outputs)
        self.assertIn("image/png", outputs[0].data)
        self.assertTrue(outputs[0].data["text/plain"].startswith("done"), outputs[0].data["text/plain"][:80])


class TwoKernelsAtOnce(unittest.TestCase):
    def test_both_work_in_separate_build_folders(self):
        # Kernels that start by themselves (no ready service): the pool
        # alone keeps them apart. test_ready covers the service.
        pool = tempfile.mkdtemp(prefix="deepscope-pool-test-")
        env = dict(os.environ, DEEPSCOPE_KERNEL_POOL=pool, DEEPSCOPE_KERNEL_PRELOAD="none",
                   DEEPSCOPE_KERNEL_READY="0")
        kernels = []
        try:
            for _ in range(2):
                kernels.append(start_new_kernel(kernel_name="deepscope", startup_timeout=120, env=env))
            results = {}

            def work(i, kc):
                run(kc, f"let who = {i};")
                reply, outputs = run(kc, "who * 10")
                results[i] = (reply["status"], of_type(outputs, "execute_result")[0]["content"]["data"]["text/plain"])

            threads = [threading.Thread(target=work, args=(i, kc)) for i, (_, kc) in enumerate(kernels)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(CELL_TIMEOUT)
            self.assertEqual(results, {0: ("ok", "0"), 1: ("ok", "10")})
            self.assertEqual(sorted(p for p in os.listdir(pool) if not p.endswith(".lock")), ["slot-0", "slot-1"])
        finally:
            for km, kc in kernels:
                kc.stop_channels()
                km.shutdown_kernel(now=True)
            shutil.rmtree(pool, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
