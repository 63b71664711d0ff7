#!/usr/bin/env python3
"""Ask counter-service a few questions: client.py PORT REQUEST..."""
import socket
import sys

port = int(sys.argv[1])
with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
    stream = conn.makefile("rw")
    for request in sys.argv[2:]:
        stream.write(request + "\n")
        stream.flush()
        print(f"  {request:<12} -> {stream.readline().strip()}")
    stream.write("quit\n")
    stream.flush()
