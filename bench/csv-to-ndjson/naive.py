"""Peer: the naive Python way, csv.DictReader + json.dumps (every value a string). Usage: naive.py IN.csv OUT.ndjson"""
import csv
import json
import sys

with open(sys.argv[1], newline="", encoding="utf-8") as f, open(sys.argv[2], "w", encoding="utf-8") as out:
    for row in csv.DictReader(f):
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
