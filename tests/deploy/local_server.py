"""`ovserve serve` as a child process on loopback ports, for the deploy tests: started,
waited for until it serves, scraped, stopped (SIGTERM drain) or killed (SIGKILL)."""

import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request


class ServerError(Exception):
    pass


def parse_exposition(text):
    """{series name: [label dicts]} and {family name: type} from Prometheus text format."""
    series, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s", line)
            if m:
                labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
                series.setdefault(m.group(1), []).append(labels)
    return series, types


def sample_sum(text, name, **labels):
    """The sum of every sample of `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
    return total


class LocalServer:
    """with LocalServer(ovserve, model) as server: server.port, server.scrape(), ..."""

    def __init__(self, ovserve, model, extra_args=(), ready_timeout_s=240):
        self.args = [ovserve, "serve", "--model", model, "--host", "127.0.0.1", "--port", "0",
                     "--metrics-port", "0", "--http-port", "0", "--kv-cache-bytes", "67108864",
                     "--drain-timeout-ms", "2000", *extra_args]
        self.ready_timeout_s = ready_timeout_s
        self.port = self.metrics_port = None
        self.process = None
        self._log = None

    def __enter__(self):
        self._log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                        env=dict(os.environ, HOME=tempfile.gettempdir()))
        deadline = time.time() + self.ready_timeout_s
        while time.time() < deadline:
            text = self.log()
            m = re.search(r"listening on [^:\s]+:(\d+) .*metrics on port (\d+)", text)
            if m:
                self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
            if m and re.search(r"\bserving\b", text):
                return self
            if self.process.poll() is not None:
                self.__exit__(None, None, None)
                raise ServerError(f"the server exited with {self.process.returncode}:\n{text}")
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise ServerError(f"the server did not become ready in {self.ready_timeout_s} s:\n{text}")

    def __exit__(self, *exc):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self):
        self._log.seek(0)
        return self._log.read()

    def address(self):
        return f"127.0.0.1:{self.port}"

    def scrape(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30) as r:
            return r.read().decode()

    def kill(self):
        """SIGKILL: the process dies with its requests in flight."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout_s=60):
        """SIGTERM (drain) and the exit code; ServerError if it does not exit in time."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            raise ServerError(f"the server did not exit within {timeout_s} s of SIGTERM") from e
