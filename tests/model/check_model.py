#!/usr/bin/env python3
"""Verify a Promela model with spin and check the verdict.

    check_model.py MODEL.pml --expect ok|counterexample [-D NAME ...]

`ok`: spin's exhaustive search must find no error (assertions, invalid end
states). `counterexample`: it must find one, and the trail is replayed and
printed so the failing interleaving is visible in the test log."""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import os


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--expect", choices=["ok", "counterexample"], required=True)
    ap.add_argument("-D", dest="defines", action="append", default=[])
    a = ap.parse_args()
    if not shutil.which("spin"):
        print("FAIL: spin is not installed (scripts/install-deps.sh installs it)")
        return 1
    defines = ["-D" + d for d in a.defines]
    with tempfile.TemporaryDirectory(prefix="kvmrun-spin-") as tmp:
        model = os.path.join(tmp, os.path.basename(a.model))
        shutil.copy(a.model, model)
        rc, out = run(["spin", "-a"] + defines + [os.path.basename(model)], tmp)
        if rc != 0:
            print(out)
            print("FAIL: spin -a rejected the model")
            return 1
        rc, out = run(["cc", "-O2", "-DSAFETY", "-o", "pan", "pan.c"], tmp)
        if rc != 0:
            print(out)
            print("FAIL: pan.c does not compile")
            return 1
        rc, out = run(["./pan", "-m100000"], tmp)
        print(out)
        m = re.search(r"errors: (\d+)", out)
        if not m:
            print("FAIL: no verdict in pan's output")
            return 1
        errors = int(m.group(1))
        if "Full statespace search" not in out:
            print("FAIL: the search was not exhaustive")
            return 1
        if a.expect == "ok":
            if errors:
                print(f"FAIL: spin found {errors} error(s) in the protocol")
                return 1
            print("PASS: no lost request, no deadlock, pause completes (exhaustive search)")
            return 0
        if not errors:
            print("FAIL: spin found no counterexample in the broken variant")
            return 1
        rc, trail = run(["spin", "-t", "-p"] + defines + [os.path.basename(model)], tmp)
        print(trail[-4000:])
        print(f"PASS: spin rejects the broken variant ({' '.join(defines)}) with a counterexample")
        return 0


if __name__ == "__main__":
    sys.exit(main())
