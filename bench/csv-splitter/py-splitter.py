"""Peer for bench/csv-splitter: the original py-utilities approach (csv.reader -> csv.writer, header repeated,
size counted in characters and checked before each write, so parts overshoot the cap).
usage: python3 py-splitter.py INPUT.csv OUT_DIR MAX_CHARS"""
import csv
import os
import sys


def split(path, out_dir, max_size):
    base = os.path.splitext(os.path.basename(path))[0]
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        n, size, out, writer = 0, 0, None, None
        for row in reader:
            if out is None or size >= max_size:
                if out is not None:
                    out.close()
                n += 1
                out = open(os.path.join(out_dir, f"{base}_{n}.csv"), "w", newline="", encoding="utf-8")
                writer = csv.writer(out)
                writer.writerow(header)
                size = 0
            writer.writerow(row)
            size += sum(len(c) for c in row) + len(row)
        if out is not None:
            out.close()


if __name__ == "__main__":
    split(sys.argv[1], sys.argv[2], int(sys.argv[3]))
