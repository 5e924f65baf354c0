#!/usr/bin/env python3
"""scripts/download_models.sh against a local HTTP server on 127.0.0.1 (no network needed):
a fresh download, resuming a partial file, a checksum mismatch, a server error, an unreachable
server, and files already there. After every run: no partial or corrupt file under a final
name, no stray files.

Usage: test_download_models.py SOURCE_DIR
"""
import hashlib
import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading

FILES = {"model.bin": bytes((i * 7) % 251 for i in range(300_000)), "tokenizer.bin": b"tok" * 1000}


class Server(http.server.ThreadingHTTPServer):
    requests = []  # (path, Range header or None)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, self.headers.get("Range")))
        name = self.path.rsplit("/", 1)[-1]
        if self.path.startswith("/broken/") or name not in FILES:
            self.send_error(500 if self.path.startswith("/broken/") else 404)
            return
        data, start = FILES[name], 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


def manifest(path, prefix="files", sha_override=None):
    with open(path, "w") as f:
        f.write("# model file path bytes sha256\n")
        for name, data in FILES.items():
            sha = sha_override or hashlib.sha256(data).hexdigest()
            f.write(f"tiny {name} {prefix}/{name} {len(data)} {sha}\n")


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Case:
    def __init__(self, script, base, tmp):
        self.script, self.base, self.tmp = script, base, tmp
        self.dest = os.path.join(tmp, "models")
        self.manifest = os.path.join(tmp, "manifest")

    def run(self, base=None):
        env = dict(os.environ, PATCHBAY_DOWNLOAD_URL=base or self.base, PATCHBAY_DOWNLOAD_MANIFEST=self.manifest)
        r = subprocess.run([self.script, "--dest", self.dest, "tiny"], env=env, capture_output=True, text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    def names(self):
        d = os.path.join(self.dest, "tiny")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def content(self, name):
        with open(os.path.join(self.dest, "tiny", name), "rb") as f:
            return f.read()


def check(condition, what, output=""):
    if not condition:
        print(f"FAILED: {what}\n{output}")
        sys.exit(1)
    print(f"ok: {what}")


def run_cases(script, server, base):
    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest)
        rc, out = case.run()
        check(rc == 0 and case.names() == sorted(FILES), "a fresh download puts every file under its final name", out)
        check(all(case.content(n) == d for n, d in FILES.items()), "the downloaded files are byte-identical")
        server.requests.clear()
        rc, out = case.run()
        check(rc == 0 and "have" in out and not server.requests, "files already there with the right SHA-256 are kept, not fetched", out)

    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest)
        os.makedirs(os.path.join(case.dest, "tiny"))
        half = len(FILES["model.bin"]) // 2
        with open(os.path.join(case.dest, "tiny", "model.bin.part"), "wb") as f:
            f.write(FILES["model.bin"][:half])
        server.requests.clear()
        rc, out = case.run()
        check(rc == 0 and case.content("model.bin") == FILES["model.bin"], "a partial download is resumed to the exact file", out)
        check((f"/files/model.bin", f"bytes={half}-") in server.requests, "the resume asked only for the missing bytes")
        check(case.names() == sorted(FILES), "no .part file is left after resuming")

    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest, sha_override="0" * 64)
        rc, out = case.run()
        check(rc == 1 and "SHA-256 mismatch" in out, "a checksum mismatch fails with exit 1 and says so", out)
        check(not os.path.exists(case.dest), "a file with the wrong checksum is left under no name at all")

    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest, prefix="broken")
        rc, out = case.run()
        check(rc == 1 and "HTTP 500" in out and "/broken/model.bin" in out, "a server error fails with exit 1 naming the URL and status", out)
        check(not os.path.exists(case.dest), "a server error leaves no file")

    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest)
        rc, out = case.run(base=f"http://127.0.0.1:{closed_port()}")
        check(rc == 3 and "no network" in out and len(out.strip().splitlines()) == 1, "an unreachable server is exit 3 with one line saying so", out)
        check(not os.path.exists(case.dest), "an unreachable server leaves no file and no directory")

    with tempfile.TemporaryDirectory() as tmp:
        case = Case(script, base, tmp)
        manifest(case.manifest)
        os.makedirs(os.path.join(case.dest, "tiny"))
        with open(os.path.join(case.dest, "tiny", "model.bin"), "wb") as f:
            f.write(b"not the model")
        rc, out = case.run()
        check(rc == 1 and "exists but its SHA-256" in out and case.content("model.bin") == b"not the model",
              "a file already there with the wrong SHA-256 is refused and left untouched", out)


def main():
    script = os.path.join(sys.argv[1], "scripts", "download_models.sh")
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run_cases(script, server, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
