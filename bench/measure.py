#!/usr/bin/env python3
"""Runs a command a warm-up time and then N times, each after an optional prepare command,
and appends one JSON line to RESULTS: median wall time, median CPU time (user + system of the
command and all its children, from wait4), and the peak resident set (the largest single
process of the tree, as the kernel reports it: a shell script running curl and a parser is
measured by its biggest process, not their sum).

    measure.py RESULTS NAME --runs 5 --warmup 1 [--prepare 'sh cmd'] -- CMD ARGS...
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run_once(command, log):
    started = time.perf_counter()
    with open(log, "ab") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{command[0]} exited with {code}; see {log}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("results")
    p.add_argument("name")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--prepare")
    p.add_argument("--log", default="/dev/null")
    argv = sys.argv[1:]
    split = argv.index("--")
    args = p.parse_args(argv[:split])
    command = argv[split + 1 :]
    samples = []
    for i in range(args.warmup + args.runs):
        if args.prepare:
            subprocess.run(args.prepare, shell=True, check=True, stdout=subprocess.DEVNULL)
        sample = run_once(command, args.log)
        if i >= args.warmup:
            samples.append(sample)
    walls = [s[0] for s in samples]
    row = {
        "name": args.name,
        "wall_s": statistics.median(walls),
        "wall_min_s": min(walls),
        "wall_max_s": max(walls),
        "cpu_s": statistics.median(s[1] for s in samples),
        "peak_rss_mb": max(s[2] for s in samples) / 1024,
        "runs": len(samples),
        "load": open("/proc/loadavg").read().split()[0],
    }
    with open(args.results, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(f"{args.name:<40} wall {row['wall_s']:.3f} s (min {row['wall_min_s']:.3f}, max {row['wall_max_s']:.3f})"
          f"  cpu {row['cpu_s']:.3f} s  peak {row['peak_rss_mb']:.1f} MB  load {row['load']}")


if __name__ == "__main__":
    main()
