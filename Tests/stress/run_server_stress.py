#!/usr/bin/env python3
"""Stress and benchmark figures for the run server (issue: runs as servers). Not part of the test suite: it measures
rates and timings, which depend on the machine. Python 3 standard library only.

    python3 Tests/stress/run_server_stress.py [--loratop .build/release/loratop] [--only A,B,C,D,E]

A  200 attach/detach cycles against a training run: fds, threads, RSS before/after; median step time.
B  50 idle clients, a viewer that never reads, garbage, a 10 MiB line, a half message: step rate; state unchanged.
C  attach to a run past 100,000 steps: time to the full state and bytes transferred.
D  bytes per second at steady state, 120x40, --fps 10: remote attach (protocol over ssh) vs the TUI painted through ssh.
E  SSH drops of the TUI: the run's CPU use before and after, viewer processes left.
Every process it starts is ended by pid before it exits.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
started = []


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    started.append(p)
    return p


def cleanup():
    for p in started:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


class Peer:
    """A raw protocol client on a run's socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.bytes = 0

    def send(self, obj):
        self.s.sendall((json.dumps(obj) + "\n").encode())

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.s.recv(1 << 20)
            if not chunk:
                return None
            self.bytes += len(chunk)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def until(self, type_, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            m = self.line(max(0.01, end - time.time()))
            if m is None:
                return None
            if m.get("type") == type_:
                return m
        return None

    def close(self):
        self.s.close()


def proc_status(pid):
    out = {}
    for line in open(f"/proc/{pid}/status"):
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return {"threads": int(out["Threads"]), "rss_kib": int(out["VmRSS"].split()[0]), "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def steps(metrics):
    out = []
    for line in open(metrics):
        if '"type":"step"' in line:
            o = json.loads(line)
            out.append((o["step"], o["seconds"], o["time"]))
    return out


class Run:
    def __init__(self, lt, env, args, name):
        self.out = os.path.join(env["LT_TMP"], name)
        self.proc = spawn([lt, "train", "--data", "sample-data/logbook.txt", "--output", self.out, "--headless"] + args,
                          cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = env
        reg = os.path.join(env["XDG_RUNTIME_DIR"], "loratop")
        end = time.time() + 120
        self.sock = None
        while time.time() < end and self.sock is None:
            time.sleep(0.1)
            for n in os.listdir(reg) if os.path.isdir(reg) else []:
                if n.endswith(".json") and not n.startswith("."):
                    e = json.load(open(os.path.join(reg, n)))
                    if e["run"]["pid"] == self.proc.pid and e.get("ended") is None:
                        self.sock, self.id = e["socket"], e["run"]["id"]
        assert self.sock, "the run did not register"
        self.metrics = os.path.join(self.out, "metrics.jsonl")

    def wait_steps(self, n, timeout=600):
        # Ask the run (its hello carries the step): reading a long metrics file over and over would load the machine.
        end = time.time() + timeout
        while time.time() < end:
            p = Peer(self.sock)
            h = p.until("hello")
            p.close()
            if h and h["progress"]["step"] >= n:
                return
            time.sleep(1)
        raise RuntimeError("the run did not reach step %d" % n)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)


def window_stats(metrics, t0, t1):
    sel = [s for s in steps(metrics) if t0 <= s[2] <= t1]
    secs = [s[1] for s in sel]
    return len(sel) / (t1 - t0), statistics.median(secs) if secs else float("nan")


def section_a(lt, env):
    run = Run(lt, env, ["--preset", "small", "--seq-len", "64", "--batch-size", "4", "--max-steps", "10000000", "--threads", "1", "--no-save"], "a")
    run.wait_steps(50)
    p = Peer(run.sock); p.until("hello"); p.send({"type": "attach", "read_only": True}); p.until("state"); p.close()
    time.sleep(2)
    before = proc_status(run.proc.pid)
    t0 = time.time(); time.sleep(15); t1 = time.time()
    base_rate, base_med = window_stats(run.metrics, t0, t1)
    t2 = time.time()
    first = []
    for i in range(200):
        c0 = time.perf_counter()
        p = Peer(run.sock); p.until("hello"); p.send({"type": "attach", "read_only": i % 2 == 1}); p.until("state")
        first.append(time.perf_counter() - c0)
        p.close()
        time.sleep(0.05)
    t3 = time.time()
    cyc_rate, cyc_med = window_stats(run.metrics, t2, t3)
    time.sleep(3)
    after = proc_status(run.proc.pid)
    run.stop()
    return {"cycles": 200, "before": before, "after": after, "rss_growth_kib": after["rss_kib"] - before["rss_kib"],
            "median_step_s_baseline": base_med, "median_step_s_during": cyc_med,
            "median_step_change_pct": 100 * (cyc_med - base_med) / base_med,
            "attach_to_state_ms_median": 1000 * statistics.median(first), "cycle_seconds": t3 - t2}


def section_b(lt, env):
    run = Run(lt, env, ["--preset", "small", "--seq-len", "64", "--batch-size", "4", "--max-steps", "10000000", "--threads", "1", "--no-save"], "b")
    run.wait_steps(50)
    p = Peer(run.sock); p.until("hello"); p.send({"type": "attach", "read_only": True}); s0 = p.until("state"); p.close()
    t0 = time.time(); time.sleep(15); t1 = time.time()
    base_rate, _ = window_stats(run.metrics, t0, t1)
    results = {}
    idle = []
    for _ in range(50):
        q = Peer(run.sock); q.until("hello"); idle.append(q)
    lazy = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lazy.connect(run.sock); lazy.sendall(b'{"type":"attach","read_only":true}\n')
    def bad(payload):
        q = Peer(run.sock); q.until("hello")
        try:
            q.s.sendall(payload)
            m = q.line(10)
            return (m or {}).get("code", "closed") if (m or {}).get("type") in ("error", None) else "answered %s" % m.get("type")
        except (BrokenPipeError, ConnectionResetError):
            return "closed"
        finally:
            q.close()
    results["garbage"] = bad(b"\x00\x01\xff garbage\n")
    results["10MiB_line"] = bad(b'{"type":"ping","id":"' + b"x" * (10 << 20) + b'"}\n')
    half = Peer(run.sock); half.until("hello"); half.s.sendall(b'{"type":"attach","read_')
    t2 = time.time(); time.sleep(15); t3 = time.time()
    bad_rate, _ = window_stats(run.metrics, t2, t3)
    p = Peer(run.sock); p.until("hello"); p.send({"type": "attach", "read_only": True}); s1 = p.until("state"); p.close()
    for q in idle:
        q.close()
    half.close(); lazy.close()
    run.stop()
    return {"step_rate_baseline": base_rate, "step_rate_with_bad_clients": bad_rate,
            "change_pct": 100 * (bad_rate - base_rate) / base_rate, "settings_unchanged": s0["settings"] == s1["settings"],
            "bad_clients": results}


def section_c(lt, env):
    run = Run(lt, env, ["--preset", "tiny", "--seq-len", "16", "--batch-size", "1", "--max-steps", "10000000", "--threads", "1", "--no-save"], "c")
    run.wait_steps(100_000, timeout=900)
    times, sizes = [], []
    for _ in range(5):
        c0 = time.perf_counter()
        p = Peer(run.sock); p.until("hello"); p.send({"type": "attach", "read_only": True}); st = p.until("state", 30)
        times.append(time.perf_counter() - c0); sizes.append(p.bytes - len(p.buf)); p.close()
    run.stop()
    return {"steps_at_attach": st["step"], "decimated": st["decimated"], "points": len(st["train"]["steps"]),
            "time_to_state_ms": [round(1000 * t, 1) for t in times], "median_ms": round(1000 * statistics.median(times), 1),
            "bytes": sizes}


class SSHD:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "sshd"); os.makedirs(self.dir)
        for k in ("hostkey", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.dir, k)], check=True)
        shutil.copy(os.path.join(self.dir, "id.pub"), os.path.join(self.dir, "authorized_keys"))
        s = socket.socket(); s.bind(("127.0.0.1", 0)); self.port = s.getsockname()[1]; s.close()
        cfg = os.path.join(self.dir, "sshd_config")
        open(cfg, "w").write(f"Port {self.port}\nListenAddress 127.0.0.1\nHostKey {self.dir}/hostkey\nPidFile {self.dir}/pid\n"
                             f"AuthorizedKeysFile {self.dir}/authorized_keys\nStrictModes no\nPermitRootLogin yes\n"
                             "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPrintMotd no\n")
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close(); break
            except OSError:
                time.sleep(0.1)

    def args(self, tty):
        return ["ssh"] + (["-tt"] if tty else ["-T"]) + ["-i", f"{self.dir}/id", "-p", str(self.port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1"]


def count_bytes(proc, seconds, warmup):
    total = [0]; stop = time.time() + warmup + seconds; mark = [None]
    def reader():
        while True:
            b = proc.stdout.read1(65536) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if not b:
                return
            if time.time() >= stop - seconds:
                if mark[0] is None:
                    mark[0] = time.time()
                total[0] += len(b)
    t = threading.Thread(target=reader, daemon=True); t.start()
    time.sleep(warmup + seconds)
    return total[0] / seconds


def section_d(lt, env, tmp):
    sshd = SSHD(tmp)
    run = Run(lt, env, ["--preset", "smollm2-135m", "--seq-len", "128", "--batch-size", "4", "--max-steps", "100000", "--threads", "2", "--no-save"], "d")
    run.wait_steps(2)
    pre = f"cd {REPO} && exec env XDG_RUNTIME_DIR={env['XDG_RUNTIME_DIR']} LANG=C.UTF-8 {lt}"
    results = {}
    for rep in range(2):
        proto = spawn(sshd.args(False) + [f"{pre} attach --stdio {run.id}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        proto.stdin.write(b'{"type":"attach","read_only":true}\n'); proto.stdin.flush()
        results.setdefault("protocol_bytes_per_s", []).append(round(count_bytes(proto, 60, 10), 1))
        proto.kill(); proto.wait()
        paint = spawn(sshd.args(True) + [f"stty cols 120 rows 40; cd {REPO} && exec env TERM=xterm-256color "
                                         f"XDG_RUNTIME_DIR={env['XDG_RUNTIME_DIR']} LANG=C.UTF-8 {lt} attach --read-only --fps 10 {run.id}"],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        results.setdefault("painted_bytes_per_s", []).append(round(count_bytes(paint, 60, 10), 1))
        paint.kill(); paint.wait()
    st = steps(run.metrics)
    results["seconds_per_step"] = round(statistics.median([s[1] for s in st]), 2)
    run.stop()
    return results


def section_e(lt, env, tmp):
    sshd = SSHD(tmp + "/e")
    out = []
    for i in range(5):
        o = os.path.join(env["LT_TMP"], f"e{i}")
        cmd = (f"cd {REPO} && exec env XDG_RUNTIME_DIR={env['XDG_RUNTIME_DIR']} TERM=xterm-256color LANG=C.UTF-8 {lt} train --preset small "
               f"--data sample-data/logbook.txt --seq-len 64 --batch-size 4 --max-steps 10000000 --threads 1 --no-save --output {o}")
        client = spawn(sshd.args(True) + [cmd], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        reg = os.path.join(env["XDG_RUNTIME_DIR"], "loratop"); pid = None; rid = None
        for _ in range(300):
            time.sleep(0.1)
            for n in os.listdir(reg) if os.path.isdir(reg) else []:
                if n.endswith(".json") and not n.startswith("."):
                    e = json.load(open(os.path.join(reg, n)))
                    if e["run"]["output"] == o and e.get("ended") is None:
                        pid, rid = e["run"]["pid"], e["run"]["id"]
            if pid:
                break
        time.sleep(5)
        c0 = cpu_seconds(pid); time.sleep(5); before = (cpu_seconds(pid) - c0) / 5
        client.kill(); client.wait(); time.sleep(2)
        viewers = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != pid and
                   o in open(f"/proc/{p}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace") and
                   "ssh" not in open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")]
        c0 = cpu_seconds(pid); time.sleep(5); after = (cpu_seconds(pid) - c0) / 5
        out.append({"run_cpu_before": round(before, 3), "run_cpu_after": round(after, 3), "viewers_left": len(viewers)})
        subprocess.run([lt, "stop", "--no-save", rid], env=env, stdout=subprocess.DEVNULL)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loratop", default=os.path.join(REPO, ".build/release/loratop"))
    ap.add_argument("--only", default="A,B,C,D,E")
    a = ap.parse_args()
    lt = os.path.abspath(a.loratop)
    tmp = tempfile.mkdtemp(prefix="lt-stress-")
    xdg = os.path.join(tmp, "xdg"); os.makedirs(xdg); os.chmod(xdg, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=xdg, LT_TMP=tmp)
    print(json.dumps({"machine": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": "),
                      "cores": os.cpu_count()}))
    try:
        for key, fn in [("A", lambda: section_a(lt, env)), ("B", lambda: section_b(lt, env)), ("C", lambda: section_c(lt, env)),
                        ("D", lambda: section_d(lt, env, tmp)), ("E", lambda: section_e(lt, env, tmp))]:
            if key in a.only.split(","):
                print(json.dumps({key: fn()}), flush=True)
    finally:
        cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
