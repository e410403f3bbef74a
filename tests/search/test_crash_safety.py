#!/usr/bin/env python3
"""tests/search/test_crash_safety.py — crash safety of a search's run record, and full disks.

1. An offline search is killed with SIGKILL at random moments (12 times) and resumed with --resume each time. After
   every kill: events.jsonl parses line by line (only a torn last line may not), archive.json parses, no
   completed candidate (ok/failed in an archive.json seen earlier, or announced by an "evaluation" event) is lost
   or changed, an announced id never changes its code, and the killed search's workers are gone. The last resume
   finishes the run.
2. Full disk: `autoprune prune --out` past a file-size limit (ulimit -f) and on a small tmpfs, and a search whose
   run folder is on a small tmpfs: exit status 1, a message naming the file and the cause, no temp file left and
   no file under a final name that is not complete.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from aptest import Tap  # noqa: E402

ROOT = os.environ.get("AP_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AUTOPRUNE = os.environ.get("AUTOPRUNE") or os.path.join(ROOT, "build", "autoprune")
KILLS = 12
GENERATIONS = 60    # more work than the kills leave time for: the last resume then finishes one more generation
tap = Tap()


def search_args(runs, name, resume, generations=GENERATIONS):
    return [AUTOPRUNE, "run", "lua/search.lua", "--resume" if resume else "--name", name, "--runs-dir", runs,
            "--no-final", "--generations", str(generations), "--population", "4", "--nsamples", "8", "--proxy-windows", "2"]


def read_record(run):
    """(events, torn_lines, archive or None, archive_error)"""
    events, bad = [], []
    path = os.path.join(run, "events.jsonl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        tail_complete = lines[-1] == b""
        lines = lines[:-1] if tail_complete else lines
        for i, line in enumerate(lines):
            try:
                events.append(json.loads(line))
            except ValueError:
                bad.append((i, i == len(lines) - 1 and not tail_complete))
    archive, err = None, None
    apath = os.path.join(run, "archive.json")
    if os.path.exists(apath):
        try:
            with open(apath) as f:
                archive = json.load(f)
        except ValueError as e:
            err = str(e)
    return events, bad, archive, err


def session_pids(sid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[3]) == sid and fields[0] != "Z":   # field 6 of stat: session id
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def kill_and_resume(tmp):
    rng = random.Random(int(os.environ.get("AP_CRASH_SEED", "0")) or None)
    runs = os.path.join(tmp, "runs")
    run = os.path.join(runs, "X")
    completed = {}      # id -> (status, fitness) of every candidate seen completed
    codes = {}          # id -> code announced by a "candidate" event
    problems = []
    kills = 0
    orphans = 0
    start = time.time()
    # Attempts go on until KILLS kills have landed (a run may end by itself before its kill on a busy machine);
    # then one last resume must finish the search.
    attempt = -1
    while True:
        attempt += 1
        last = kills >= KILLS or attempt >= 3 * KILLS
        if last:    # finish the generation in hand and one more, whatever the kills interrupted
            _, _, archive, _ = read_record(run)
            final_generation = (archive or {}).get("generation", 0) + 1
        p = subprocess.Popen(search_args(runs, "X", attempt > 0, final_generation if last else GENERATIONS), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        if last:
            _, err = p.communicate(timeout=600)
            tap.check(p.returncode == 0, "the last resume finishes the search (exit %d%s)"
                      % (p.returncode, (": " + err.decode(errors="replace")[-300:]) if p.returncode else ""))
        else:
            # early kills land in setup and generation 0, later ones mostly in the generations
            delay = rng.uniform(0.2, 2.0) if attempt < 3 else rng.uniform(1.0, 6.0)
            try:
                p.wait(timeout=delay)
                if p.returncode != 0:
                    problems.append("attempt %d: the search ended by itself with status %d: %s"
                                    % (attempt, p.returncode, p.stderr.read().decode(errors="replace")[-300:]))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
            # the isolated worker of a killed search must die with it (PR_SET_PDEATHSIG)
            deadline = time.time() + 5
            while session_pids(p.pid) and time.time() < deadline:
                time.sleep(0.05)
            left = session_pids(p.pid)
            if left:
                orphans += len(left)
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
        events, bad, archive, aerr = read_record(run)
        if any(not torn_last for _, torn_last in bad):
            problems.append("attempt %d: events.jsonl has unparsable lines %s" % (attempt, bad))
        if aerr:
            problems.append("attempt %d: archive.json does not parse: %s" % (attempt, aerr))
        cands = {c["id"]: c for c in (archive or {}).get("candidates", [])}
        for e in events:
            if e.get("type") == "candidate" and e.get("code") is not None:
                if codes.setdefault(e["id"], e["code"]) != e["code"]:
                    problems.append("attempt %d: id %d announced with two different codes" % (attempt, e["id"]))
            if e.get("type") == "evaluation":
                completed.setdefault(e["id"], (e["status"], e.get("fitness")))
        for c in cands.values():
            if c.get("status") in ("ok", "failed"):
                completed.setdefault(c["id"], (c["status"], c.get("fitness")))
        for cid, (status, fitness) in completed.items():
            c = cands.get(cid)
            if c is None or c.get("status") != status or c.get("fitness") != fitness:
                problems.append("attempt %d: completed candidate %d (%s, %s) lost or changed: %s"
                                % (attempt, cid, status, fitness, c and (c.get("status"), c.get("fitness"))))
        if last:
            break
    elapsed = time.time() - start
    tap.check(kills >= 10,
              "killed the search with SIGKILL %d times at random moments (%.0f s in all)" % (kills, elapsed))
    lost = [p for p in problems if "lost" in p]
    tap.check(not problems, "after every kill: events.jsonl and archive.json parse, %d completed candidates, "
              "records lost: %d%s" % (len(completed), len(lost), ("; " + "; ".join(problems[:5])) if problems else ""))
    tap.check(orphans == 0, "no worker outlives a killed search (%d left)" % orphans)
    events, bad, archive, _ = read_record(run)
    tap.check(not bad, "the finished events.jsonl has no torn line")
    cands = archive["candidates"] if archive else []
    tap.check(cands and all(c["status"] in ("ok", "failed") for c in cands),
              "every candidate of the finished run was evaluated (%d)" % len(cands))
    tap.check(archive and archive.get("generation") == final_generation and any(e.get("type") == "end" for e in events),
              "the resumed run reached generation %d and its end" % final_generation)
    ids = [c["id"] for c in cands]
    tap.check(len(ids) == len(set(ids)), "candidate ids are unique")
    tap.check(not [f for f in os.listdir(run) if ".tmp" in f], "no temp file left in the run folder")
    return kills, len(completed)


MNT = None   # an empty folder under the test's temp folder, the mount point


def mount_tmpfs_cmd(size, inner):
    """A shell command that runs `inner` with a fresh tmpfs of `size` at $M, in a private mount namespace (the
    mount vanishes with the namespace)."""
    return "unshare -m sh -c 'M=%s && mount -t tmpfs -o size=%s tmpfs $M && %s'" % (MNT, size, inner)


def can_tmpfs():
    r = subprocess.run(mount_tmpfs_cmd("64k", "true"), shell=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def prune_cmd(out):
    return ("'%s' prune --model '%s/models/ap-tiny' --metric magnitude --sparsity 0.5 --nsamples 2 --quiet --out %s"
            % (AUTOPRUNE, ROOT, out))


def check_pruned_folder(out, rc, complete, what):
    """Files under final names must equal those of a complete run; on failure no prune.json, no temp files."""
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    temps = [n for n in names if ".tmp" in n]
    partial = [n for n in names if ".tmp" not in n and
               (n not in complete or os.path.getsize(os.path.join(out, n)) != complete[n])]
    tap.check(rc == 1 and not temps and not partial and "prune.json" not in names,
              "%s: exit %d, no temp file %s, no partial file %s, no prune.json" % (what, rc, temps, partial))


def full_disk(tmp):
    global MNT
    MNT = os.path.join(tmp, "mnt")
    os.mkdir(MNT)
    # a complete pruned folder, for the sizes of its files
    ref = os.path.join(tmp, "ref")
    r = subprocess.run(prune_cmd(ref), shell=True, capture_output=True, text=True)
    tap.check(r.returncode == 0, "prune --out without limits works")
    complete = {n: os.path.getsize(os.path.join(ref, n)) for n in os.listdir(ref)}
    model = complete.get("model.safetensors", 0)
    for kb in (64, model // 2048):
        out = os.path.join(tmp, "lim%d" % kb)
        r = subprocess.run("ulimit -f %d; %s" % (kb, prune_cmd(out)), shell=True, capture_output=True, text=True)
        check_pruned_folder(out, r.returncode, complete, "prune --out under ulimit -f %d KiB" % kb)
        tap.check("model.safetensors" in r.stderr and "too large" in r.stderr.lower(),
                  "the error names the file and the cause: %s" % r.stderr.strip()[-160:])
    if not can_tmpfs():
        tap.skip("a tmpfs cannot be mounted here (unshare -m + mount need root): the ENOSPC cases "
                 "(prune --out and a search on a full disk) are not run; the ulimit -f cases above are")
        return
    for size in ("1m", "%dk" % (model // 1024 + 64)):
        out_rel = "out"
        inner = "%s; echo rc=$? ; ls -l $M/%s" % (prune_cmd("$M/" + out_rel), out_rel)
        r = subprocess.run(mount_tmpfs_cmd(size, inner.replace("'", "'\\''")), shell=True, capture_output=True,
                           text=True)
        rc = int(r.stdout.split("rc=")[1].split()[0]) if "rc=" in r.stdout else -1
        listed = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 9 and parts[0].startswith("-"):
                listed[parts[-1]] = int(parts[4])
        temps = [n for n in listed if ".tmp" in n]
        partial = [n for n in listed if ".tmp" not in n and listed[n] != complete.get(n)]
        tap.check(rc == 1 and not temps and not partial and "prune.json" not in listed and
                  "No space left" in r.stderr,
                  "prune --out on a full %s tmpfs: exit %d, %s, complete files only %s" %
                  (size, rc, r.stderr.strip()[-120:], sorted(listed)))
    # a search whose run folder fills up: clear error, exit 1, archive.json absent or whole, no temp file
    for size in ("16k", "40k"):
        inner = ("cd '%s' && '%s' run lua/search.lua --name F --runs-dir $M --no-final --generations 1 "
                 "--population 2 --nsamples 8 --proxy-windows 2 >/dev/null; echo rc=$?; ls $M/F; "
                 "python3 '%s' $M/F" % (ROOT, AUTOPRUNE, os.path.abspath(__file__)))
        r = subprocess.run(mount_tmpfs_cmd(size, inner.replace("'", "'\\''")), shell=True, capture_output=True,
                           text=True)
        rc = int(r.stdout.split("rc=")[1].split()[0]) if "rc=" in r.stdout else -1
        tap.check(rc == 1 and "No space left" in r.stderr and ".tmp" not in r.stdout.split("rc=")[-1]
                  and "archive " in r.stdout and "lost 0" in r.stdout,
                  "search with its run folder on a full %s tmpfs: exit %d, %s; %s" %
                  (size, rc, r.stderr.strip().splitlines()[0][-120:] if r.stderr.strip() else "no message",
                   r.stdout.split("\n")[-2] if r.stdout else ""))


def describe_run(run):
    """Inside the tmpfs namespace: the archive's size and how many evaluated candidates it lacks."""
    events, _, archive, err = read_record(run)
    done = {c["id"] for c in (archive or {}).get("candidates", []) if c.get("status") in ("ok", "failed")}
    lost = [e["id"] for e in events if e.get("type") == "evaluation" and e["id"] not in done]
    print("archive %s, evaluations %d, lost %d" % (err or (len(archive["candidates"]) if archive else "absent"),
                                                  len([e for e in events if e.get("type") == "evaluation"]),
                                                  len(lost)))


def main():
    if len(sys.argv) == 2:
        describe_run(sys.argv[1])
        return 0
    tmp = tempfile.mkdtemp(prefix="ap-crash-")
    try:
        kills, completed = kill_and_resume(tmp)
        print("# %d kills, %d completed candidates tracked" % (kills, completed))
        full_disk(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    sys.exit(main())
