#!/usr/bin/env python3
"""How well the progress bar predicts a run's end: runs a bigstyle command on a pseudo-terminal
(`script`, so that the bar is drawn and its weights timed), reads the bar every few seconds and
prints, for each reading, the elapsed time plus the bar's ETA against the run's real length.

Usage: benches/progress_eta.py [--every SECONDS] -- BIGSTYLE [ARGS...]
Example: benches/progress_eta.py -- target/release/bigstyle --mem-budget 1GiB -o out.tif in.tif
"""
import argparse
import re
import shlex
import subprocess
import time

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(text):
    """indicatif's human durations: '45s', '2m', '1h'."""
    match = re.fullmatch(r"(\d+)([smhd])", text)
    return int(match.group(1)) * UNITS[match.group(2)] if match else None


def readings(command, every):
    """(time since start, bar line) pairs, at most one per `every` seconds, and the run's length."""
    proc = subprocess.Popen(
        ["script", "-qfc", shlex.join(command), "/dev/null"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    started, pending, lines, due = time.time(), b"", [], every
    while chunk := proc.stdout.read1(4096):
        *parts, pending = re.split(rb"[\r\n]", pending + chunk)
        now = time.time() - started
        for part in parts:
            text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", part.decode("utf-8", "replace")).strip()
            if "ETA" in text and now >= due:
                lines.append((now, text))
                due = now + every
    proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"the command failed (exit {proc.returncode})")
    return lines, time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()
    lines, total = readings(args.command, args.every)
    print(f"run: {total:.1f} s")
    print("elapsed_s  eta_s  predicted_end_s  error")
    for now, text in lines:
        eta = re.search(r"ETA (\w+)", text)
        left = seconds(eta.group(1)) if eta else None
        if left is None:
            continue
        end = now + left
        print(f"{now:9.1f} {left:6d} {end:16.1f} {100 * (end - total) / total:+5.0f} %")


if __name__ == "__main__":
    main()
