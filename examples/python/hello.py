"""Greets the request body: the smallest Python function.

Deploy and call it:

    citadel deploy hello examples/python/hello.py
    citadel invoke hello --data Ada                         # Hello, Ada!
    citadel invoke hello --data '{"name": "Ada"}' --content-type application/json
    curl -d Ada http://127.0.0.1:8080/function/hello         # over HTTP

The body is the name (UTF-8; none: "world"); a JSON request ({"name": ...}) arrives parsed.
Every call writes a line to the function's log (`citadel logs hello`).
"""
import citadel


def handle(event, context):
    if isinstance(event, dict):
        name = str(event.get("name", ""))
    elif isinstance(event, (bytes, bytearray)):
        name = event.decode("utf-8", "replace")
    else:
        name = ""
    name = name.strip() or "world"
    citadel.log(f"call {context.call_id}: greeting {name!r}")
    return f"Hello, {name}!\n"
