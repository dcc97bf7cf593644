#!/usr/bin/python3
"""An exec function in Python: the request on stdin, its upper-case on stdout.
Deploy:  citadel deploy upper -- /usr/bin/python3 /opt/citadel-examples/upper.py"""
import sys

data = sys.stdin.buffer.read()
sys.stdout.buffer.write(data.upper())
