"""An HTML page rendered with Jinja2.

Deploy and call it:

    citadel deploy page examples/python/page.py
    citadel invoke page --data Ada                      # the page, greeting Ada
    curl 'http://127.0.0.1:8080/function/page?name=Ada'
    curl -d '{"name": "Ada", "items": ["tea", "scones"]}' -H 'Content-Type: application/json' \\
        http://127.0.0.1:8080/function/page

The name comes from the query (`?name=`), else from a JSON request ({"name", "items"}),
else from the body. The template is compiled when the module is imported, which happens
once, in the function's template process: every instance is forked from it with the
compiled template in memory, and a call only renders. Autoescaping is on, so whatever a
caller sends is shown as text, never run as markup (`<script>` arrives as `&lt;script&gt;`).
Over HTTP the page is `text/html; charset=utf-8`; a path under the function other than
`/` is answered 404 with a page saying so.
"""
from urllib.parse import parse_qs

import jinja2

ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
PAGE = ENV.from_string("""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<h1>{{ title }}</h1>
{% if missing %}
<p>Nothing is at <code>{{ missing }}</code>.</p>
{% else %}
<p>Hello, <strong>{{ name }}</strong>!</p>
{% if items %}
<ul>
{% for item in items %}
  <li>{{ item }}</li>
{% endfor %}
</ul>
{% endif %}
{% endif %}
{% if http %}
<table>
  <tr><th>method</th><td>{{ http.method }}</td></tr>
  <tr><th>path</th><td>{{ http.path or "/" }}</td></tr>
  {% for k, v in http.headers | dictsort %}
  <tr><th>{{ k }}</th><td>{{ v }}</td></tr>
  {% endfor %}
</table>
{% endif %}
<footer>{{ function }}, call {{ call_id }}</footer>
</body>
</html>
""")


def handle(event, context):
    http = context.http
    context.content_type_out = "text/html; charset=utf-8"
    if http and http.path not in ("", "/"):
        context.status = 404
        return PAGE.render(title="Not found", missing=http.path, http=http, function=context.function,
                           call_id=context.call_id)
    name, items = "", []
    if isinstance(event, dict):
        name, items = str(event.get("name", "")), [str(i) for i in event.get("items", [])]
    elif isinstance(event, list):
        items = [str(i) for i in event]
    elif event:
        name = bytes(event).decode("utf-8", "replace")
    if http:
        name = parse_qs(http.query).get("name", [name])[0]
    return PAGE.render(title="Citadel page", name=name.strip() or "world", items=items, http=http,
                       function=context.function, call_id=context.call_id)
