"""A JSON transform: order lines in, totals and a grouping by category out.

Deploy and call it:

    citadel deploy orders examples/python/json_transform.py
    citadel invoke orders --content-type application/json --data '{"items": [
        {"name": "tea", "category": "drinks", "price": 3.5, "quantity": 2},
        {"name": "scone", "category": "food", "price": 2.25},
        {"name": "coffee", "category": "drinks", "price": 2.8, "quantity": 3}]}'
    curl -H 'Content-Type: application/json' -d @order.json \\
        http://127.0.0.1:8080/function/orders

Each item has a "name", a "price" (a number, not negative), and optionally a "category"
(default "other") and a "quantity" (a whole number, default 1). The answer (JSON):

    {"items": 3, "quantity": 6, "total": 17.65,
     "by_category": {"drinks": {"items": 2, "quantity": 5, "total": 15.4, "names": ["coffee", "tea"]},
                     "food": {"items": 1, "quantity": 1, "total": 2.25, "names": ["scone"]}},
     "largest": {"name": "coffee", "total": 8.4}}

Amounts are summed as decimals (no 0.1 + 0.2 drift) and rounded to cents. A request that
is not such an order fails the call, saying what is wrong (over HTTP: 500, the message in
the body). Without a JSON content type the body is parsed as JSON all the same.
"""
import json
from decimal import Decimal

CENT = Decimal("0.01")


def money(d):
    return float(d.quantize(CENT))


def line(i, item):
    """(name, category, quantity, line total) of one item, or ValueError."""
    if not isinstance(item, dict):
        raise ValueError(f"items[{i}] is not an object")
    name, price = item.get("name"), item.get("price")
    if not isinstance(name, str) or not name:
        raise ValueError(f"items[{i}] has no name")
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
        raise ValueError(f"items[{i}] ({name}): price is not a number >= 0")
    quantity = item.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
        raise ValueError(f"items[{i}] ({name}): quantity is not a whole number >= 0")
    category = str(item.get("category") or "other")
    return name, category, quantity, Decimal(str(price)) * quantity


def handle(event, context):
    if isinstance(event, (bytes, bytearray)):
        try:
            event = json.loads(event or b"{}")
        except ValueError as e:
            raise ValueError(f"the request is not JSON: {e}") from None
    if not isinstance(event, dict) or not isinstance(event.get("items"), list):
        raise ValueError('the request is not {"items": [...]}')
    groups, total, quantity, largest = {}, Decimal(0), 0, None
    for i, item in enumerate(event["items"]):
        name, category, qty, amount = line(i, item)
        g = groups.setdefault(category, {"items": 0, "quantity": 0, "total": Decimal(0), "names": []})
        g["items"] += 1
        g["quantity"] += qty
        g["total"] += amount
        g["names"].append(name)
        total += amount
        quantity += qty
        if largest is None or amount > largest[1]:
            largest = (name, amount)
    by_category = {c: {**g, "total": money(g["total"]), "names": sorted(g["names"])}
                   for c, g in sorted(groups.items())}
    return {"items": len(event["items"]), "quantity": quantity, "total": money(total),
            "by_category": by_category,
            "largest": {"name": largest[0], "total": money(largest[1])} if largest else None}
