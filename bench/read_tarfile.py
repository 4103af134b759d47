#!/usr/bin/env python3
"""Read every member of tar shards with Python's tarfile (streaming mode, like webdataset).

Usage: read_tarfile.py SHARD...
Prints one JSON line: {"members": M, "samples": S, "bytes": B, "seconds": T}.
Samples are counted as runs of adjacent members sharing a key (webdataset's rule).
"""
import json, sys, tarfile, time


def main():
    t0 = time.perf_counter()
    members = samples = total = 0
    for path in sys.argv[1:]:
        last = None
        with tarfile.open(path, 'r|*') as tf:
            for info in tf:
                if not info.isreg():
                    continue
                data = tf.extractfile(info).read()
                members += 1
                total += len(data)
                base = info.name.rsplit('/', 1)[-1]
                if base.startswith('.') or '.' not in base:
                    continue
                key = info.name[: len(info.name) - len(base)] + base.split('.', 1)[0]
                if key != last:
                    samples += 1
                    last = key
    print(json.dumps({'members': members, 'samples': samples, 'bytes': total, 'seconds': time.perf_counter() - t0}))


if __name__ == '__main__':
    main()
